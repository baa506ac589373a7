"""What a push sends: exactly the objects the render commit adds to the head it replaces,
found without walking the folders it did not touch (the Git server's own connectivity check
proves it end to end in tests/git/test_commit.py)."""

from __future__ import annotations

from typing import Any

from dulwich.objects import Commit
from dulwich.repo import MemoryRepo

from wukong_core.git.remote import _added_by
from wukong_core.git.tree import SourceTree, git_bytes, replace_output
from wukong_core.marks import GENERATED_MARK

MARK = f"{GENERATED_MARK}; do not edit\n".encode()


def commit(repo: MemoryRepo, tree: bytes, parents: list[bytes]) -> bytes:
    made = Commit()
    made.tree, made.parents, made.message = tree, parents, b"render\n"
    made.author = made.committer = b"Wukong <wukong@example.invalid>"
    made.commit_time = made.author_time = 0
    made.commit_timezone = made.author_timezone = 0
    repo.object_store.add_object(made)
    return made.id


def repository(files: dict[str, bytes]) -> tuple[MemoryRepo, bytes]:
    repo = MemoryRepo()
    source = SourceTree.from_files("0" * 40, files)
    for sha in source._store:
        repo.object_store.add_object(source._store[sha])
    return repo, commit(repo, source._tree, [])


def sent(pack: tuple[int, Any]) -> set[bytes]:
    return {unpacked.sha() for unpacked in pack[1]}


def test_a_push_sends_what_the_render_adds_and_nothing_the_server_has() -> None:
    files = {f"wukong/ns-{n}/vm-{k}.yaml": f"spec {n} {k}\n".encode()
             for n in range(20) for k in range(10)}  # fmt: skip
    files |= {f"rendered/ns-{n}/vm-{k}.yaml": MARK + f"vm {n} {k}\n".encode()
              for n in range(20) for k in range(10)}  # fmt: skip
    repo, head = repository(files)
    render = {f"ns-{n}/vm-{k}.yaml": MARK + f"vm {n} {k}\n".encode()
              for n in range(20) for k in range(10)}  # fmt: skip
    render["ns-3/vm-1.yaml"] = MARK + b"changed\n"  # a changed VM
    render["ns-new/vm-0.yaml"] = MARK + b"new\n"  # a new namespace
    del render["ns-7/vm-2.yaml"]  # a removed VM
    store: Any = repo.object_store
    tree = replace_output(store, store[head].tree, "rendered/", render)
    new = commit(repo, tree, [head])

    ours = sent(_added_by(repo)({head}, {new}))
    theirs = sent(repo.generate_pack_data({head}, {new}))  # dulwich's walk of every tree
    assert ours == theirs
    # the commit, the root, rendered/, ns-3/, ns-7/, ns-new/ and the two new files' blobs
    assert len(ours) == 8


def test_a_push_needs_no_blob_a_partial_clone_never_read() -> None:
    repo, head = repository({"wukong/a.yaml": b"a\n", "rendered/ns/a.yaml": MARK + b"a\n",
                             "rendered/ns/b.yaml": MARK + b"b\n"})  # fmt: skip
    store: Any = repo.object_store
    unread = SourceTree.from_files("0" * 40, {"x": MARK + b"b\n"}).id_of("x")
    del store[git_bytes(unread or "")]  # blob:none left it on the server
    tree = replace_output(store, store[head].tree, "rendered/", {"ns/a.yaml": MARK + b"a2\n"},
                          kept={"ns/b.yaml": unread or ""})  # fmt: skip
    new = commit(repo, tree, [head])
    assert len(sent(_added_by(repo)({head}, {new}))) == 5  # commit, 3 trees, a's new blob
