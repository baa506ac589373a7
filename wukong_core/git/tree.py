"""Trees on a dulwich object store: the read-only `SourceTree` and the output-subtree rewrite.

Split from `gitops` (the network side: fetch, push, retry) because this half is plain object
manipulation: given a root tree and rendered bytes, build the new root tree. No I/O beyond the
(in-memory) object store; dulwich is imported inside functions to keep imports cheap.

The rewrite rule (README, Commit-back): files Wukong rendered now are written; files under the
output path that start with the generated header but were not rendered now are deleted; every other
file there (a user's notes, patches) is kept.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wukong_core.errors import GitError
from wukong_core.marks import GENERATED_MARK

if TYPE_CHECKING:
    from dulwich.object_store import BaseObjectStore

_FILE_MODE = 0o100644


@dataclass(frozen=True)
class SourceTree:
    """A read-only view of one commit's tree; paths are repo-relative with "/" separators."""

    sha: str
    _store: BaseObjectStore = field(repr=False, compare=False)
    _tree: bytes = field(repr=False, compare=False)
    # Other branches of the same repository, fetched on demand (gitops sets this).
    _branches: Callable[[str], SourceTree | None] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def from_files(cls, sha: str, files: dict[str, bytes]) -> SourceTree:
        """A tree built from plain bytes, for testing renderers without a Git server."""
        from dulwich.object_store import MemoryObjectStore

        store = MemoryObjectStore()
        return cls(
            sha,
            store,
            _build_tree(store, {p: (_FILE_MODE, _blob(store, d)) for p, d in files.items()}),
        )

    def branch(self, name: str) -> SourceTree | None:
        """The head of branch `name` of the same repository: None when there is no such
        branch, or this tree came from no repository (`from_files`)."""
        return self._branches(name) if self._branches else None

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when there is no regular file at `path`."""
        from dulwich.errors import NotTreeError
        from dulwich.object_store import tree_lookup_path

        try:
            mode, sha = tree_lookup_path(
                self._store.__getitem__, self._tree, git_bytes(path.strip("/"))
            )
        except (KeyError, NotTreeError):
            return None
        return self._store[sha].data if stat.S_ISREG(mode) else None  # type: ignore[attr-defined]

    def files_under(self, prefix: str) -> dict[str, bytes]:
        """Every regular file below the folder `prefix` ("" = the whole tree), by path."""
        base = prefix.strip("/")
        return {
            f"{base}/{rel}" if base else rel: self._store[sha].data  # type: ignore[attr-defined]
            for rel, (mode, sha) in _entries_under(self._store, self._tree, base).items()
            if stat.S_ISREG(mode)
        }


def replace_output(store: BaseObjectStore, root: bytes, output_path: str,
                    files: dict[str, bytes]) -> bytes:  # fmt: skip
    """The root tree with the output subtree rebuilt: rendered files in, stale generated out."""
    base = _safe_path(output_path.strip("/"), "output path")
    mark = GENERATED_MARK.encode()
    entries = {
        rel: (mode, sha)
        for rel, (mode, sha) in _entries_under(store, root, base).items()
        if rel not in files and not (stat.S_ISREG(mode) and store[sha].data.startswith(mark))  # type: ignore[attr-defined]
    }
    for rel, data in files.items():
        entries[_safe_path(rel, "rendered file")] = (_FILE_MODE, _blob(store, data))
    return _splice(store, root, base.split("/"), _build_tree(store, entries))


def _entries_under(store: BaseObjectStore, root: bytes, base: str) -> dict[str, tuple[int, bytes]]:
    """Files (and submodules) below folder `base` of tree `root`: relative path -> (mode, sha)."""
    from dulwich.errors import NotTreeError
    from dulwich.object_store import tree_lookup_path

    tree = root
    if base:
        try:
            mode, tree = tree_lookup_path(store.__getitem__, root, git_bytes(base))
        except (KeyError, NotTreeError):
            return {}
        if not stat.S_ISDIR(mode):
            return {}
    return {
        e.path.decode("utf-8", "surrogateescape"): (e.mode, e.sha)
        for e in store.iter_tree_contents(tree)
    }


def _build_tree(store: BaseObjectStore, entries: dict[str, tuple[int, bytes]]) -> bytes:
    """Nested trees for `entries` (path -> (mode, sha)); the root may be empty."""
    from dulwich.objects import Tree

    here: dict[str, tuple[int, bytes]] = {}
    below: dict[str, dict[str, tuple[int, bytes]]] = {}
    for path, entry in entries.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = entry
        else:
            here[head] = entry
    tree = Tree()
    for name, (mode, sha) in here.items():
        if name in below:
            raise GitError(f"failed to build tree: {name!r} is both a file and a folder")
        tree.add(git_bytes(name), mode, sha)
    for name, sub in below.items():
        tree.add(git_bytes(name), stat.S_IFDIR, _build_tree(store, sub))
    store.add_object(tree)
    return tree.id


def _splice(store: BaseObjectStore, tree_id: bytes | None, parts: list[str],
            subtree: bytes) -> bytes:  # fmt: skip
    """`tree_id` with the folder at `parts` replaced by `subtree`; empty folders disappear."""
    from dulwich.objects import Tree

    tree = store[tree_id] if tree_id else Tree()
    assert isinstance(tree, Tree)
    name = git_bytes(parts[0])
    try:
        old: tuple[int, bytes] | None = tree[name]
    except KeyError:
        old = None
    if old is not None and not stat.S_ISDIR(old[0]):  # never overwrite a user's file
        raise GitError(f"failed to build tree: {parts[0]!r} is a file, not a folder")
    child = subtree
    if len(parts) > 1:
        child = _splice(store, old[1] if old else None, parts[1:], subtree)
    if len(store[child]) == 0:  # type: ignore[arg-type]
        if name in tree:
            del tree[name]
    else:
        tree[name] = (stat.S_IFDIR, child)
    store.add_object(tree)
    return tree.id


def _safe_path(path: str, what: str) -> str:
    """A relative path that stays where it is put: no "..", no ".git", no empty parts."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or any(p in ("", ".", "..") or p.lower() == ".git" for p in parts)
    ):
        raise GitError(f"failed to build tree: unsafe {what} {path!r}")
    return path


def _blob(store: BaseObjectStore, data: bytes) -> bytes:
    from dulwich.objects import Blob

    blob = Blob.from_string(data)
    store.add_object(blob)
    return blob.id


def git_bytes(text: str) -> bytes:
    """A ref or path name as Git stores it: bytes, with undecodable names kept (surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")
