"""Pull-request mode (`.wukong.yaml mode: pull-request`): propose a render instead of pushing it.

The render of branch B's head is committed on top of the head of the branch it is for (B, or
`outputBranch`: call it T) to the bot branch `wukong/render-T`, and one pull request (GitLab:
merge request) `wukong/render-T` -> T is opened, or the open one updated. T is never written:
its reviewers merge the render, and that push of T renders to exactly what T then holds, so it
proposes nothing (the loop closes). A render that changes nothing against T closes the open
request with a comment and deletes the bot branch.

The bot owns its branch: each render replaces it. Any number of deliveries may run at once, so
every write is a compare-and-swap and every round ends by reading the refs again:

1. look up the open request (a refusal here has written nothing);
2. when the bot branch does not hold this very render (on T's head, from B's head), write it
   and move the bot branch from the head read, expecting B and T where they were: a newer
   render landed meanwhile -> start again (commit.py re-renders B's head);
3. open or update the request (or, with nothing to render, comment, close, delete the branch);
4. when it wrote anything, read B, T and the bot branch again: moved -> start again, so the
   request's text always describes the newest render, whichever delivery writes last.

A refused call after the bot branch moved undoes the move (the branch goes back to the render
its open request describes, or is deleted when no request is open), so no bot branch is left
without its request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from wukong_core.errors import GitError, HostError
from wukong_core.findings import Finding
from wukong_core.git.hosts import GitHost, PullRequest
from wukong_core.git.remote import Remote
from wukong_core.git.tree import SourceTree, git_bytes
from wukong_core.marks import BOT_PREFIX, render_source, render_title
from wukong_core.render.changes import changes, vm_summary
from wukong_core.report import text_line

if TYPE_CHECKING:
    from dulwich.repo import MemoryRepo

Action = Literal["opened", "updated", "unchanged", "closed", "none"]
_SHOWN = 200  # VMs or warnings listed per section; a body must stay under GitHub's 65,536


@dataclass(frozen=True)
class Proposal:
    """What pull-request mode did: `opened`, `updated` or left `unchanged` the request of a
    render; `closed` it, or found `none` to close, when there was nothing to render."""

    action: Action
    branch: str  # the bot branch
    base: str  # the branch the request goes into
    number: int = 0  # 0: no request
    url: str = ""
    ref: str = ""  # how the web UI names it: #12, !12


@dataclass(frozen=True)
class Draft:
    """One round's render, ready to be proposed (commit.py builds it)."""

    remote: Remote
    repo: MemoryRepo
    host: GitHost | None
    branch: str  # B, the pushed branch
    source_sha: str  # B's head, rendered
    target: str  # T: B, or outputBranch
    target_head: str  # T's head (commit.py refuses a T that does not exist)
    tree: bytes  # T's tree with the output folder replaced by the render
    output_path: str
    vm_count: int
    findings: list[Finding]
    fetch: Callable[[str], str | None]  # another branch's head, fetched into `repo`
    fetch_blobs: Callable[[list[bytes]], None]  # blobs a partial clone left out, into `repo`
    write: Callable[[], str]  # writes the render commit on T's head; its sha


def propose(d: Draft) -> tuple[str | None, Proposal] | None:
    """(the bot branch's new head if this round moved it, what was done); None when a ref
    moved meanwhile and the round must start again."""
    if d.host is None:
        raise GitError(
            "failed to propose the render: mode: pull-request needs the Git host's API; set "
            "WUKONG_STATUS_TOKEN or WUKONG_GIT_TOKEN to a token that may open pull requests"
        )
    bot = BOT_PREFIX + d.target
    if d.tree == _tree(d, d.target_head):  # only the bot branch's name is needed, not its commit
        bot_head = d.remote.heads([bot])[bot]
        return _withdraw(d, d.host, bot, bot_head, d.host.find_pull_request(bot, d.target))
    bot_head = d.fetch(bot)
    return _offer(d, d.host, bot, bot_head, d.host.find_pull_request(bot, d.target))


def _withdraw(d: Draft, host: GitHost, bot: str, bot_head: str | None,
              found: PullRequest | None) -> tuple[None, Proposal] | None:  # fmt: skip
    """Nothing to render: close the open request (its reason first), delete the bot branch."""
    if found is not None:
        host.close_pull_request(found.number, _closing(d, bot))
    if bot_head is not None and not d.remote.push(d.repo, bot, bot_head, None, _expect(d)):
        return None
    wrote = found is not None or bot_head is not None
    if wrote and _moved(d, bot, None):
        return None
    return None, _proposal(d, host, "closed" if found else "none", bot, found)


def _offer(d: Draft, host: GitHost, bot: str, bot_head: str | None,
           found: PullRequest | None) -> tuple[str | None, Proposal] | None:  # fmt: skip
    """A render to review: the bot branch holds it, one open request describes it."""
    new, pushed = bot_head, False
    if not _holds(d, bot_head):
        new, pushed = d.write(), True
        fix = (f"let the token push and force-push {BOT_PREFIX}* branches",
               f"allow the token to force-push {BOT_PREFIX}*")  # fmt: skip
        if not d.remote.push(d.repo, bot, bot_head, new, _expect(d), fix):
            return None
    title, body = render_title(d.vm_count, d.source_sha), _body(d, host, bot)
    try:
        if found is None:
            request, fresh = host.open_pull_request(bot, d.target, title, body)
            action: Action = "opened" if fresh else "updated"
        elif (found.title, _text(found.body)) != (title, _text(body)):
            request, action = host.update_pull_request(found.number, title, body), "updated"
        else:
            request, action = found, "updated" if pushed else "unchanged"
    except HostError as e:
        try:
            raced = _moved(d, bot, new)
        except GitError:
            raced = False  # the refusal is the news; _undone says what became of the branch
        if raced:
            return None  # a newer delivery raced this one: its render and request win
        raise _undone(d, e, bot, new, bot_head if found else None) from e
    # Only a round that wrote something can have left something stale behind.
    if action != "unchanged" and _moved(d, bot, new):
        return None
    return (new if pushed else None), _proposal(d, host, action, bot, request)


def _holds(d: Draft, bot_head: str | None) -> bool:
    """Does the bot branch hold this very render: T's head + this tree, from B's head?"""
    if bot_head is None:
        return False
    commit: Any = d.repo[git_bytes(bot_head)]
    return (
        commit.parents == [git_bytes(d.target_head)]
        and commit.tree == d.tree
        and render_source(commit.message.decode("utf-8", "replace")) == d.source_sha
    )


def _differing(d: Draft, output: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The output folder's files that differ between T's head and the render (before, after):
    found by blob id, so the files a render kept as they were (never fetched into a partial
    clone) are neither read nor taken for removed."""
    store = d.repo.object_store
    before = SourceTree(d.target_head, store, _tree(d, d.target_head), _fetch=d.fetch_blobs)
    after = SourceTree(d.source_sha, store, d.tree, _fetch=d.fetch_blobs)
    old, new = before.ids_under(output), after.ids_under(output)
    moved = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}

    def read(ids: dict[str, str], tree: SourceTree) -> dict[str, bytes]:
        data = tree.read_blobs([ids[p] for p in moved if p in ids])
        return {p.removeprefix(output): data[ids[p]] for p in moved if p in ids}

    return read(old, before), read(new, after)


def _text(body: str) -> str:
    """A body as compared: hosts may store line breaks as CRLF."""
    return body.replace("\r\n", "\n").strip()


def _tree(d: Draft, sha: str) -> bytes:
    commit: Any = d.repo[git_bytes(sha)]
    return bytes(commit.tree)


def _expect(d: Draft) -> dict[str, str]:
    """Where B and T must still be for this round's render to be the newest."""
    return {d.branch: d.source_sha, d.target: d.target_head}


def _moved(d: Draft, bot: str, bot_head: str | None) -> bool:
    """Did B, T or the bot branch move since this round read (or wrote) them?"""
    now = d.remote.heads(list(dict.fromkeys([d.branch, d.target, bot])))
    return now != {d.branch: d.source_sha, d.target: d.target_head, bot: bot_head}


def _undone(d: Draft, e: HostError, bot: str, new: str | None, back: str | None) -> HostError:
    """`e`, once the bot branch is back where its open request expects it (`back`), or
    deleted when no request is open: never a bot branch without its request."""
    if new == back:
        return e
    what = f"{bot} was reset to the render its open request shows" if back else \
        f"{bot} was deleted again, so no branch is left without its request"  # fmt: skip
    try:
        if not d.remote.push(d.repo, bot, new, back, {}, held=True):
            what = f"{bot} had moved on (a newer delivery), so it was left as it is"
    except GitError as undo:
        what = f"{bot} could not be {'reset' if back else 'deleted'} ({undo}): delete it by hand"
    return HostError(f"{e}; {what}", e.status, e.summary)


def _proposal(d: Draft, host: GitHost, action: Action, bot: str,
              request: PullRequest | None) -> Proposal:  # fmt: skip
    if request is None:
        return Proposal(action, bot, d.target)
    return Proposal(action, bot, d.target, request.number, request.url, host.ref(request.number))


def _body(d: Draft, host: GitHost, bot: str) -> str:
    """What merging changes (VMs added, changed, removed), every warning, the source commit."""
    output = d.output_path.strip("/") + "/"
    vms = vm_summary(changes(*_differing(d, output)))
    lines = [
        f"Wukong rendered `{d.branch}` at [`{d.source_sha[:7]}`]({host.commit_url(d.source_sha)})"
        f" into `{output}`. Merging this request is how the manifests reach `{d.target}`.",
        "",
        "### VMs",
    ]
    for kind in ("added", "changed", "removed"):
        if vms[kind]:
            lines.append(f"- {kind}: " + _listed([f"`{vm}`" for vm in vms[kind]], ", "))
    if not any(vms.values()):
        lines.append("- none added, changed or removed: only other generated files change")
    warnings = [text_line(f) for f in d.findings if f.severity == "warning"]
    lines += ["", "### Warnings"]
    lines += [f"- {w}" for w in warnings[:_SHOWN]] or ["- none"]
    if len(warnings) > _SHOWN:
        lines.append(f"- … and {len(warnings) - _SHOWN} more")
    lines += [
        "",
        f"Source commit: {d.source_sha}",
        "",
        "---",
        f"Wukong resets `{bot}` to each new render of `{d.branch}` and closes this request "
        f"when there is nothing left to render; changes pushed to `{bot}` are overwritten.",
    ]
    return "\n".join(lines) + "\n"


def _listed(items: list[str], sep: str) -> str:
    shown = sep.join(items[:_SHOWN])
    return shown + (f"{sep}… and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _closing(d: Draft, bot: str) -> str:
    return (
        f"Wukong closed this request: `{d.branch}` at {d.source_sha[:7]} renders to exactly "
        f"what `{d.target}` holds, so there is nothing left to merge. `{bot}` is deleted; the "
        "next change gets a new request."
    )
