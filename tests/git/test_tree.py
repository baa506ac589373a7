"""Trees on the object store: a commit's files by blob id, read only when asked, and the
output subtree rebuilt with files kept by id (tests/git/test_commit.py runs it against Git)."""

from __future__ import annotations

import stat

import pytest
from dulwich.object_store import MemoryObjectStore
from dulwich.objects import Blob, Tree

from wukong_core.errors import GitError
from wukong_core.folder import blob_id
from wukong_core.git.tree import SourceTree, replace_output
from wukong_core.marks import GENERATED_MARK

MARK = f"{GENERATED_MARK}; do not edit\n".encode()


def test_a_tree_names_its_files_blob_ids_without_reading_them() -> None:
    tree = SourceTree.from_files("0" * 40, {"wukong/a.yaml": b"a\n", "wukong/b/c.yaml": b"c\n"})
    assert tree.ids_under("wukong/") == {
        "wukong/a.yaml": blob_id(b"a\n"),
        "wukong/b/c.yaml": blob_id(b"c\n"),
    }
    assert tree.id_of("wukong/a.yaml") == blob_id(b"a\n")
    assert (tree.id_of("wukong/b"), tree.id_of("nothing"), tree.read("nothing")) == (None,) * 3
    assert tree.read_blobs([blob_id(b"c\n")]) == {blob_id(b"c\n"): b"c\n"}
    assert tree.peek(blob_id(b"a\n")) == b"a\n"


def test_blobs_missing_from_a_partial_clone_are_fetched_together() -> None:
    full = SourceTree.from_files("0" * 40, {"a.yaml": b"a\n", "b.yaml": b"b\n"})
    store = MemoryObjectStore()
    store.add_object(full._store[full._tree])  # the tree, not its blobs
    asked: list[list[bytes]] = []

    def fetch(blobs: list[bytes]) -> None:
        asked.append(blobs)
        for blob in blobs:
            store.add_object(full._store[blob])

    tree = SourceTree("0" * 40, store, full._tree, None, fetch)
    assert tree.peek(blob_id(b"a\n")) is None
    assert tree.files_under("") == {"a.yaml": b"a\n", "b.yaml": b"b\n"}
    assert len(asked) == 1 and sorted(asked[0]) == sorted(
        blob_id(d).encode() for d in (b"a\n", b"b\n")
    )
    assert tree.read("a.yaml") == b"a\n" and len(asked) == 1, "fetched once"


def test_kept_files_go_in_by_blob_id_and_only_unrendered_files_are_read() -> None:
    old = {
        "out/ns/kept.yaml": MARK + b"kept\n",
        "out/ns/stale.yaml": MARK + b"stale\n",
        "out/ns/notes.md": b"the user's\n",
    }
    full = SourceTree.from_files("0" * 40, old)
    store = MemoryObjectStore()
    for obj in full._store:  # every object but the kept file's blob
        if obj != blob_id(MARK + b"kept\n").encode():
            store.add_object(full._store[obj])
    asked: list[bytes] = []
    kept = {"ns/kept.yaml": blob_id(MARK + b"kept\n")}
    root = replace_output(store, full._tree, "out/", {"ns/new.yaml": MARK + b"new\n"}, kept,
                          asked.extend)  # fmt: skip
    result = SourceTree("1" * 40, store, root)
    assert result.ids_under("out") == {
        "out/ns/kept.yaml": kept["ns/kept.yaml"],
        "out/ns/new.yaml": blob_id(MARK + b"new\n"),
        "out/ns/notes.md": blob_id(b"the user's\n"),
    }
    assert asked == [], "the kept blob was never needed; the others were at hand"


def test_a_folder_entry_that_names_no_tree_is_a_git_error_not_a_crash() -> None:
    """A hand-made tree can say "folder" and point at a file's blob: the render is refused with
    a reason (even under `python -O`), never an assertion."""
    store = MemoryObjectStore()
    blob = Blob.from_string(b"not a folder\n")
    root = Tree()
    root.add(b"deploy", stat.S_IFDIR, blob.id)
    store.add_object(blob)
    store.add_object(root)
    with pytest.raises(GitError, match="the folder holding 'rendered' is no tree"):
        replace_output(store, root.id, "deploy/rendered/", {"vms/a.yaml": MARK + b"a\n"})
