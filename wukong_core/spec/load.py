"""YAML bytes, files and directories -> Wukong specs that remember where they came from.

The YAML is built into values by `nodes` (bounded, duplicate keys refused); this module decides
which documents are Wukong specs, validates them with the pydantic models, and turns every
problem into a `spec.invalid` finding at the line of the field that is wrong, with the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from wukong_core.caches import PassMemo
from wukong_core.errors import quoted
from wukong_core.findings import Finding
from wukong_core.spec.models import (
    API_VERSION,
    KIND,
    CloudInit,
    DataSourceRef,
    Disk,
    ExistingPVC,
    Instancetype,
    Metadata,
    Network,
    Preference,
    Wukong,
    WukongSpec,
)
from wukong_core.spec.nodes import (
    MERGE,
    Builder,
    Loader,
    Refused,
    child,
    line_of,
    merge_sources,
    scalar_at,
)

API_GROUP = API_VERSION.split("/")[0] + "/"


@dataclass(frozen=True, slots=True)
class LoadedSpec:
    spec: Wukong
    file: str
    line: int  # first line of the document
    disk_lines: tuple[int, ...]  # line of each disk, in order
    # Per disk, the line of each field written (`existingPVC.readOnly` for its fields): read off
    # the nodes while they are at hand, as findings point at the field that is wrong.
    disk_fields: tuple[dict[str, int], ...]
    # The lines of the spec's fields that findings point at (`cpu`, `cloudInit.userData`,
    # `networks.0.binding`, ...); read only for specs that use the fields which need them.
    spec_fields: Mapping[str, int]

    def field_line(self, disk: int, field: str) -> int:
        """Line of a disk's field (where a merge key took it from), else of the disk itself."""
        return self.disk_fields[disk].get(field, self.disk_lines[disk])

    def spec_line(self, path: str) -> int:
        """Line of a spec field (`networks.1.name`), else of the nearest enclosing one written,
        else of the document."""
        while path:
            if path in self.spec_fields:
                return self.spec_fields[path]
            path = path.rpartition(".")[0]
        return self.line


def _dotted(loc: Iterable[str | int]) -> str:
    out = ""
    for step in loc:
        if isinstance(step, str) and not step.isprintable():  # "\x1b[31m" from a quoted key
            step = repr(step)
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


_MODELS_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): Wukong,
    ("metadata",): Metadata,
    ("spec",): WukongSpec,
    ("spec", "disks", "#"): Disk,
    ("spec", "disks", "#", "existingPVC"): ExistingPVC,
    ("spec", "disks", "#", "dataSource"): DataSourceRef,
    ("spec", "instancetype"): Instancetype,
    ("spec", "preference"): Preference,
    ("spec", "cloudInit"): CloudInit,
    ("spec", "networks", "#"): Network,
}


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    shape = tuple("#" if isinstance(s, int) else s for s in loc)
    model = _MODELS_AT.get(shape)
    return sorted(model.model_fields) if model else []


def _explain(error: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    """A pydantic error -> (path in the document, a message that says the fix)."""
    loc = tuple(s for s in error["loc"] if not (isinstance(s, str) and s in ("str", "int")))
    kind = error["type"]
    if len(loc) < len(error["loc"]) and kind in ("string_type", "int_type"):
        # A quantity is `str | int`: say once what it takes, not once per member of the union.
        return (
            loc,
            f"{_dotted(loc)}: must be a quantity like 4Gi or a whole number "
            f"(got {error['input']!r})",
        )
    if kind == "extra_forbidden":
        known = _known_fields(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        fix = f'did you mean "{hint[0]}"?' if hint else f"known fields: {', '.join(known)}"
        if loc == ("spec", "running"):  # KubeVirt's old field, too far from runStrategy for difflib
            fix = "KubeVirt deprecated it: write runStrategy: Always (runStrategy: Halted for "
            fix += "running: false)"
        return loc, f"{_dotted(loc)}: unknown field; {fix}"
    if kind == "missing" and loc in (("spec", "cpu"), ("spec", "memory")):
        return loc, (
            f"{_dotted(loc)}: required field is missing; set cpu and memory, or size the VM by "
            "an instancetype (spec.instancetype.name)"
        )
    if kind == "missing":
        return loc, f"{_dotted(loc)}: required field is missing"
    if kind == "string_pattern_mismatch" and loc[-1] in ("name", "namespace", "storageClass"):
        return loc, (
            f"{_dotted(loc)}: {quoted(error['input'])} is not a valid Kubernetes name: use "
            "lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    message = error["msg"].removeprefix("Value error, ")
    shown = error.get("input")
    plain = kind != "value_error" and not isinstance(shown, dict | list)
    got = f" (got {quoted(shown)})" if plain else ""
    return loc, f"{_dotted(loc)}: {message}{got}"


def _is_wukong(node: yaml.Node) -> bool:
    """Decided on the node, before building it: other documents are never built at all."""
    api, kind = scalar_at(node, "apiVersion"), scalar_at(node, "kind")
    return kind == KIND or (api is not None and api.startswith(API_GROUP))


def _object_name(value: dict[str, Any]) -> str:
    meta = value.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        ns = meta.get("namespace")
        name = f"{ns}/{meta['name']}" if isinstance(ns, str) else meta["name"]
        return name if len(name) <= 253 else ""  # a megabyte "name" is not echoed back
    return ""


def _invalid(message: str, file: str, line: int, obj: str = "") -> Finding:
    return Finding("spec.invalid", message, file=file, line=line, object=obj)


def _yaml_error(e: yaml.YAMLError, file: str, data: bytes | str) -> Finding:
    if isinstance(e, yaml.reader.ReaderError):
        return _invalid(f"not UTF-8 text (byte {e.position}): save the file as UTF-8", file, 1)
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        # An error at the end of the stream is marked on the line after the last one.
        line = min(mark.line + 1, _line_count(data)) if mark else 1
        return _invalid(f"YAML syntax error: {e.problem or e.context}", file, line)
    return _invalid(f"cannot read YAML: {e}", file, 1)


def _line_count(data: bytes | str) -> int:
    """Lines an editor shows: after a final line break, the empty line where the file ends."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.splitlines(keepends=True)
    ends_open = bool(lines) and lines[-1] != lines[-1].rstrip("\r\n\x85\u2028\u2029")
    return len(lines) + 1 if ends_open or not lines else len(lines)


def _load_document(node: yaml.Node, file: str, builder: Builder) -> LoadedSpec | list[Finding]:
    try:
        value = builder.build(node)
    except Refused as e:
        return [_invalid(str(e), file, e.node.start_mark.line + 1)]
    except yaml.YAMLError as e:
        return [_invalid(f"bad YAML value: {e}", file, node.start_mark.line + 1)]
    try:
        spec = Wukong.model_validate(value)
    except ValidationError as e:
        obj = _object_name(value) if isinstance(value, dict) else ""
        explained = dict.fromkeys(_explain(error) for error in e.errors(include_url=False))
        return [_invalid(message, file, line_of(node, loc), obj) for loc, message in explained]
    found = child(node, "spec")
    spec_node = found[1] if found else None
    disks = child(spec_node, "disks") if spec_node else None
    items = disks[1].value if disks else ()
    disk_lines = tuple(item.start_mark.line + 1 for item in items)
    disk_fields = tuple(_disk_fields(item) for item in items)
    spec_fields = _spec_fields(spec_node) if _needs_lines(spec.spec) else _NO_LINES
    return LoadedSpec(spec, file, node.start_mark.line + 1, disk_lines, disk_fields, spec_fields)


# The field names as shared strings: a validated disk has no others, so each disk's map holds
# no string of its own (the load memo keeps thousands of them).
_FIELD_NAMES = (
    {name: name for name in Disk.model_fields}
    | {f"existingPVC.{name}": f"existingPVC.{name}" for name in ExistingPVC.model_fields}
    | {f"dataSource.{name}": f"dataSource.{name}" for name in DataSourceRef.model_fields}
)
_NESTED_DISK_FIELDS = ("existingPVC", "dataSource")
# Spec fields whose findings need lines of their own (or of their fields); the rest point at
# their disk or the document, so a spec without these reads no further lines at all.
_SPEC_MAPPINGS = ("instancetype", "preference", "cloudInit")
_LINED = (
    *("cpu", "coresPerSocket", "memory", "firmware", "tpm", "persistentState"),
    *("sshKeySecret", "networks"),
    *_SPEC_MAPPINGS,
)
_NO_LINES: Mapping[str, int] = {}


def _disk_fields(item: yaml.Node) -> dict[str, int]:
    lines = _key_lines(item)
    for nested in _NESTED_DISK_FIELDS:
        found = child(item, nested) if nested in lines else None
        for name, line in _key_lines(found[1]).items() if found else ():
            key = f"{nested}.{name}"
            lines[_FIELD_NAMES.get(key, key)] = line
    return lines


def _needs_lines(spec: WukongSpec) -> bool:
    return any(
        value is not None
        for value in (
            spec.coresPerSocket,
            spec.persistentState or None,
            spec.instancetype,
            spec.preference,
            spec.cloudInit,
            spec.sshKeySecret,
            spec.networks,
        )
    )


def _spec_fields(spec: yaml.Node | None) -> dict[str, int]:
    """`_LINED` fields of the spec mapping, their own fields, and each network's fields."""
    lines = {k: v for k, v in _key_lines(spec).items() if k in _LINED} if spec else {}
    for name in _SPEC_MAPPINGS:
        found = child(spec, name) if name in lines else None
        for key, line in _key_lines(found[1]).items() if found else ():
            lines[f"{name}.{key}"] = line
    found = child(spec, "networks") if "networks" in lines else None
    items = found[1].value if found and isinstance(found[1], yaml.SequenceNode) else ()
    for i, item in enumerate(items):
        lines[f"networks.{i}"] = item.start_mark.line + 1
        for key, line in _key_lines(item).items():
            lines[f"networks.{i}.{key}"] = line
    return lines


def _key_lines(node: yaml.Node) -> dict[str, int]:
    """{key: line} of a mapping's keys, merged-in ones where they are written; own keys win.
    (Only reached for a document that was built, so a merge cannot recurse without end.)"""
    if not isinstance(node, yaml.MappingNode):
        return {}
    lines: dict[str, int] = {}
    merges = False
    for key, _ in node.value:
        if key.tag == MERGE:
            merges = True
        elif type(key) is yaml.ScalarNode:
            lines[_FIELD_NAMES.get(key.value, key.value)] = key.start_mark.line + 1
    if not merges:
        return lines
    merged: dict[str, int] = {}
    for source in reversed(merge_sources(node)):  # weakest first, so stronger ones overwrite
        merged.update(_key_lines(source))
    return merged | lines


def load_bytes(
    data: bytes | str, file: str, tags: PassMemo[str, str] | None = None
) -> tuple[list[LoadedSpec], list[Finding]]:
    """Every Wukong document in one YAML stream; errors as spec.invalid findings. `tags`
    remembers what plain scalars read as (`Caches.tags`).

    A stream that never mentions Wukong is not parsed at all: repositories keep other YAML
    (even Helm templates, which are not YAML) beside their specs.
    """
    probe = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    if probe[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a BOM: YAML allows it
        probe = probe.decode("utf-16", "replace").encode("utf-8", "replace")
    if KIND.encode() not in probe and API_GROUP.encode() not in probe:
        return [], []
    specs: list[LoadedSpec] = []
    findings: list[Finding] = []
    loader = None
    try:
        loader = Loader(data)  # the pure-Python reader checks the encoding here already
        loader.tags = tags
        while loader.check_node():
            node = loader.get_node()
            if node is None or not _is_wukong(node):
                continue
            result = _load_document(node, file, Builder(loader))
            if isinstance(result, LoadedSpec):
                specs.append(result)
            else:
                findings.extend(result)
    except yaml.YAMLError as e:
        findings.append(_yaml_error(e, file, data))
    finally:
        if loader is not None:
            loader.dispose()
    return specs, findings


def load_many(
    sources: Iterable[tuple[str, bytes | str]], tags: PassMemo[str, str] | None = None
) -> tuple[list[LoadedSpec], list[Finding]]:
    """Every spec of many files, in order (`load_bytes` of each)."""
    specs: list[LoadedSpec] = []
    findings: list[Finding] = []
    for file, data in sources:
        more_specs, more_findings = load_bytes(data, file, tags)
        specs += more_specs
        findings += more_findings
    return specs, findings


def source_root(path: Path) -> Path:
    """What a spec's name is relative to: its Git work tree, else the current directory.

    The name goes into every manifest (header, source annotation, PreSync plan), so it must not
    depend on where a checkout lives: `wukong render /home/me/repo/wukong` and commit-back both
    name a spec `wukong/web.yaml`.
    """
    absolute = path.resolve()
    for parent in absolute.parents:
        if (parent / ".git").exists():
            return parent
    return Path.cwd().resolve()


def _name(file: Path, root: Path) -> str:
    absolute = file.resolve()
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(file)


def read_paths(paths: Iterable[str | Path]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each YAML file named or found below a named directory, sorted.

    OSError propagates: the caller reports it as a usage or I/O problem (exit 2).
    """
    for path in map(Path, paths):
        root = source_root(path)
        if path.is_dir():
            found = (p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            for file in sorted(found):
                yield _name(file, root), file.read_bytes()
        else:
            yield _name(path, root), path.read_bytes()
