"""The repository on disk the CLI works in: its root, its `.wukong.yaml`, its output folder.

The root is the nearest folder holding `.git` (a clone, a worktree or a submodule: `.git` is a
folder or a file) from the current directory up, else the current directory itself. Spec names
in manifests are relative to the same root (`load.source_root`), so `wukong render` run
anywhere in a clone writes what commit-back writes for that commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from wukong_core.errors import SpecError, WukongError
from wukong_core.findings import Finding
from wukong_core.render.changes import Change, changes
from wukong_core.spec.repoconfig import CONFIG_FILE, RepoConfig, parse_repo_config


def repo_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / ".git").exists()), here)


def read_config(root: Path) -> tuple[RepoConfig, list[Finding]]:
    """The root's `.wukong.yaml` (defaults when absent); a broken one is a `spec.invalid`
    finding on it, as commit-back reports it, with the defaults in its place."""
    path = root / CONFIG_FILE
    try:
        return parse_repo_config(path.read_bytes() if path.is_file() else None), []
    except SpecError as e:
        return RepoConfig(), [Finding("spec.invalid", e.message, e.file or CONFIG_FILE, e.line)]


def read_tree(out: Path) -> dict[str, bytes]:
    """Every regular file below `out` by its "/"-separated path; {} when `out` is absent."""
    if not out.is_dir():
        return {}
    return {
        path.relative_to(out).as_posix(): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def write_tree(
    out: Path, files: Mapping[str, bytes], current: Mapping[str, bytes] | None = None
) -> list[Change]:
    """Make `out` hold the render `files` (`changes.changes`): rendered files written, Wukong's
    stale files deleted, the user's kept. `current` is what `read_tree(out)` returned, when the
    caller has it. Returns what changed.

    Every file is first written to a temporary name, then all are renamed: a failed write (a
    full disk, a user's file where a folder must go) leaves the folder as it was, and a reader
    never sees half a file.
    """
    root = out.resolve()
    targets = {name: (root / name).resolve() for name in files}
    outside = [name for name, target in targets.items() if not target.is_relative_to(root)]
    if outside:  # checked before anything is written
        raise WukongError(f"refusing to write {outside[0]!r} outside {out}")
    todo = changes(read_tree(out) if current is None else current, files)
    written: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for change in todo:
            if change.new is None:
                continue
            target = root / change.path
            missing = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
            created += reversed(missing)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            written.append((temporary, target))
            temporary.write_bytes(change.new)
    except OSError:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
        for directory in reversed(created):
            directory.rmdir()
        raise
    for temporary, target in written:
        temporary.replace(target)
    for change in todo:
        if change.new is None:
            target = root / change.path
            target.unlink()
            if target.parent != root and not any(target.parent.iterdir()):
                target.parent.rmdir()  # a namespace that no longer has VMs
    return todo
