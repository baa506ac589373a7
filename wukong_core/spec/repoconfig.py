"""The optional repo-root `.wukong.yaml`: where specs live, where manifests go. Pure; no I/O.

    branches: [main]           # pushes rendered (fnmatch); default: the repo's default branch
    specPath: wukong/          # folder searched for Wukong specs
    outputPath: rendered/      # folder Wukong writes; never the root, never inside specPath
    outputBranch: deploy       # default: the branch that was pushed
    mode: push                 # push (default): push the render; pull-request: propose it
    namespace: vms             # default namespace for specs that set none
    presyncHooks: true         # write the Argo CD PreSync validation hook per namespace
    hookImage: ghcr.io/novasphere/wukong:0.1.0   # the hook Job's image (default: this release)
    hookNamespace: wukong-system                 # where the hook Job runs (deploy/ creates it)
    protectDisks: confirm      # VMs that own disks: Argo CD prunes them only after a person
                               # confirms (confirm), never (never), or like anything else (off)

Paths are normalised to "dir/sub/" (no "./", one trailing "/") so that callers can join and
compare them as plain strings.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wukong_core.errors import SpecError
from wukong_core.names import is_dns_label
from wukong_core.spec.models import PROTECT_DISKS, ProtectDisks

CONFIG_FILE = ".wukong.yaml"
_KEYS = (
    "branches",
    "hookImage",
    "hookNamespace",
    "mode",
    "namespace",
    "outputBranch",
    "outputPath",
    "presyncHooks",
    "protectDisks",
    "specPath",
)
Mode = Literal["push", "pull-request"]
MODES: tuple[str, ...] = get_args(Mode)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# git check-ref-format, the parts a branch name can break: no "..", "@{", control characters,
# spaces or ~^:?*[\ anywhere; no leading "-" or "/", no trailing "/", "." or ".lock".
_BAD_BRANCH = re.compile(r"\.\.|@\{|[\x00-\x20\x7f~^:?*\[\\]|^[-/]|/$|\.$|\.lock$|//|/\.|^\.")


@dataclass(frozen=True)
class RepoConfig:
    spec_path: str = "wukong/"
    output_path: str = "rendered/"
    output_branch: str | None = None
    default_namespace: str | None = None
    presync_hooks: bool = True
    hook_image: str | None = None  # None: the presync module's default for this release
    hook_namespace: str | None = None
    branches: tuple[str, ...] = ()  # empty: only the repository's default branch
    protect_disks: ProtectDisks = "confirm"
    mode: Mode = "push"

    def watches(self, branch: str, default_branch: str) -> bool:
        """Is a push to `branch` rendered? Feature branches must never write the output."""
        if self.branches:
            return any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.branches)
        return branch == default_branch


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    spec_path: str = Field("wukong/", alias="specPath")
    output_path: str = Field("rendered/", alias="outputPath")
    output_branch: str | None = Field(None, alias="outputBranch")
    namespace: str | None = Field(None, alias="namespace")
    presync_hooks: bool = Field(True, alias="presyncHooks")
    hook_image: str | None = Field(None, alias="hookImage")
    hook_namespace: str | None = Field(None, alias="hookNamespace")
    branches: list[str] = Field(default_factory=list, alias="branches")
    protect_disks: ProtectDisks = Field("confirm", alias="protectDisks")
    mode: Mode = Field("push", alias="mode")

    @field_validator("protect_disks", mode="before")
    @classmethod
    def _unquoted_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false: that is what the user wrote, not a boolean.
        return "off" if value is False else value


def parse_repo_config(data: bytes | None) -> RepoConfig:
    """`.wukong.yaml` bytes (None when the file is absent) -> RepoConfig, or SpecError."""
    raw, lines = _load(data)
    try:
        model = _Model.model_validate(raw)
    except ValidationError as e:
        raise _explain(e, lines) from None
    spec = _normalise(model.spec_path, "specPath", lines)
    output = _normalise(model.output_path, "outputPath", lines)
    _check_layout(spec, output, lines)
    if model.output_branch is not None and _BAD_BRANCH.search(model.output_branch):
        raise _error("outputBranch", lines, f"{model.output_branch!r} is not a valid branch name")
    for key, namespace in (("namespace", model.namespace), ("hookNamespace", model.hook_namespace)):
        if namespace is not None and not is_dns_label(namespace):
            raise _error(
                key,
                lines,
                f"{namespace!r} is not a valid namespace: use lower-case letters, digits and "
                "'-', at most 63 characters",
            )
    image = model.hook_image
    if image is not None and (not image or any(c.isspace() for c in image)):
        raise _error(
            "hookImage", lines, f"{image!r} is not an image reference, like {_example('hookImage')}"
        )
    return RepoConfig(
        spec,
        output,
        model.output_branch or None,
        model.namespace,
        model.presync_hooks,
        image,
        model.hook_namespace,
        tuple(model.branches),
        model.protect_disks,
        model.mode,
    )


def _load(data: bytes | None) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping and the 1-based line of each top-level key."""
    if data is None or not data.strip():
        return {}, {}
    try:
        node = yaml.compose(data, Loader=_LOADER)
        raw = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise SpecError(f"not valid YAML: {e}", file=CONFIG_FILE, line=line) from None
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict) or not isinstance(node, yaml.MappingNode):
        raise SpecError(f"must be a mapping with keys {', '.join(_KEYS)}", file=CONFIG_FILE, line=1)
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return raw, lines


def _explain(e: ValidationError, lines: dict[str, int]) -> SpecError:
    err = e.errors()[0]
    key = str(err["loc"][0]) if err["loc"] else ""
    if err["type"] == "extra_forbidden":
        return _error(key, lines, f"unknown key {key!r}; allowed keys: {', '.join(_KEYS)}")
    kind = {
        "presyncHooks": "true or false",
        "branches": "a list of branch names",
        "protectDisks": f"{', '.join(PROTECT_DISKS[:-1])} or {PROTECT_DISKS[-1]}",
        "mode": " or ".join(MODES),
    }.get(key, "a string")
    return _error(key, lines, f"must be {kind}, like {_example(key)}")


def _example(key: str) -> str:
    return {
        "specPath": "'wukong/'",
        "outputPath": "'rendered/'",
        "outputBranch": "'deploy'",
        "namespace": "'vms'",
        "presyncHooks": "false",
        "branches": "[main, 'release/*']",
        "hookImage": "'ghcr.io/novasphere/wukong:0.1.0'",
        "hookNamespace": "'wukong-system'",
        "protectDisks": "confirm",
        "mode": "pull-request",
    }.get(key, "'text'")


def _normalise(path: str, key: str, lines: dict[str, int]) -> str:
    """'./a//b' -> 'a/b/'; the repo root is ''. Refuses absolute paths, '..' and '.git'."""
    if path.startswith("/") or "\\" in path:
        hint = f"must be a path relative to the repo root, like {_example(key)}"
        raise _error(key, lines, f"{path!r} {hint}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts or any(p.lower() == ".git" for p in parts):
        raise _error(key, lines, f"{path!r} must stay inside the repository (no '..' or '.git')")
    return "".join(f"{p}/" for p in parts)


def _check_layout(spec: str, output: str, lines: dict[str, int]) -> None:
    """The output folder is Wukong's: never the root, never holding or inside the specs."""
    if not output:
        raise _error(
            "outputPath", lines, "must not be the repo root: name a folder, like 'rendered/'"
        )
    if output.startswith(spec):
        where = repr(spec) if spec else "the repo root"
        reason = "generated files would be read as specs; use a sibling folder"
        raise _error(
            "outputPath", lines, f"{output!r} must not be inside specPath {where} ({reason})"
        )
    if spec.startswith(output):
        key = "specPath" if "specPath" in lines else "outputPath"
        reason = "Wukong ignores pushes that only touch its output"
        raise _error(
            key, lines, f"specPath {spec!r} must not be inside outputPath {output!r} ({reason})"
        )


def _error(key: str, lines: dict[str, int], message: str) -> SpecError:
    # A key that is not in the file (a default) has no line: point at the top.
    return SpecError(
        f"{key}: {message}", file=CONFIG_FILE, line=lines.get(key, 1 if lines else 0), field=key
    )
