"""The one remote repository of a delivery: shallow fetch and compare-and-swap push, over
dulwich's HTTP client with the credentials kept inside it and one deadline for every call."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

from wukong_core.errors import GitError, PushRejectedError
from wukong_core.git.failures import scrub, step
from wukong_core.git.tree import git_bytes
from wukong_core.outbound import read_by

if TYPE_CHECKING:
    from dulwich.client import GitClient
    from dulwich.repo import MemoryRepo

ZERO_SHA = b"0" * 40
HTTP_TIMEOUT_S = 60.0  # a hung server must not hold a serverless instance forever


class Remote:
    """The one remote repository, with credentials kept inside the HTTP client."""

    def __init__(self, client: GitClient, path: str, secrets: list[str]) -> None:
        self.client = client
        self.path = path
        self.secrets = secrets

    @overload
    def fetch(self, repo: MemoryRepo, branch: str, required: Literal[True]) -> str: ...

    @overload
    def fetch(self, repo: MemoryRepo, branch: str, required: bool) -> str | None: ...

    def fetch(self, repo: MemoryRepo, branch: str, required: bool) -> str | None:
        """Shallow-fetch the branch head into `repo`; its sha, or None when absent.

        Without its blobs where the server can filter (a partial clone, `blob:none`: GitHub,
        GitLab and Gitea can; git protocol v2 only): a render needs the trees and a few files,
        and `fetch_blobs` brings those. A server that cannot filter sends every blob."""
        ref = git_bytes(f"refs/heads/{branch}")

        def wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
            return [refs[ref]] if ref in refs else []

        with step(f"fetch {branch}", self.secrets), _quiet_filter_warning():
            result = self.client.fetch(
                self.path,
                repo,
                determine_wants=wants,
                depth=1,
                ref_prefix=[ref],
                filter_spec=b"blob:none",
            )
        sha = result.refs.get(ref)
        if sha is None and required:
            raise GitError(f"failed to fetch {branch}: no such branch on the remote")
        return sha.decode() if sha else None

    def heads(self, branches: list[str]) -> dict[str, str | None]:
        """Where each branch is now (None: absent), read in one request."""
        refs = [git_bytes(f"refs/heads/{b}") for b in branches]
        with step("read " + ", ".join(branches), self.secrets):
            now = self.client.get_refs(self.path, ref_prefix=refs).refs
        return {b: (now[r].decode() if now.get(r) else None)
                for b, r in zip(branches, refs, strict=True)}  # fmt: skip

    def fetch_blobs(self, repo: MemoryRepo, blobs: list[bytes]) -> None:
        """Bring these blobs, which a filtered fetch left out, into `repo`: one request.

        Only ever needed after a filtered fetch, so the server speaks protocol v2, where a
        fetch may want any object by id (gitprotocol-v2: "Wants can be anything and are not
        limited to advertised objects"). No "have" lines: the server would walk every tree
        of the commit they name just to leave out objects that a blob never contains.
        """
        from io import BytesIO

        pack = BytesIO()
        with step("fetch files", self.secrets):
            self.client.fetch_pack(
                self.path,
                lambda refs, depth=None: blobs,
                _NoHaves(),
                pack.write,
                ref_prefix=[b"HEAD"],
            )
            repo.object_store.add_thin_pack(BytesIO(pack.getvalue()).read, None)  # type: ignore[attr-defined]
        missing = [blob for blob in blobs if blob not in repo.object_store]
        if missing:
            raise GitError(f"failed to fetch files: the server sent no {missing[0].decode()}")

    def push(self, repo: MemoryRepo, branch: str, old: str | None, new: str | None,
             expect: dict[str, str], fix: tuple[str, str] = ("", ""),
             held: bool = False) -> bool:  # fmt: skip
        """Move the branch from `old` to `new` (None: delete it) iff it (and `expect`) still
        hold; False if moved. `fix`: what to change when the server declines it for good, in
        a sentence and in a few words. `held`: the server holds every object of `new` (a
        branch put back where it just was), so none is sent: a partial clone lacks the blobs
        of a commit it never read, and git's connectivity check proves them there."""
        ref, messages = git_bytes(f"refs/heads/{branch}"), bytearray()
        # What the refs must still be: the branch at `old` (absent: ZERO_SHA), and `expect`.
        wanted = {ref: git_bytes(old) if old else ZERO_SHA}
        wanted |= {git_bytes(f"refs/heads/{r}"): git_bytes(sha) for r, sha in expect.items()}

        def update_refs(refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
            # Checked here, against the refs the server just advertised, because dulwich sends
            # those as the old values: the server's own check then covers only the gap
            # between this advertisement and our POST.
            if any(refs.get(r, ZERO_SHA) != sha for r, sha in wanted.items()):
                raise RefMoved
            return {ref: git_bytes(new) if new else ZERO_SHA}

        try:
            with step(f"push {branch}", self.secrets):
                result = self.client.send_pack(
                    self.path, update_refs, _nothing if held else _added_by(repo),
                    progress=messages.extend,
                )  # fmt: skip
        except RefMoved:
            return False
        reason = (result.ref_status or {}).get(ref)
        if reason is None:
            return True
        # Servers word a lost race in many ways ("failed to update ref", "stale info", a
        # hook's own text...), so the words decide nothing: the refs do. Moved: start again.
        held_still = {branch: old} | expect
        if self.heads(list(held_still)) != held_still:
            return False
        said = scrub(messages.decode("utf-8", "replace").strip(), self.secrets)[-1000:]
        told, short = fix
        if not told:
            told = (
                f"let the token push to {branch}, or set outputBranch in .wukong.yaml to a branch "
                "it may write, or set mode: pull-request to propose renders instead"
            )
            short = "allow the token to push, or set outputBranch"
        raise PushRejectedError(
            f"failed to push {branch}: the server declined the push ({reason}) while {branch} "
            "stayed where it was, so trying again cannot help"
            + (f"; the server said: {said}" if said else "")
            + f". {branch} is protected or a server hook refuses Wukong's commits: {told}",
            retryable=False,
            summary=f"push to {branch} declined (protected branch or hook): {short}",
        )


class RefMoved(Exception):
    """The remote ref is no longer the parent we built on (raised inside update_refs)."""


class _NoHaves:
    """A graph walker with nothing to offer: the blobs wanted are all we lack."""

    shallow: set[bytes] = set()

    def next(self) -> None:
        return None

    __next__ = next

    def ack(self, sha: bytes) -> None:
        pass

    def nak(self) -> None:
        pass


@contextmanager
def _quiet_filter_warning() -> Iterator[None]:
    """dulwich logs a warning on every fetch from a server that cannot filter; such a server
    simply sends everything, which is fine, so one warning per delivery would only be noise."""
    import logging

    def not_filtering(record: logging.LogRecord) -> bool:
        return "object filtering not recognized" not in record.getMessage()

    logger = logging.getLogger("dulwich.client")
    logger.addFilter(not_filtering)
    try:
        yield
    finally:
        logger.removeFilter(not_filtering)


@contextmanager
def open_remote(
    url: str, username: str | None, password: str | None, secrets: list[str], deadline: float
) -> Iterator[Remote]:
    """The remote at `url` (no userinfo in it), with the credentials kept inside its client;
    no HTTP call outlasts `deadline` (time.monotonic)."""
    from dulwich.client import default_urllib3_manager, get_transport_and_path

    pool: Any = None
    with step("open repository", secrets):
        if url.startswith(("http://", "https://")):
            pool = default_urllib3_manager(
                None, *_tracking_pools(), base_url=url, timeout=HTTP_TIMEOUT_S
            )
            pool.deadline = deadline
        client, path = get_transport_and_path(
            url, operation="push", username=username, password=password, pool_manager=pool
        )
    try:
        yield Remote(client, path, secrets)
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
            # No call may outlast the delivery's deadline, however many came before it, nor
            # its answer, however slowly a server sends it (dulwich reads with `read`).
            deadline = self.__dict__.get("deadline", math.inf)
            left = min(HTTP_TIMEOUT_S, deadline - time.monotonic())
            if left <= 0:
                raise urllib3.exceptions.TimeoutError("the delivery ran out of time")
            kwargs["timeout"] = urllib3.Timeout(connect=left, read=left)
            response = super().urlopen(*args, **kwargs)  # type: ignore[misc]
            response.read = read_by(response, deadline)
            self.__dict__.setdefault("opened", []).append(response)
            return response

        def close_all(self) -> None:
            for response in self.__dict__.pop("opened", []):
                response.close()
            self.clear()  # type: ignore[attr-defined]

    pool = type("TrackingPoolManager", (Tracking, urllib3.PoolManager), {})
    proxy = type("TrackingProxyManager", (Tracking, urllib3.ProxyManager), {})
    return pool, proxy


def _nothing(have: Any, want: Any, **kwargs: Any) -> tuple[int, Iterator[Any]]:
    """An empty pack: what `push(held=True)` sends."""
    return 0, iter(())


def _added_by(repo: MemoryRepo) -> Callable[..., tuple[int, Iterator[Any]]]:
    """The pack of a push: what the new commit adds to its first parent, which the server
    holds (the branch's old head, or the branch it starts from). Found by comparing the two
    trees and descending only into subtrees that differ, so its cost follows the change, not
    the repository: dulwich's own walk visits every tree of the parent to learn what the
    server has. Anything else (no such parent) takes dulwich's walk."""

    def generate(have: set[bytes], want: set[bytes], **kwargs: Any) -> tuple[int, Iterator[Any]]:
        from dulwich.pack import pack_objects_to_data

        store: Any = repo.object_store
        objects: dict[bytes, Any] = {}
        for sha in want - have:
            commit: Any = store[sha]
            if not commit.parents or commit.parents[0] not in have:
                return repo.generate_pack_data(have, want, **kwargs)
            objects[sha] = commit
            _added_trees(store, commit.tree, store[commit.parents[0]].tree, objects)
        return pack_objects_to_data(list(objects.values()))

    return generate


def _added_trees(store: Any, tree: bytes, old: bytes | None, out: dict[bytes, Any]) -> None:
    """Into `out`: `tree` and what it holds that `old` (the same path's tree, or None) does
    not; objects the store lacks are the server's (a partial clone's unread blobs)."""
    import stat

    if tree == old or tree not in store:
        return
    new = out[tree] = store[tree]
    held = old is not None and old in store
    before = {name: (mode, sha) for name, mode, sha in store[old].iteritems()} if held else {}
    for name, mode, sha in new.iteritems():
        was = before.get(name)
        if was is not None and was[1] == sha:
            continue
        if stat.S_ISDIR(mode):
            _added_trees(store, sha, was[1] if was and stat.S_ISDIR(was[0]) else None, out)
        elif (stat.S_ISREG(mode) or stat.S_ISLNK(mode)) and sha in store:
            out[sha] = store[sha]
