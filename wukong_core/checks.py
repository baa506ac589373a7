"""Offline checks: specs and plans -> findings, one spec at a time and across the repo. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .findings import Finding
from .load import LoadedSpec
from .plan import MAX_NAME, VmPlan

IMAGE_SCHEMES = ("docker://", "http://", "https://")
RESERVED_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/name")


def check_spec(loaded: LoadedSpec, namespace: str) -> list[Finding]:
    """Rules a single spec must pass before it can be planned."""
    spec, file = loaded.spec, loaded.file
    obj = f"{namespace}/{spec.metadata.name}"
    findings: list[Finding] = []

    def add(code: str, index: int, message: str) -> None:
        findings.append(Finding(code, message, file, loaded.disk_lines[index], obj))

    seen: set[str] = set()
    for i, disk in enumerate(spec.spec.disks):
        where = f"disk {disk.name!r} of VM {obj}"
        if disk.name in seen:
            add("disk.duplicate-name", i, f"{where}: another disk has this name; rename one")
        seen.add(disk.name)
        pvc = disk.existingPVC
        if pvc is not None and disk.image is not None:
            add(
                "disk.conflicting-source",
                i,
                f"{where} sets both image and existingPVC; keep exactly one source",
            )
            continue
        attached = pvc is not None and not pvc.clone and (pvc.namespace or namespace) == namespace
        if pvc is None and disk.size is None:
            kind = "an image" if disk.image is not None else "a blank"
            add("disk.size-required", i, f"{where} is {kind} disk and needs size (e.g. 20Gi)")
        ignored = [f for f in ("storageClass", "accessMode", "volumeMode") if getattr(disk, f)]
        if attached and ignored:
            add(
                "spec.invalid",
                i,
                f"{where} attaches PVC {pvc.name!r}, whose {', '.join(ignored)} are its own; "
                "remove them (or set existingPVC.clone: true to copy it into a new disk)",
            )
        if attached and disk.size is not None:
            add(
                "disk.size-not-allowed",
                i,
                f"{where} attaches PVC {pvc.name!r} whose size is its own; remove size "
                "(or set existingPVC.clone: true to copy it into a new disk of that size)",
            )
        if disk.image is not None and not disk.image.startswith(IMAGE_SCHEMES):
            add(
                "disk.unsupported-image",
                i,
                f"{where}: image {disk.image!r} must start with docker:// (a registry image) "
                "or http:// / https:// (a disk image file)",
            )
    reserved = sorted(set(spec.metadata.labels) & set(RESERVED_LABELS))
    if reserved:
        findings.append(
            Finding(
                "spec.invalid",
                f"metadata.labels: {', '.join(reserved)} is set by Wukong on every VM it "
                "renders; remove it",
                file,
                loaded.line,
                obj,
            )
        )
    # Only `boot: true` can choose two disks; two disks named system are disk.duplicate-name.
    flagged = [i for i, d in enumerate(spec.spec.disks) if d.boot]
    if len(flagged) > 1:
        boots = ", ".join(spec.spec.disks[i].name for i in flagged)
        add("boot.multiple", flagged[1], f"VM {obj} has boot: true on {boots}; keep one")
    return findings


def check_plan(plan: VmPlan) -> list[Finding]:
    findings: list[Finding] = []
    if plan.empty:
        findings.append(
            Finding(
                "vm.empty",
                f"VM {plan.key} has no boot disk with an operating system; it starts without "
                "one (mark a disk boot: true, or name it system, to boot from it)",
                plan.file,
                plan.line,
                plan.key,
            )
        )
    for disk in plan.disks:
        if len(disk.dv_name) > MAX_NAME:
            findings.append(
                Finding(
                    "name.too-long",
                    f"generated name {disk.dv_name!r} (VM {plan.name!r} + disk {disk.name!r}) "
                    f"is {len(disk.dv_name)} characters, over {MAX_NAME}; shorten either name",
                    plan.file,
                    disk.line,
                    plan.key,
                )
            )
        if disk.kind == "clone" and disk.pvc_namespace != plan.namespace:
            findings.append(
                Finding(
                    "clone.cross-namespace",
                    f"disk {disk.name!r} of VM {plan.key} clones PVC "
                    f"{disk.pvc_namespace}/{disk.pvc_name} into {plan.namespace}/{disk.dv_name}; "
                    f"CDI needs 'create' on cdi.kubevirt.io datavolumes/source in "
                    f"{disk.pvc_namespace!r} for the VM's ServiceAccount ('default' of "
                    f"{plan.namespace!r} unless set) and whoever applies the VM (Argo CD): "
                    f"a RoleBinding in {disk.pvc_namespace!r}",
                    plan.file,
                    disk.line,
                    plan.key,
                )
            )
    return findings


def check_repo(plans: Iterable[VmPlan]) -> list[Finding]:
    """Rules across every spec in the repository."""
    plans = list(plans)
    return [*_duplicate_vms(plans), *_name_collisions(plans), *_shared_pvcs(plans)]


def _duplicate_vms(plans: list[VmPlan]) -> list[Finding]:
    first: dict[str, VmPlan] = {}
    findings = []
    for plan in plans:
        if plan.key in first:
            other = first[plan.key]
            findings.append(
                Finding(
                    "spec.duplicate-vm",
                    f"VM {plan.key} is defined twice: here and at {other.file}:{other.line}; "
                    "rename or remove one",
                    plan.file,
                    plan.line,
                    plan.key,
                )
            )
        else:
            first[plan.key] = plan
    return findings


def _name_collisions(plans: list[VmPlan]) -> list[Finding]:
    owners: dict[tuple[str, str], list[tuple[VmPlan, str, int]]] = defaultdict(list)
    for plan in plans:
        for disk in plan.disks:
            if disk.dv_name:
                owners[(plan.namespace, disk.dv_name)].append((plan, disk.name, disk.line))
    findings = []
    for (namespace, name), users in owners.items():
        # One VM defined twice is spec.duplicate-vm already; do not report each disk again.
        if len({p.key for p, _, _ in users}) < 2:
            continue
        described = "; ".join(f"VM {p.name} disk {d} ({p.file}:{line})" for p, d, line in users)
        for plan, _, line in users[1:]:
            findings.append(
                Finding(
                    "name.collision",
                    f"generated name {namespace}/{name} is produced by {described}; "
                    "rename one of the disks or VMs",
                    plan.file,
                    line,
                    plan.key,
                )
            )
    return findings


def _shared_pvcs(plans: list[VmPlan]) -> list[Finding]:
    users: dict[tuple[str, str], list[tuple[VmPlan, bool, int]]] = defaultdict(list)
    for plan in plans:
        for disk in plan.disks:
            if disk.kind == "attach":
                users[(disk.pvc_namespace, disk.pvc_name)].append((plan, disk.read_only, disk.line))
    findings = []
    for (namespace, name), uses in users.items():
        vms = {p.key for p, _, _ in uses}
        if len(vms) < 2 or all(read_only for _, read_only, _ in uses):
            continue
        writers = sorted({p.key for p, read_only, _ in uses if not read_only})
        for plan, _, line in uses:
            others = sorted(vms - {plan.key})
            findings.append(
                Finding(
                    "pvc.shared-in-repo",
                    f"PVC {namespace}/{name} is attached by {plan.key} and {', '.join(others)}, "
                    f"and {', '.join(writers)} writes to it; a disk written by one VM cannot be "
                    "shared: mount it readOnly everywhere, or clone it (existingPVC.clone: true)",
                    plan.file,
                    line,
                    plan.key,
                )
            )
    return findings
