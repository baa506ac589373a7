"""What a VM was before this render: read from a VM file Wukong wrote into the previous output,
or from a VirtualMachine live in the cluster. Pure; no I/O.

Only what changed is parsed: a VM file whose `dataVolumeTemplates` text is unchanged has the
same disks (`disks_text`), so a new render format, which rewrites every VM file, costs a text
search per file, not a YAML parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from wukong_core.marks import GENERATED_MARK
from wukong_core.objects import Obj, dig
from wukong_core.render.manifests import KUSTOMIZATION, SOURCE_ANNOTATION, SYNC_OPTIONS

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_VM_HEADER = f"{GENERATED_MARK} from ".encode()
# The keys of a VM's `spec` that Wukong writes after `dataVolumeTemplates` (sorted order).
_AFTER_DISKS = re.compile(rb"^  (?:instancetype|preference|runStrategy):", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Before:
    """A VM as it was: rendered into the previous output, or live in the cluster."""

    key: str  # namespace/name
    source: str  # the spec file it was rendered from ("" when unknown)
    templates: dict[str, Obj]  # DataVolume (= PVC) name -> the template's spec
    options: tuple[str, ...]  # its Argo CD sync options
    file: str = ""  # where a vm.removed finding points: the spec that made it is gone
    line: int = 0

    @property
    def namespace(self) -> str:
        return self.key.partition("/")[0]


def vm_key(path: str, data: bytes) -> str | None:
    """`<ns>/<vm>` for a VM file Wukong wrote (`<ns>/<vm>.yaml`, its header naming its spec);
    None for anything else: kustomizations, PreSync hooks, a user's own files."""
    key = vm_path_key(path)
    return key if key is not None and is_vm_file(data) else None


def is_vm_file(data: bytes) -> bool:
    """A VM file Wukong wrote: its header names the spec it came from."""
    return data.startswith(_VM_HEADER)


def vm_path_key(path: str) -> str | None:
    """`<ns>/<vm>` where `path` may be a VM file (`<ns>/<vm>.yaml`), judged by the path alone."""
    namespace, _, name = path.partition("/")
    if not name.endswith(".yaml") or "/" in name or name == KUSTOMIZATION:
        return None
    return f"{namespace}/{name[:-5]}"


def disks_text(data: bytes) -> bytes | None:
    """The `spec.dataVolumeTemplates` block of a VM file as Wukong writes it, or None when the
    file is not laid out so. Keys are sorted and written in block style, so the block is the
    first key of the top-level `spec`, and the next is `instancetype`, `preference` or
    `runStrategy` (always written); any other line at that indentation belongs to a list item
    ("  - ") or is deeper, scalars with line breaks included. The same text there is the same
    disks, with no YAML parse: a change of every VM file (a new render format) then costs a
    search per file, not a parse."""
    start = data.find(b"\nspec:\n")
    if start < 0:
        return None
    spec = data[start + 7 :]
    if _AFTER_DISKS.match(spec):
        return b""  # no disks of its own
    end = _AFTER_DISKS.search(spec)
    return spec[: end.start()] if spec.startswith(b"  dataVolumeTemplates:\n") and end else None


def load_vm(data: bytes) -> Obj | None:
    """The manifest, or None when it is no VirtualMachine any more (edited by hand)."""
    try:
        manifest = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    ok = isinstance(manifest, dict) and manifest.get("kind") == "VirtualMachine"
    return manifest if ok else None


def before_of(key: str, manifest: Obj, file: str = "", line: int = 0) -> Before:
    annotations = dig(manifest, "metadata", "annotations") or {}
    templates = {}
    for template in dig(manifest, "spec", "dataVolumeTemplates") or []:
        name = dig(template, "metadata", "name") if isinstance(template, dict) else None
        if isinstance(name, str):
            templates[name] = template.get("spec") or {}
    options = str(annotations.get(SYNC_OPTIONS) or "").split(",")
    return Before(
        key,
        str(annotations.get(SOURCE_ANNOTATION) or ""),
        templates,
        tuple(o.strip() for o in options if o.strip()),
        file,
        line,
    )
