"""Git commit-back: render a branch's current head and push the manifests back (README).

One call, `commit_manifests(request)`, does fetch -> render -> commit -> push with pure-Python
git (dulwich), on an in-memory object store and never a checkout:

1. shallow-fetch (depth 1) the branch's current head;
2. hand a read-only `SourceTree` of it to the caller's renderer;
3. stop with "failed-checks" on any error finding, before anything is written;
4. replace the output subtree (rendered files in, stale generated files out, user files kept);
5. stop with "unchanged" when the tree equals the parent's (idempotency lives in Git);
6. push as a compare-and-swap on the remote ref; when the ref moved, start again from 1.

dulwich is imported inside functions so that importing this module stays cheap for the CLI and
for cold starts that never touch Git. Nothing from dulwich or urllib3 escapes: failures become
`GitError("failed to <step>: <cause>")` with credentials scrubbed.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from wukong_core.errors import GitError, PushRejectedError, UsageError
from wukong_core.findings import Finding, has_errors
from wukong_core.git.tree import SourceTree, replace_output
from wukong_core.marks import DELIVERY_TRAILER, SOURCE_TRAILER

if TYPE_CHECKING:
    from dulwich.client import GitClient
    from dulwich.repo import MemoryRepo

__all__ = [
    "CommitRequest",
    "CommitResult",
    "RenderOutput",
    "Renderer",
    "SourceTree",
    "commit_manifests",
]

_ZERO_SHA = b"0" * 40
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
_HTTP_TIMEOUT_S = 60.0  # a hung server must not hold a serverless instance forever
_AUTHOR_RE = re.compile(r"^[^<>\n]+ <[^<>\n]*>$")
_DELIVERY_RE = re.compile(r"^[\w.:@/+=-]{0,200}$")
# receive-pack's reasons that mean "the ref is not where you thought": fetch and try again.
_MOVED_REASONS = ("failed to update ref", "failed to lock", "cannot lock", "non-fast-forward",
                  "fetch first", "stale info", "incorrect old value")  # fmt: skip


@dataclass(frozen=True)
class RenderOutput:
    output_path: str  # e.g. "rendered/"
    files: dict[str, bytes]  # paths relative to output_path -> bytes
    findings: list[Finding]
    vm_count: int
    output_branch: str | None = None  # None = the branch that was pushed
    # Lines for the commit message's body, one each: what the commit does to data.
    summary: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class CommitResult:
    status: Literal["committed", "unchanged", "failed-checks"]
    source_sha: str  # the head that was rendered (the last attempt's)
    commit_sha: str | None  # the commit pushed, if any
    findings: list[Finding]
    attempts: int
    vm_count: int


def commit_manifests(request: CommitRequest) -> CommitResult:
    """Render the branch's current head and push the result; retry when the ref moves."""
    url, secrets = _check_request(request)
    deadline = time.monotonic() + request.max_seconds
    with _open_client(url, request, secrets, deadline) as remote:
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
    if not request.branch or not check_ref_format(_b(f"refs/heads/{request.branch}")):
        raise UsageError(f"branch {request.branch!r} is not a valid branch name")
    if request.max_attempts < 1:
        raise UsageError("max_attempts must be at least 1")
    if not request.max_seconds > 0:
        raise UsageError("max_seconds must be positive")
    if not _AUTHOR_RE.match(request.author):
        raise UsageError(f"author {request.author!r} must look like 'Name <email>'")
    if not _DELIVERY_RE.match(request.delivery_id):
        raise UsageError("delivery_id must be a short token without spaces or newlines")
    parts = urlsplit(request.repo_url)
    secrets = [s for s in (request.token, parts.password) if s]
    secrets += [unquote(s) for s in secrets]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), secrets


class _Remote:
    """The one remote repository, with credentials kept inside the HTTP client."""

    def __init__(self, client: GitClient, path: str, secrets: list[str]) -> None:
        self.client = client
        self.path = path
        self.secrets = secrets

    def fetch(self, repo: MemoryRepo, branch: str, required: bool) -> str | None:
        """Shallow-fetch the branch head into `repo`; its sha, or None when absent."""
        ref = _b(f"refs/heads/{branch}")

        def wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
            return [refs[ref]] if ref in refs else []

        with _step(f"fetch {branch}", self.secrets):
            result = self.client.fetch(
                self.path, repo, determine_wants=wants, depth=1, ref_prefix=[ref]
            )
        sha = result.refs.get(ref)
        if sha is None and required:
            raise GitError(f"failed to fetch {branch}: no such branch on the remote")
        return sha.decode() if sha else None

    def push(self, repo: MemoryRepo, branch: str, old: str | None, new: str,
             expect: dict[str, str]) -> bool:  # fmt: skip
        """Move the branch from `old` to `new` iff it (and `expect`) still hold; False if moved."""
        ref, messages = _b(f"refs/heads/{branch}"), bytearray()

        def update_refs(refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
            # Checked here, against the refs the server just advertised, because dulwich sends
            # those as the old values: the server's own check then covers only the gap
            # between this advertisement and our POST.
            wanted = {ref: _b(old) if old else _ZERO_SHA}
            wanted |= {_b(f"refs/heads/{r}"): _b(sha) for r, sha in expect.items()}
            if any(refs.get(r, _ZERO_SHA) != sha for r, sha in wanted.items()):
                raise _RefMoved
            return {ref: _b(new)}

        try:
            with _step(f"push {branch}", self.secrets):
                result = self.client.send_pack(
                    self.path, update_refs, repo.generate_pack_data, progress=messages.extend
                )
        except _RefMoved:
            return False
        reason = (result.ref_status or {}).get(ref)
        if reason is None:
            return True
        if any(m in reason for m in _MOVED_REASONS):
            return False
        said = _scrub(messages.decode("utf-8", "replace").strip(), self.secrets)[-1000:]
        raise PushRejectedError(
            f"failed to push {branch}: the server declined ({reason})"
            + (f": {said}" if said else ""),
            retryable=False,
        )


class _RefMoved(Exception):
    """The remote ref is no longer the parent we built on (raised inside update_refs)."""


@contextmanager
def _open_client(
    url: str, request: CommitRequest, secrets: list[str], deadline: float
) -> Iterator[_Remote]:
    from dulwich.client import default_urllib3_manager, get_transport_and_path

    parts = urlsplit(request.repo_url)
    username = request.username or unquote(parts.username or "") or None
    password = request.token or unquote(parts.password or "") or None
    pool: Any = None
    with _step("open repository", secrets):
        if url.startswith(("http://", "https://")):
            pool = default_urllib3_manager(
                None, *_tracking_pools(), base_url=url, timeout=_HTTP_TIMEOUT_S
            )
            pool.deadline = deadline
        client, path = get_transport_and_path(
            url, operation="push", username=username, password=password, pool_manager=pool
        )
    try:
        yield _Remote(client, path, secrets)
    finally:
        if pool is not None:
            pool.close_all()


@cache
def _tracking_pools() -> tuple[type, type]:
    """urllib3 pool classes that remember every response they hand out, and keep time.

    dulwich raises on HTTP 401/404/5xx without closing the response, which leaks its socket
    until garbage collection; closing what we opened when the call ends releases it at once.
    """
    import urllib3

    class Tracking:
        def urlopen(self, *args: Any, **kwargs: Any) -> Any:
            # No call may outlast the delivery's deadline, however many came before it.
            left = min(_HTTP_TIMEOUT_S, self.__dict__.get("deadline", math.inf) - time.monotonic())
            if left <= 0:
                raise urllib3.exceptions.TimeoutError("the delivery ran out of time")
            kwargs["timeout"] = urllib3.Timeout(connect=left, read=left)
            response = super().urlopen(*args, **kwargs)  # type: ignore[misc]
            self.__dict__.setdefault("opened", []).append(response)
            return response

        def close_all(self) -> None:
            for response in self.__dict__.pop("opened", []):
                response.close()
            self.clear()  # type: ignore[attr-defined]

    pool = type("TrackingPoolManager", (Tracking, urllib3.PoolManager), {})
    proxy = type("TrackingProxyManager", (Tracking, urllib3.ProxyManager), {})
    return pool, proxy


def _attempt(remote: _Remote, request: CommitRequest, attempt: int) -> CommitResult | None:
    """One fetch-render-push round; None when the remote ref moved and we must start again."""
    from dulwich.repo import MemoryRepo

    repo = MemoryRepo()  # fresh per attempt: nothing stale can leak into a retry
    source_sha = remote.fetch(repo, request.branch, required=True)
    assert source_sha is not None
    # Each branch is fetched once per attempt: the output branch the renderer reads (what its
    # render replaces) is the very head the push then compares and swaps.
    heads: dict[str, str | None] = {request.branch: source_sha}

    def head(branch: str) -> str | None:
        if branch not in heads:
            heads[branch] = remote.fetch(repo, branch, required=False)
        return heads[branch]

    def tree_of(branch: str) -> SourceTree | None:
        sha = head(branch)
        if sha is None:
            return None
        return SourceTree(sha, repo.object_store, repo[_b(sha)].tree, tree_of)

    source = tree_of(request.branch)
    assert source is not None
    out = request.renderer(source)

    def result(status: Any, commit: str | None = None) -> CommitResult:
        return CommitResult(status, source_sha, commit, list(out.findings), attempt, out.vm_count)

    if has_errors(out.findings):
        return result("failed-checks")
    target = out.output_branch or request.branch
    # The ref we compare-and-swap: the source head itself, or the output branch (maybe absent).
    target_head = head(target)
    parent = target_head or source_sha  # a new output branch starts from the source commit
    parent_tree = repo[_b(parent)].tree
    with _step("build tree", remote.secrets):
        tree = replace_output(repo.object_store, parent_tree, out.output_path, out.files)
    if tree == parent_tree and target_head is not None:
        return result("unchanged")
    new = _write_commit(repo, request, source_sha, tree, parent, out)
    # A separate output branch must not get a render of specs that moved on meanwhile.
    expect = {} if target == request.branch else {request.branch: source_sha}
    if not remote.push(repo, target, target_head, new, expect):
        return None
    return result("committed", new)


def _write_commit(repo: MemoryRepo, request: CommitRequest, source_sha: str, tree: bytes,
                  parent: str, out: RenderOutput) -> str:  # fmt: skip
    from dulwich.objects import Commit

    commit = Commit()
    commit.tree = tree
    commit.parents = [_b(parent)]
    commit.author = commit.committer = _b(request.author)
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = _b(_message(source_sha, out.vm_count, request.delivery_id, out.summary))
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
    # Exactly the README's form, "1 VMs" included: CI scripts match on it.
    head = f"wukong: render {vm_count} VMs from {source_sha[:7]}"
    # One line each, so `git log` lists them and no line break can start a paragraph.
    body = "".join(" ".join(line.splitlines()) + "\n" for line in summary if line.strip())
    return head + "\n\n" + (body + "\n" if body else "") + "\n".join(trailers) + "\n"


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _wrap(step: str, e: BaseException, secrets: list[str]) -> GitError:
    """A library failure as GitError("failed to <step>: <cause>"); retryable if it may pass.

    The cause is a short sentence a person acts on, never the library's own text: urllib3's
    carries the pool, the URL and any proxy's address, and none of it helps the reader."""
    cause, retryable = _cause(_chain(e))
    return GitError(f"failed to {step}: {_scrub(cause, secrets)}", retryable=retryable)


_AGAIN = "; redeliver to retry"
_HTTP_STATUS = re.compile(r"^unexpected http resp (\d{3}) ")


def _chain(e: BaseException) -> list[BaseException]:
    """`e` and what it wraps: dulwich raises GitProtocolError from urllib3's error, urllib3's
    MaxRetryError holds the last attempt's error as `reason`, a ProxyError the proxy's."""
    chain: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        inner = getattr(current, "reason", None) or getattr(current, "original_error", None)
        if not isinstance(inner, BaseException) and len(current.args) > 1:
            inner = current.args[-1]  # ProxyError(message, error)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return chain


def _cause(chain: list[BaseException]) -> tuple[str, bool]:
    """(a short cause, whether trying again may help) for a chain of library errors."""
    import urllib3.exceptions as u3
    from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized
    from dulwich.errors import NotGitRepository

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(x, types) for x in chain)

    status = next((m for x in chain if (m := _HTTP_STATUS.match(str(x)))), None)
    if has(HTTPUnauthorized):
        return "authentication failed: the Git server refused the credentials (HTTP 401)", False
    if has(HTTPProxyUnauthorized):
        return "authentication failed at the HTTP proxy (HTTP 407)", False
    if status is not None and status[1] == "403":
        return "authentication failed: the Git server denied access (HTTP 403)", False
    if has(NotGitRepository):
        return "no Git repository at that URL", False
    if status is not None:
        code = int(status[1])
        return f"the Git server answered HTTP {code}" + (_AGAIN if code >= 500 else ""), code >= 500
    if has(u3.ProxyError):
        return "could not reach the Git server through the HTTP proxy" + _AGAIN, True
    if has(u3.NameResolutionError):
        return "could not reach the Git server: its name does not resolve" + _AGAIN, True
    if has(u3.SSLError):
        return "could not reach the Git server: the TLS handshake failed", False
    if has(u3.NewConnectionError, u3.ConnectTimeoutError, ConnectionRefusedError):
        return "could not reach the Git server" + _AGAIN, True
    if has(u3.TimeoutError, TimeoutError):
        return "the Git server did not answer in time" + _AGAIN, True
    if has(ConnectionError, u3.ProtocolError):
        return "the Git server closed the connection before answering" + _AGAIN, True
    return f"the Git server's answer could not be read ({type(chain[0]).__name__})" + _AGAIN, True


def _scrub(text: str, secrets: list[str]) -> str:
    text = re.sub(r"(\w+://)[^/@\s]*@", r"\1", text)  # userinfo in any URL
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@contextmanager
def _step(name: str, secrets: list[str]) -> Iterator[None]:
    """Turn library and network failures inside the block into a scrubbed GitError."""
    import urllib3.exceptions
    from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized
    from dulwich.errors import (
        ChecksumMismatch,
        FileFormatException,
        GitProtocolError,
        NotGitRepository,
        ObjectMissing,
    )

    try:
        yield
    except (GitProtocolError, NotGitRepository, HTTPUnauthorized, HTTPProxyUnauthorized,
            ChecksumMismatch, FileFormatException, ObjectMissing, urllib3.exceptions.HTTPError,
            OSError) as e:  # fmt: skip
        raise _wrap(name, e, secrets) from e
