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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    # Brings blobs a partial clone left out into the store (git.commit sets this); without it,
    # every blob is there already.
    _fetch: Callable[[list[bytes]], None] | None = field(default=None, repr=False, compare=False)

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
        blob = self.id_of(path)
        return None if blob is None else self.read_blobs([blob])[blob]

    def id_of(self, path: str) -> str | None:
        """The Git blob id of the regular file at `path`, or None when there is none."""
        from dulwich.errors import NotTreeError
        from dulwich.object_store import tree_lookup_path

        try:
            mode, sha = tree_lookup_path(
                self._store.__getitem__, self._tree, git_bytes(path.strip("/"))
            )
        except (KeyError, NotTreeError):
            return None
        return sha.decode() if stat.S_ISREG(mode) else None

    def ids_under(self, prefix: str) -> dict[str, str]:
        """The Git blob id of every regular file below the folder `prefix` ("" = the whole
        tree), by path: read off the trees, no blob needed."""
        base = prefix.strip("/")
        return {
            f"{base}/{rel}" if base else rel: sha.decode()
            for rel, (mode, sha) in _entries_under(self._store, self._tree, base).items()
            if stat.S_ISREG(mode)
        }

    def files_under(self, prefix: str) -> dict[str, bytes]:
        """Every regular file below the folder `prefix` ("" = the whole tree), by path."""
        ids = self.ids_under(prefix)
        data = self.read_blobs(list(ids.values()))
        return {path: data[blob] for path, blob in ids.items()}

    def peek(self, blob: str) -> bytes | None:
        """A blob's bytes if the store holds them already (`folder.Blobs`)."""
        sha = blob.encode()
        return self._store[sha].data if sha in self._store else None  # type: ignore[attr-defined]

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        """The bytes of these blobs by id; those a partial clone left out are fetched in one
        request (`folder.Blobs`)."""
        shas = [blob.encode() for blob in blobs]
        missing = [sha for sha in dict.fromkeys(shas) if sha not in self._store]
        if missing and self._fetch is not None:
            self._fetch(missing)
        return {sha.decode(): self._store[sha].data for sha in shas}  # type: ignore[attr-defined]


def replace_output(store: BaseObjectStore, root: bytes, output_path: str,
                   files: dict[str, bytes], kept: Mapping[str, str] | None = None,
                   fetch: Callable[[list[bytes]], None] | None = None) -> bytes:  # fmt: skip
    """The root tree with the output subtree rebuilt: rendered files in, stale generated out.

    `kept` names files the render keeps exactly as the output folder holds them, by blob id:
    they go in without their bytes, which a partial clone may never have fetched. Whether
    another file there is Wukong's is read off its first line, so those blobs are fetched
    (`fetch`) where the clone left them out: the user's files and Wukong's stale ones, few.
    """
    base = _safe_path(output_path.strip("/"), "output path")
    mark = GENERATED_MARK.encode()
    kept = kept or {}
    others = {
        rel: (mode, sha)
        for rel, (mode, sha) in _entries_under(store, root, base).items()
        if rel not in files and rel not in kept
    }
    missing = [sha for mode, sha in others.values() if stat.S_ISREG(mode) and sha not in store]
    if missing and fetch is not None:
        fetch(missing)
    entries = {
        rel: (mode, sha)
        for rel, (mode, sha) in others.items()
        if not (stat.S_ISREG(mode) and store[sha].data.startswith(mark))  # type: ignore[attr-defined]
    }
    for rel, blob in kept.items():
        entries[_safe_path(rel, "rendered file")] = (_FILE_MODE, blob.encode())
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
    return _walk(store, tree, "", {})


def _walk(store: BaseObjectStore, tree: bytes, prefix: str,
          out: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:  # fmt: skip
    # Three times as fast as dulwich's iter_tree_contents (no TreeEntry, no posixpath.join):
    # every push lists the spec and output folders of the whole repository.
    entries: Any = store[tree]
    for name, mode, sha in entries.iteritems():
        path = prefix + name.decode("utf-8", "surrogateescape")
        if stat.S_ISDIR(mode):
            _walk(store, sha, path + "/", out)
        else:
            out[path] = (mode, sha)
    return out


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
