"""Files of a folder by path: their Git blob ids at once, their bytes when asked. Pure; no I/O.

Commit-back reads a repository from a partial clone (`git.remote`): the trees come first and a
file's bytes cost a request to the Git host. So a run judges every file it can by its blob id
(a spec file it parsed before, a VM file its plan already made) and asks once, for all the
others together, for their bytes. The CLI hands over files it read from disk: every byte is at
hand, and an id is a hash away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol


def blob_id(data: bytes) -> str:
    """The Git blob id of `data`: what `git hash-object` prints for a file holding it."""
    return hashlib.sha1(b"blob %d\0%s" % (len(data), data)).hexdigest()


class Blobs(Protocol):
    """Where a folder's bytes come from, by blob id."""

    def peek(self, blob: str) -> bytes | None:
        """The bytes when they are at hand without a request, else None."""
        ...

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        """The bytes of every blob asked for, fetched together where need be."""
        ...


class _InMemory:
    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    def peek(self, blob: str) -> bytes | None:
        return self.data.get(blob)

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        return {blob: self.data[blob] for blob in blobs}


class Folder:
    """Files by "/"-separated path: `ids` (path -> Git blob id) and their bytes on demand."""

    def __init__(self, ids: dict[str, str], blobs: Blobs) -> None:
        self.ids = ids
        self._blobs = blobs

    @classmethod
    def of(cls, files: Mapping[str, bytes]) -> Folder:
        """A folder whose bytes are all at hand (read from disk, built by a test)."""
        ids = {path: blob_id(data) for path, data in files.items()}
        return cls(ids, _InMemory({ids[path]: data for path, data in files.items()}))

    def peek(self, path: str) -> bytes | None:
        blob = self.ids.get(path)
        return None if blob is None else self._blobs.peek(blob)

    def read(self, paths: Iterable[str]) -> dict[str, bytes]:
        """The bytes of `paths` (each must be in the folder), with one request at most."""
        wanted = {path: self.ids[path] for path in paths}
        data = self._blobs.read_blobs(sorted(set(wanted.values())))
        return {path: data[blob] for path, blob in wanted.items()}

    def __len__(self) -> int:
        return len(self.ids)


def as_folder(files: Folder | Mapping[str, bytes] | None) -> Folder:
    """A folder as given, or one made of plain bytes (None: an empty one)."""
    return files if isinstance(files, Folder) else Folder.of(files or {})
