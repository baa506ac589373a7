"""Data safety: what a render does to the disks of the VMs it replaces. Pure; no I/O.

Every new disk is a dataVolumeTemplate, so the VM owns its DataVolume and the DataVolume owns its
PVC: when Argo CD prunes the VM (its spec deleted, renamed, moved to another namespace),
Kubernetes garbage-collects those disks. And KubeVirt creates a VM's DataVolumes only when they
are missing, never updating one (virt-controller `handleDataVolumes`), so an edit of an existing
disk's image, size or storage settings changes the manifest and nothing else. The render sees
both states, before and after; this module says what changes for data:

    vm.removed           a VM that owned disks is no longer rendered
    vm.renamed           its spec file renders a VM of another name or namespace instead
    disk.change-ignored  the template of a DataVolume that exists already changes

`compare_output` compares with the previous output folder (`wukong render -o OUT`, commit-back's
parent commit), `compare_cluster` with the VirtualMachines in the cluster (the PreSync Job). The
cluster is read through the run's `Reads`, which the cluster checks share: each list is read
once, and a read that fails is reported by those checks, never here.
Only what changed is parsed: a VM file the render writes again byte for byte is the same VM (a
commit-back keeps every VM file whose render stamp still holds), and one whose
dataVolumeTemplates text is unchanged has the same disks. A push that edits 20 of 10,000 specs
parses only the files whose disks it changed; a new render format, which rewrites every VM
file, costs a text search per file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from wukong_core.checks.before import (
    Before,
    before_of,
    disks_text,
    is_vm_file,
    load_vm,
    vm_key,
    vm_path_key,
)
from wukong_core.checks.cdi_storage import chosen_class
from wukong_core.checks.reads import Reads
from wukong_core.findings import Finding
from wukong_core.folder import Folder, as_folder, blob_id
from wukong_core.objects import Obj, dig, obj_labels, obj_name
from wukong_core.plan import DiskPlan, VmPlan
from wukong_core.render.manifests import (
    MANAGED_BY,
    render_datavolume_template,
    render_vm,
)
from wukong_core.spec.quantity import parse_quantity

CODES = ("vm.removed", "vm.renamed", "disk.change-ignored")  # what a render does to data


def compare_output(
    previous: Folder | Mapping[str, bytes],
    files: Mapping[str, bytes],
    plans: Sequence[VmPlan],
    output: str = "",
    cluster: Reads | None = None,
    kept: Mapping[str, str] | None = None,
    made_from: Callable[[str], VmPlan | None] | None = None,
) -> list[Finding]:
    """Findings for replacing `previous` (what the output folder holds, by relative path) with
    `files` (this render of `plans`; `kept`: the VM files it keeps by blob id, unread).
    `output` is the folder as the user names it ("rendered/"): a vm.removed finding points at
    line 1 of the removed manifest, `<output><ns>/<vm>.yaml`, whose header names the spec it
    came from, since no spec holds that VM any more. `cluster`, when given, is asked whether a
    changed disk exists yet and may grow. A changed VM file that `made_from` knows (blob id ->
    the plan it was rendered from) is that plan's manifest, unread; the others are read in one
    go.
    """
    folder = as_folder(previous)
    kept = kept or {}
    by_key = {plan.key: plan for plan in plans}
    keys: set[str] = set()
    befores: list[Before] = []
    changed: list[str] = []
    for path, blob in folder.ids.items():
        key = vm_path_key(path)
        if key is None:
            continue
        new = files.get(path)
        if new is not None and not is_vm_file(new):
            continue  # written now as a PreSync hook: its old bytes are never read for that
        old = folder.peek(path)
        if path in kept or (new is not None and new == old):
            keys.add(key)  # kept, or written again byte for byte: the same VM
        elif old is None and new is not None and blob_id(new) == blob:
            keys.add(key)
        elif (plan := made_from(blob) if made_from and old is None else None) is not None:
            keys.add(key)
            if not _same_disks(plan, by_key.get(key)):
                befores.append(before_of(key, render_vm(plan), f"{output}{path}", 1))
        else:
            changed.append(path)
    for path, old in folder.read(changed).items():
        key = vm_key(path, old)
        if key is None:
            continue
        keys.add(key)
        new = files.get(path)
        disks = disks_text(old)
        if new is not None and disks is not None and disks == disks_text(new):
            continue  # another CPU count, a new Wukong release: the same disks
        manifest = load_vm(old)
        if manifest is not None:
            befores.append(before_of(key, manifest, f"{output}{path}", 1))
    return _compare(befores, keys, plans, cluster)


def _same_disks(old: VmPlan, new: VmPlan | None) -> bool:
    """The VM keeps its name and the very dataVolumeTemplates (the disks it owns)."""
    return new is not None and _templates(old) == _templates(new)


def _templates(plan: VmPlan) -> list[Obj]:
    return [render_datavolume_template(d, plan.name) for d in plan.disks if d.new_storage]


def compare_cluster(plans: Sequence[VmPlan], cluster: Reads) -> list[Finding]:
    """Findings for syncing `plans` over the Wukong VMs live in their namespaces: the PreSync
    Job's view, which sees what this sync will prune however many renders came in between. A
    namespace whose VMs could not be listed is skipped (the cluster checks report that read)."""
    befores: list[Before] = []
    for namespace in sorted({plan.namespace for plan in plans}):
        for name, vm in sorted((cluster.get("virtualmachines", namespace) or {}).items()):
            managed = obj_labels(vm).items() >= MANAGED_BY.items()
            if managed and not dig(vm, "metadata", "deletionTimestamp"):
                befores.append(before_of(f"{namespace}/{name}", vm))
    return _compare(befores, {b.key for b in befores}, plans, cluster)


def _compare(
    befores: Iterable[Before], keys: set[str], plans: Sequence[VmPlan], cluster: Reads | None
) -> list[Finding]:
    by_key = {plan.key: plan for plan in plans}
    arrivals: dict[str, list[VmPlan]] = defaultdict(list)  # spec file -> its VMs new here
    for plan in plans:
        if plan.key not in keys:
            arrivals[plan.file].append(plan)
    findings: list[Finding] = []
    for before in befores:
        plan = by_key.get(before.key)
        if plan is not None:
            findings += _changed_disks(before, plan, cluster)
        elif before.templates:  # a VM without disks of its own takes no data with it
            successors = sorted(arrivals.get(before.source, []), key=lambda p: p.line)
            findings.append(_renamed(before, successors) if successors else _removed(before))
    return sorted(findings, key=Finding.sort_key)


# --- removed and renamed VMs ---------------------------------------------------------------------


def _claims(before: Before) -> str:
    names = ", ".join(f"{before.namespace}/{name}" for name in sorted(before.templates))
    return f"PersistentVolumeClaim{'s' if len(before.templates) > 1 else ''} {names}"


def _orphan(before: Before) -> str:
    """How to take the disks out of the prune. Not by deleting ownerReferences: while the VM
    exists, KubeVirt adopts every orphan DataVolume its templates name again (virt-controller
    `ClaimMatchedDataVolumes`). Deleting the VM with orphan propagation unowns them for good."""
    namespace, _, name = before.key.partition("/")
    return (
        f"orphan them before the prune: stop the VM, then delete it yourself with `kubectl "
        f"delete vm {name} -n {namespace} --cascade=orphan` (its DataVolumes and PVCs stay, "
        "unowned), or let Argo CD prune with PrunePropagationPolicy=orphan"
    )


def _fate(before: Before) -> str:
    """What Argo CD does to the VM and its disks, by the sync options the VM carries."""
    claims = _claims(before)
    if "Prune=false" in before.options:
        return (
            f"Argo CD will not prune it (Prune=false): it stays, OutOfSync, with its disks "
            f"({claims}), and deleting it by hand deletes them"
        )
    if "Prune=confirm" in before.options:
        return (
            f"once its prune is confirmed, Argo CD deletes it and the disks it owns with it "
            f"({claims}); while the prune waits for confirmation, the Application's sync "
            "stays running and holds back its other changes"
        )
    return (
        f"the next sync that prunes deletes it and the disks it owns with it ({claims}), "
        "without asking anyone: it carries no Prune=confirm"
    )


def _removed(before: Before) -> Finding:
    came = f" (from {before.source})" if before.source else ""
    message = (
        f"VM {before.key}{came} is no longer rendered: {_fate(before)}. To keep the disks, "
        f"restore its spec, or {_orphan(before)}"
    )
    return Finding("vm.removed", message, before.file, before.line, before.key)


def _renamed(before: Before, successors: list[VmPlan]) -> Finding:
    first = successors[0]
    new = ", ".join(f"VM {plan.key}" for plan in successors)
    moved = all(plan.namespace != before.namespace for plan in successors)
    attach = (
        f"then give the new VM disks with existingPVC (namespace: {before.namespace}: from "
        "another namespace they are cloned)"
        if moved
        else "then attach them to the new VM with existingPVC"
    )
    message = (
        f"{first.file} now renders {new} instead of VM {before.key}; the new VM gets new disks "
        f"and the old one is pruned: {_fate(before)}. To keep the data: the old PVCs are owned "
        "(PVC -> DataVolume -> VirtualMachine), so the prune deletes them even when the new VM "
        f"attaches them; {_orphan(before)}; {attach}"
    )
    return Finding("vm.renamed", message, first.file, first.line, first.key)


# --- changed disks -------------------------------------------------------------------------------


def _changed_disks(before: Before, plan: VmPlan, cluster: Reads | None) -> list[Finding]:
    findings = []
    for disk in plan.disks:
        old = before.templates.get(disk.dv_name) if disk.kind != "attach" else None
        if old is None:
            continue  # a new disk: KubeVirt creates its DataVolume
        new = render_datavolume_template(disk, plan.name)["spec"]
        changes = _changes(old, new)
        if not changes or (cluster and _absent(cluster, plan.namespace, disk.dv_name)):
            continue  # nothing changed, or not created yet: the new template is what counts
        fixes = _fixes(plan, disk, old, changes, cluster)
        message = (
            f"disk {disk.name!r} of VM {plan.key} changes {', '.join(_said(changes))}, but its "
            f"DataVolume {plan.namespace}/{disk.dv_name} exists already and KubeVirt creates "
            f"a VM's DataVolumes only when they are missing: the change will not take effect. "
            f"{fixes}"
        )
        first = next(iter(changes))  # the first change, at the line of its field
        line = disk.source_line if first == "source" else disk.field_line(first)
        findings.append(Finding("disk.change-ignored", message, plan.file, line, plan.key))
    return findings


# field as the spec names it -> (old, new), both as the spec would write them ("" when unset)
_Changes = dict[str, tuple[str, str]]


def _changes(old: Obj, new: Obj) -> _Changes:
    changes: _Changes = {}
    if (old.get("source"), old.get("sourceRef")) != (new.get("source"), new.get("sourceRef")):
        image = all("url" in (_only(s) or {}) for s in (old.get("source"), new.get("source")))
        changes["image" if image else "source"] = (_source(old), _source(new))
    old_size, new_size = _size(old), _size(new)
    if not _same_quantity(old_size, new_size):
        changes["size"] = (old_size, new_size)
    for field, key in (("storageClass", "storageClassName"), ("volumeMode", "volumeMode")):
        before, after = _storage(old, key), _storage(new, key)
        if before != after:
            changes[field] = (str(before or ""), str(after or ""))
    old_modes, new_modes = _storage(old, "accessModes"), _storage(new, "accessModes")
    if (old_modes or []) != (new_modes or []):
        changes["accessMode"] = (",".join(old_modes or []), ",".join(new_modes or []))
    return changes


def _said(changes: _Changes) -> Iterable[str]:
    for field, (old, new) in changes.items():
        yield f"{field} {old or 'unset'} -> {new or 'unset'}"


def _only(source: Any) -> Obj | None:
    """The one source of a DataVolume template (`{registry: {...}}` -> `{...}`)."""
    if isinstance(source, dict) and len(source) == 1:
        value = next(iter(source.values()))
        return value if isinstance(value, dict) else None
    return None


def _source(spec: Obj) -> str:
    ref = spec.get("sourceRef")
    if isinstance(ref, dict):
        return f"{ref.get('kind')} {ref.get('namespace')}/{ref.get('name')}"
    source = spec.get("source")
    kind = next(iter(source), "") if isinstance(source, dict) and len(source) == 1 else ""
    detail = _only(source) or {}
    if "url" in detail:
        return str(detail["url"])
    if kind == "pvc":
        return f"a clone of PVC {detail.get('namespace')}/{detail.get('name')}"
    return kind or "unset"


def _storage(spec: Obj, key: str) -> Any:
    return dig(spec, "storage", key)


def _size(spec: Obj) -> str:
    return str(dig(spec, "storage", "resources", "requests", "storage") or "")


def _same_quantity(old: str, new: str) -> bool:
    try:
        return parse_quantity(old) == parse_quantity(new) if old and new else old == new
    except ValueError:
        return old == new


def _grows(old: str, new: str) -> bool:
    try:
        return bool(old and new) and parse_quantity(new) > parse_quantity(old)
    except ValueError:
        return False


def _fixes(plan: VmPlan, disk: DiskPlan, old: Obj, changes: _Changes, cluster: Reads | None) -> str:
    fixes = []
    for field in changes.keys() & {"image", "source"}:
        fixes.append(
            f"To start from the new {field}, add it as a disk of another name (this one keeps "
            "its data until you remove it)."
        )
    if "size" in changes:
        before, after = changes["size"]
        if _grows(before, after):
            fixes.append(_grow(plan, disk, old, after, cluster))
        else:
            fixes.append("A PVC cannot shrink: keep the size, or copy the data to a new disk.")
    if changes.keys() & {"storageClass", "accessMode", "volumeMode"}:
        fixes.append(
            "A PVC keeps its StorageClass, access mode and volume mode: to move the data, "
            f"clone it into a disk of another name (existingPVC: {{name: {disk.dv_name}, "
            "clone: true}) with the new settings."
        )
    return " ".join(fixes)


def _grow(plan: VmPlan, disk: DiskPlan, old: Obj, size: str, cluster: Reads | None) -> str:
    request = {"spec": {"resources": {"requests": {"storage": size}}}}
    patch = json.dumps(request, separators=(",", ":"))
    expand = (
        f"To grow it, expand the PVC: kubectl patch pvc {disk.dv_name} -n {plan.namespace} "
        f"--type merge -p '{patch}'"
    )
    guest = "the guest sees the larger disk only with KubeVirt's ExpandDisks feature gate."
    name, allowed = (
        _expansion(cluster, plan.namespace, disk.dv_name, old) if cluster else ("", None)
    )
    if allowed is None:
        why = "no cluster to check" if cluster is None else "its StorageClass is unknown"
        return (
            f"{expand}; its StorageClass must set allowVolumeExpansion: true ({why}), and {guest}"
        )
    if allowed:
        return f"{expand} (StorageClass {name} allows volume expansion); {guest}"
    return (
        f"StorageClass {name} does not allow volume expansion (allowVolumeExpansion is not "
        "true), so the PVC cannot grow: add another disk, or clone this one into a larger disk "
        "of another name."
    )


# --- the cluster ---------------------------------------------------------------------------------


def _absent(cluster: Reads, namespace: str, name: str) -> bool:
    """Neither DataVolume nor PVC `name` exists (both lists read)."""
    found = [cluster.get(r, namespace) for r in ("datavolumes", "persistentvolumeclaims")]
    return all(objs is not None and name not in objs for objs in found)


def _expansion(
    cluster: Reads, namespace: str, claim: str, template: Obj
) -> tuple[str, bool | None]:
    """The StorageClass of PVC `claim` (else the one its template names, else the default CDI
    picks) and whether it allows volume expansion; None when that is unknown."""
    pvc = (cluster.get("persistentvolumeclaims", namespace) or {}).get(claim)
    name = dig(pvc or {}, "spec", "storageClassName") or _storage(template, "storageClassName")
    classes = cluster.get("storageclasses", None)
    if classes is None:
        return "", None
    storage_class = chosen_class(name, classes)
    if storage_class is None:
        return name or "", None
    return obj_name(storage_class), storage_class.get("allowVolumeExpansion") is True
