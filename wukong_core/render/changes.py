"""What a render changes in an output folder: files and VMs added, changed, removed. Pure.

The rule is commit-back's (`git.tree.replace_output`): every rendered file is written;
a file already there that carries Wukong's generated header but was not rendered now is
deleted; every other file is the user's and stays. `wukong render` applies these changes,
`wukong render --check` fails on any, and `wukong diff` prints them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from wukong_core.marks import GENERATED_MARK

_GENERATED = GENERATED_MARK.encode()
_VM_FILE = f"{GENERATED_MARK} from ".encode()  # render.header: a VM file names its spec


@dataclass(frozen=True)
class Change:
    path: str  # relative to the output folder, "/"-separated
    old: bytes | None  # None: the file is new
    new: bytes | None  # None: Wukong's file is no longer rendered and goes

    @property
    def kind(self) -> Literal["added", "changed", "removed"]:
        return "added" if self.old is None else "removed" if self.new is None else "changed"

    @property
    def vm(self) -> str | None:
        """`namespace/name` when this is a VM's file (`<namespace>/<name>.yaml`), else None."""
        data = self.new if self.new is not None else self.old
        namespace, _, file = self.path.partition("/")
        if not data or not data.startswith(_VM_FILE) or "/" in file or not file.endswith(".yaml"):
            return None
        return f"{namespace}/{file.removesuffix('.yaml')}"


def changes(current: Mapping[str, bytes], rendered: Mapping[str, bytes]) -> list[Change]:
    """What turns the folder holding `current` into the render `rendered`, sorted by path."""
    found = []
    for path in sorted(current.keys() | rendered.keys()):
        old, new = current.get(path), rendered.get(path)
        if new is None and (old is None or not old.startswith(_GENERATED)):
            continue  # the user's file: never Wukong's to delete
        if old != new:
            found.append(Change(path, old, new))
    return found


def vm_summary(found: list[Change]) -> dict[str, list[str]]:
    """VMs by what happens to them: {"added": [...], "changed": [...], "removed": [...]}."""
    summary: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
    for change in found:
        if change.vm is not None:
            summary[change.kind].append(change.vm)
    return summary


def unified_diff(found: list[Change], folder: str) -> str:
    """A patch of the changes under `folder` (as `git diff` names files: a/..., b/...)."""
    out: list[str] = []
    for change in found:
        name = f"{folder.rstrip('/')}/{change.path}"
        out += difflib.unified_diff(
            _lines(change.old),
            _lines(change.new),
            "/dev/null" if change.old is None else f"a/{name}",
            "/dev/null" if change.new is None else f"b/{name}",
        )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in out)  # fmt: skip


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)
