"""A folder's files by Git blob id, their bytes read together and only when asked."""

from __future__ import annotations

import subprocess

from wukong_core.folder import Folder, as_folder, blob_id


def test_a_blob_id_is_what_git_computes() -> None:
    for data in (b"", b"spec: {cpu: 1}\n", bytes(range(256)) * 10):
        done = subprocess.run(
            ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True
        )
        assert blob_id(data) == done.stdout.decode().strip()


class Counted:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = {blob_id(d): d for d in data.values()}
        self.requests: list[list[str]] = []

    def peek(self, blob: str) -> bytes | None:
        return None

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        self.requests.append(blobs)
        return {blob: self.data[blob] for blob in blobs}


def test_files_are_read_in_one_request_and_the_same_bytes_once() -> None:
    files = {"a.yaml": b"same\n", "b.yaml": b"same\n", "c.yaml": b"other\n"}
    source = Counted(files)
    folder = Folder({path: blob_id(data) for path, data in files.items()}, source)
    assert folder.peek("a.yaml") is None, "not at hand: a partial clone must fetch it"
    assert folder.read(["a.yaml", "b.yaml", "c.yaml"]) == files
    assert source.requests == [sorted({blob_id(b"same\n"), blob_id(b"other\n")})]


def test_plain_bytes_are_a_folder_whose_every_file_is_at_hand() -> None:
    folder = as_folder({"a.yaml": b"a\n"})
    assert folder.ids == {"a.yaml": blob_id(b"a\n")} and folder.peek("a.yaml") == b"a\n"
    assert folder.peek("missing.yaml") is None and len(as_folder(None)) == 0
    assert as_folder(folder) is folder
