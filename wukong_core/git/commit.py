"""Git commit-back: render a branch's current head and push the manifests back (README).

One call, `commit_manifests(request)`, does fetch -> render -> commit -> push with pure-Python
git (dulwich), on an in-memory object store and never a checkout:

1. shallow-fetch (depth 1) the branch's current head;
2. hand a read-only `SourceTree` of it to the caller's renderer (a partial clone where the
   server allows: trees first, file contents fetched as the renderer reads them);
3. stop with "failed-checks" on any error finding, before anything is written;
4. replace the output subtree (rendered files in, stale generated files out, user files kept);
5. stop with "unchanged" when the tree equals the parent's (idempotency lives in Git);
6. push as a compare-and-swap on the remote ref; when the ref moved, start again from 1.

In pull-request mode (`RenderOutput.mode`), step 6 proposes the render instead: the bot branch
and one pull request, never a write to the branch itself (propose.py).

dulwich is imported inside functions so that importing this module stays cheap for the CLI and
for cold starts that never touch Git. Nothing from dulwich or urllib3 escapes: failures become
`GitError("failed to <step>: <cause>")` with credentials scrubbed.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from wukong_core.errors import GitError, PushRejectedError, UsageError
from wukong_core.findings import Finding, has_errors
from wukong_core.git.failures import step
from wukong_core.git.hosts import GitHost
from wukong_core.git.propose import Draft, Proposal, propose
from wukong_core.git.remote import Remote, open_remote
from wukong_core.git.tree import SourceTree, git_bytes, replace_output
from wukong_core.marks import DELIVERY_TRAILER, SOURCE_TRAILER, render_source, render_title

if TYPE_CHECKING:
    from dulwich.repo import MemoryRepo

__all__ = [
    "CommitRequest",
    "CommitResult",
    "RenderOutput",
    "Renderer",
    "SourceTree",
    "commit_manifests",
]

_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
AUTHOR = re.compile(r"[^<>\n]+ <[^<>\n]*>")  # what a Git author line needs: `Name <email>`
_DELIVERY_RE = re.compile(r"^[\w.:@/+=-]{0,200}$")


@dataclass(frozen=True)
class RenderOutput:
    output_path: str  # e.g. "rendered/"
    files: dict[str, bytes]  # paths relative to output_path -> bytes
    findings: list[Finding]
    vm_count: int
    output_branch: str | None = None  # None = the branch that was pushed
    # Lines for the commit message's body, one each: what the commit does to data.
    summary: tuple[str, ...] = ()
    mode: str = "push"  # or "pull-request": propose the render (.wukong.yaml mode)
    # Files kept exactly as the output folder holds them: path -> Git blob id (no bytes).
    kept: dict[str, str] = field(default_factory=dict)


Renderer = Callable[[SourceTree], RenderOutput]


@dataclass(frozen=True)
class CommitRequest:
    repo_url: str
    branch: str
    renderer: Renderer
    delivery_id: str = ""
    author: str = "Wukong <wukong@localhost>"
    username: str | None = None
    token: str | None = None
    max_attempts: int = 8  # within GitHub's 10 s: ~3.5 s of backoff at most, plus the attempts
    # The whole delivery, every attempt and HTTP call included: a slow or hung Git host must
    # not hold a serverless instance until the platform kills it without a JSON answer.
    max_seconds: float = 60.0
    host: GitHost | None = None  # the host's API, which pull-request mode needs


@dataclass(frozen=True)
class CommitResult:
    status: Literal["committed", "proposed", "unchanged", "failed-checks"]
    source_sha: str  # the head that was rendered (the last attempt's)
    commit_sha: str | None  # the commit pushed (pull-request mode: to the bot branch), if any
    findings: list[Finding]
    attempts: int
    vm_count: int
    # The commit whose specs were rendered: `source_sha`, or, when that head is Wukong's own
    # render commit (a late delivery), the commit it rendered, whose specs it holds.
    specs_sha: str
    proposal: Proposal | None = None  # pull-request mode: what became of its request


def commit_manifests(request: CommitRequest) -> CommitResult:
    """Render the branch's current head and push the result; retry when the ref moves."""
    url, secrets = _check_request(request)
    deadline = time.monotonic() + request.max_seconds
    parts = urlsplit(request.repo_url)
    username = request.username or unquote(parts.username or "") or None
    password = request.token or unquote(parts.password or "") or None
    with open_remote(url, username, password, secrets, deadline) as remote:
        for attempt in range(1, request.max_attempts + 1):
            result = _attempt(remote, request, attempt)
            if result is not None:
                return result
            pause = _backoff(attempt)
            if attempt == request.max_attempts or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    raise PushRejectedError(
        f"failed to push: refs/heads/{request.branch} kept moving; "
        f"gave up after {attempt} attempts",
        retryable=True,
    )


def _backoff(attempt: int) -> float:
    # Jitter spreads out instances that collided on the same push.
    return min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _check_request(request: CommitRequest) -> tuple[str, list[str]]:
    """Validate what the caller sent; return the URL without userinfo and the secrets."""
    from dulwich.refs import check_ref_format

    if not request.repo_url:
        raise UsageError("repo_url is required")
    if not request.branch or not check_ref_format(git_bytes(f"refs/heads/{request.branch}")):
        raise UsageError(f"branch {request.branch!r} is not a valid branch name")
    if request.max_attempts < 1:
        raise UsageError("max_attempts must be at least 1")
    if not request.max_seconds > 0:
        raise UsageError("max_seconds must be positive")
    if not AUTHOR.fullmatch(request.author):
        raise UsageError(f"author {request.author!r} must look like 'Name <email>'")
    if not _DELIVERY_RE.match(request.delivery_id):
        raise UsageError("delivery_id must be a short token without spaces or newlines")
    parts = urlsplit(request.repo_url)
    secrets = [s for s in (request.token, parts.password) if s]
    secrets += [unquote(s) for s in secrets]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), secrets


def _attempt(remote: Remote, request: CommitRequest, attempt: int) -> CommitResult | None:
    """One fetch-render-push round; None when the remote ref moved and we must start again."""
    from dulwich.repo import MemoryRepo

    repo = MemoryRepo()  # fresh per attempt: nothing stale can leak into a retry
    source_sha = remote.fetch(repo, request.branch, required=True)
    # Each branch is fetched once per attempt: the output branch the renderer reads (what its
    # render replaces) is the very head the push then compares and swaps.
    heads: dict[str, str | None] = {request.branch: source_sha}

    def head(branch: str) -> str | None:
        if branch not in heads:
            heads[branch] = remote.fetch(repo, branch, required=False)
        return heads[branch]

    def fetch_blobs(blobs: list[bytes]) -> None:
        remote.fetch_blobs(repo, blobs)

    def tree_at(sha: str) -> SourceTree:
        return SourceTree(sha, repo.object_store, repo[git_bytes(sha)].tree, tree_of, fetch_blobs)

    def tree_of(branch: str) -> SourceTree | None:
        sha = head(branch)
        return None if sha is None else tree_at(sha)

    out = request.renderer(tree_at(source_sha))

    def result(status: Any, commit: str | None = None, proposal: Proposal | None = None
               ) -> CommitResult:  # fmt: skip
        return CommitResult(status, source_sha, commit, list(out.findings), attempt,
                            out.vm_count, _specs_of(repo, source_sha), proposal)  # fmt: skip

    if has_errors(out.findings):
        return result("failed-checks")
    target = out.output_branch or request.branch
    # The ref we compare-and-swap: the source head itself, or the output branch (maybe absent).
    target_head = head(target)
    parent = target_head or source_sha  # a new output branch starts from the source commit
    parent_tree = repo[git_bytes(parent)].tree
    with step("build tree", remote.secrets):
        tree = replace_output(
            repo.object_store, parent_tree, out.output_path, out.files, out.kept, fetch_blobs
        )
    if out.mode == "pull-request":
        if target_head is None:
            raise GitError(
                f"failed to propose the render: the output branch {target} does not exist, so "
                f"no pull request can go into it; create it (from {request.branch}, say) and "
                "push again"
            )

        def write() -> str:
            return _write_commit(repo, request, source_sha, tree, parent, out)

        done = propose(Draft(remote, repo, request.host, request.branch, source_sha, target,
                             target_head, tree, out.output_path, out.vm_count,
                             out.findings, head, fetch_blobs, write))  # fmt: skip
        if done is None:
            return None  # a ref moved: render the new head
        commit, proposal = done
        proposed = proposal.action not in ("closed", "none")
        return result("proposed" if proposed else "unchanged", commit, proposal)
    if tree == parent_tree and target_head is not None:
        return result("unchanged")
    new = _write_commit(repo, request, source_sha, tree, parent, out)
    # A separate output branch must not get a render of specs that moved on meanwhile.
    expect = {} if target == request.branch else {request.branch: source_sha}
    if not remote.push(repo, target, target_head, new, expect):
        return None
    return result("committed", new)


def _specs_of(repo: MemoryRepo, sha: str) -> str:
    """`sha`, or the commit it renders when it is a render commit on top of that one."""
    commit: Any = repo[git_bytes(sha)]
    source = render_source(commit.message.decode("utf-8", "replace"))
    return source if source and commit.parents[:1] == [git_bytes(source)] else sha


def _write_commit(repo: MemoryRepo, request: CommitRequest, source_sha: str, tree: bytes,
                  parent: str, out: RenderOutput) -> str:  # fmt: skip
    from dulwich.objects import Commit

    commit = Commit()
    commit.tree = tree
    commit.parents = [git_bytes(parent)]
    commit.author = commit.committer = git_bytes(request.author)
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = git_bytes(_message(source_sha, out.vm_count, request.delivery_id, out.summary))
    repo.object_store.add_object(commit)
    return commit.id.decode()


def _message(
    source_sha: str, vm_count: int, delivery_id: str, summary: tuple[str, ...] = ()
) -> str:
    """`wukong: render N VMs from <short sha>`, a blank line, the summary's lines (if any) and
    a blank line, then the trailers, which stay the last paragraph."""
    trailers = [f"{SOURCE_TRAILER}: {source_sha}"]
    if delivery_id:
        trailers.append(f"{DELIVERY_TRAILER}: {delivery_id}")
    head = render_title(vm_count, source_sha)
    # One line each, so `git log` lists them and no line break can start a paragraph.
    body = "".join(" ".join(line.splitlines()) + "\n" for line in summary if line.strip())
    return head + "\n\n" + (body + "\n" if body else "") + "\n".join(trailers) + "\n"
