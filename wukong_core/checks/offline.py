"""Offline checks: specs and plans -> findings, one spec at a time and across the repo. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from wukong_core.checks.machine import cloud_init_disk_taken, machine_problems
from wukong_core.checks.permissions import cross_namespace_clone
from wukong_core.findings import Finding
from wukong_core.plan import CLOUD_INIT_DISK, MAX_NAME, DiskPlan, VmPlan
from wukong_core.spec.load import LoadedSpec
from wukong_core.spec.models import Disk

IMAGE_SCHEMES = ("docker://", "http://", "https://")
RESERVED_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/name")


def check_spec(loaded: LoadedSpec, namespace: str) -> list[Finding]:
    """Rules a single spec must pass before it can be planned."""
    spec, file = loaded.spec, loaded.file
    obj = f"{namespace}/{spec.metadata.name}"
    findings: list[Finding] = []

    def add(code: str, index: int, message: str, field: str = "") -> None:
        line = loaded.field_line(index, field) if field else loaded.disk_lines[index]
        findings.append(Finding(code, message, file, line, obj))

    seen: set[str] = set()
    for i, disk in enumerate(spec.spec.disks):
        where = f"disk {disk.name!r} of VM {obj}"
        if disk.name in seen:
            message = f"{where}: another disk has this name; rename one"
            add("disk.duplicate-name", i, message, "name")
        seen.add(disk.name)
        pvc = disk.existingPVC
        sources = [f for f in ("image", "existingPVC", "dataSource") if getattr(disk, f)]
        if len(sources) > 1:
            last = max(sources, key=lambda f: loaded.field_line(i, f))
            named = " and ".join([", ".join(sources[:-1]), sources[-1]])
            add(
                "disk.conflicting-source",
                i,
                f"{where} sets {'both ' if len(sources) == 2 else ''}{named}; keep exactly "
                "one source",
                last,
            )
            continue
        attached = pvc is not None and not pvc.clone and (pvc.namespace or namespace) == namespace
        # A CD-ROM with no source is disk.cdrom-invalid: no size would make it right.
        blank = not sources and disk.device == "disk"
        if disk.size is None and (disk.image is not None or blank):
            kind = "an image" if disk.image is not None else "a blank"
            add("disk.size-required", i, f"{where} is {kind} disk and needs size (e.g. 20Gi)")
        ignored = [f for f in ("storageClass", "accessMode", "volumeMode") if getattr(disk, f)]
        if attached and ignored:
            add(
                "spec.invalid",
                i,
                f"{where} attaches PVC {pvc.name!r}, whose {', '.join(ignored)} are its own; "
                "remove them (or set existingPVC.clone: true to copy it into a new disk)",
                min(ignored, key=lambda f: loaded.field_line(i, f)),
            )
        if attached and disk.size is not None:
            add(
                "disk.size-not-allowed",
                i,
                f"{where} attaches PVC {pvc.name!r} whose size is its own; remove size "
                "(or set existingPVC.clone: true to copy it into a new disk of that size)",
                "size",
            )
        if disk.image is not None and not disk.image.startswith(IMAGE_SCHEMES):
            add(
                "disk.unsupported-image",
                i,
                f"{where}: image {disk.image!r} must start with docker:// (a registry image) "
                "or http:// / https:// (a disk image file)",
                "image",
            )
        for code, message, field in _device_problems(disk, where):
            add(code, i, message, field)
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
    for code, index, message, field in _boot_problems(spec.spec.disks, obj):
        add(code, index, message, field)
    taken = cloud_init_disk_taken(spec.spec)
    if taken is not None:
        message = (
            f"disk {CLOUD_INIT_DISK!r} of VM {obj} has the name of the disk that carries "
            "cloudInit's data, which Wukong adds; rename this disk"
        )
        add("disk.duplicate-name", taken, message, "name")
    for code, message, path in machine_problems(spec.spec, obj):
        findings.append(Finding(code, message, file, loaded.spec_line(path), obj))
    return findings


def _device_problems(disk: Disk, where: str) -> list[tuple[str, str, str]]:
    """(code, message, field) for a device KubeVirt's admission refuses (its disk validation:
    no virtio CD-ROM, no read-only sata hard disk), or a CD-ROM with nothing to read."""
    read_only = disk.existingPVC.readOnly if disk.existingPVC else None
    if disk.device == "disk":
        if disk.bus == "sata" and read_only:
            return [
                (
                    "disk.readonly-bus",
                    f"{where} is read-only on the sata bus, which KubeVirt refuses (sata hard "
                    "disks do not support read-only): use bus: virtio or scsi, or device: cdrom "
                    "for an installer ISO",
                    "bus",
                )
            ]
        return []
    problems = []
    if disk.image is None and disk.existingPVC is None and disk.dataSource is None:
        problems.append(
            (
                "disk.cdrom-invalid",
                f"{where} is a CD-ROM with nothing in it: give it an image, an existingPVC or a "
                "dataSource (a new empty disk is device: disk)",
                "device",
            )
        )
    if disk.bus == "virtio":
        problems.append(
            (
                "disk.cdrom-invalid",
                f"{where} is a CD-ROM on the virtio bus, which KubeVirt refuses: use bus: sata "
                "(the default for a CD-ROM) or scsi",
                "bus",
            )
        )
    if read_only is False:
        problems.append(
            (
                "disk.cdrom-invalid",
                f"{where} is a CD-ROM, which is always read-only: remove readOnly: false (or "
                "use device: disk to write to it)",
                "existingPVC.readOnly",
            )
        )
    return problems


def _boot_problems(disks: list[Disk], obj: str) -> list[tuple[str, int, str, str]]:
    """(code, disk index, message, field): a disk that says two things about booting, and two
    disks at one place of the boot sequence (KubeVirt refuses a bootOrder given twice)."""
    problems = []
    at: dict[int, list[int]] = defaultdict(list)
    for i, disk in enumerate(disks):
        if disk.boot is None and disk.bootOrder is None:
            continue
        order = disk.bootOrder or (1 if disk.boot else 0)
        if order:
            at[order].append(i)
        contradicts = disk.boot is False or (disk.boot and disk.bootOrder != 1)
        if disk.bootOrder is not None and contradicts:
            said = "boot: true (bootOrder 1)" if disk.boot else "boot: false"
            problems.append(
                (
                    "spec.invalid",
                    i,
                    f"disk {disk.name!r} of VM {obj} sets {said} and bootOrder {disk.bootOrder}; "
                    "keep bootOrder alone",
                    "bootOrder",
                )
            )
    for order, indexes in sorted(at.items()):
        if len(indexes) < 2:
            continue
        chosen = [disks[i] for i in indexes]
        if all(d.bootOrder is None for d in chosen):
            message = f"VM {obj} has boot: true on {', '.join(d.name for d in chosen)}; keep one"
        else:
            described = ", ".join(
                f"{d.name} ({'bootOrder: ' + str(d.bootOrder) if d.bootOrder else 'boot: true'})"
                for d in chosen
            )
            message = (
                f"VM {obj} has bootOrder {order} on {described}; give each disk its own "
                "bootOrder (boot: true is bootOrder 1)"
            )
        second = chosen[1]
        problems.append(
            ("boot.multiple", indexes[1], message, "bootOrder" if second.bootOrder else "boot")
        )
    return problems


def check_plan(plan: VmPlan) -> list[Finding]:
    findings: list[Finding] = []
    boot = _empty_vm(plan) or _boot_missing(plan)
    if boot is not None:
        findings.append(boot)
    for disk in plan.disks:
        if len(disk.dv_name) > MAX_NAME:
            findings.append(
                Finding(
                    "name.too-long",
                    f"generated name {disk.dv_name!r} (VM {plan.name!r} + disk {disk.name!r}) "
                    f"is {len(disk.dv_name)} characters, over {MAX_NAME}; shorten either name",
                    plan.file,
                    disk.field_line("name"),
                    plan.key,
                )
            )
        if disk.kind in ("clone", "datasource") and disk.pvc_namespace != plan.namespace:
            findings.append(cross_namespace_clone(plan, disk, disk.pvc_namespace))
    return findings


def _empty_vm(plan: VmPlan) -> Finding | None:
    """vm.empty: no disk brings an operating system (when one does but KubeVirt never tries it,
    that is boot.missing)."""
    if any(d.os_source for d in plan.disks):
        return None
    # Only possible when no disk has a bootOrder: KubeVirt tries them, whatever they hold.
    attached = [d for d in plan.boot_sequence if d.kind == "attach"]
    hint = "mark a disk boot: true, or name it system, to boot from it"
    if attached:
        disk = attached[0]
        hint = (
            f"unless PVC {disk.pvc_namespace}/{disk.pvc_name} of disk {disk.name!r} holds one: "
            "then mark that disk boot: true"
        )
    return Finding(
        "vm.empty",
        f"VM {plan.key} has no boot disk with an operating system; it starts without one ({hint})",
        plan.file,
        plan.line,
        plan.key,
    )


def _boot_missing(plan: VmPlan) -> Finding | None:
    """boot.missing: a disk brings an operating system, and KubeVirt would try a disk without
    one first (no disk has a bootOrder, so they go as listed) or never try it at all (other
    disks have a bootOrder and it has none)."""
    if any(d.boot_order for d in plan.disks):
        if not plan.empty:
            return None
        skipped = next(d for d in plan.disks if d.os_source)  # not empty: one brings an OS
        tried = ", ".join(f"{d.name!r} (bootOrder {d.boot_order})" for d in plan.boot_sequence)
        return Finding(
            "boot.missing",
            f"VM {plan.key} boots only from the disks with a bootOrder: {tried}, which bring no "
            f"operating system, while disk {skipped.name!r}, {_os_source(skipped)}, has none, "
            f"so KubeVirt never tries it; give {skipped.name!r} a bootOrder to boot from it",
            plan.file,
            skipped.line,
            plan.key,
        )
    if not plan.disks or plan.disks[0].os_source:
        return None
    first = plan.disks[0]
    later = next((d for d in plan.disks[1:] if d.os_source), None)
    if later is None:
        return None
    holds = "is blank" if first.kind == "blank" else f"attaches PVC {first.pvc_name!r}"
    return Finding(
        "boot.missing",
        f"VM {plan.key} marks no disk to boot, so KubeVirt tries its disks in the order listed: "
        f"first {first.name!r}, which {holds}, before {later.name!r}, {_os_source(later)}; "
        f"mark {later.name!r} boot: true (or give the disks bootOrder), or list it first",
        plan.file,
        later.line,
        plan.key,
    )


def _os_source(disk: DiskPlan) -> str:
    if disk.device == "cdrom":
        return "a CD-ROM"
    if disk.kind == "import":
        return f"which imports {disk.image}"
    if disk.kind == "datasource":
        return f"a clone of DataSource {disk.pvc_namespace}/{disk.pvc_name}"
    return f"a clone of PVC {disk.pvc_namespace}/{disk.pvc_name}"


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
    # Every push checks every disk of the repository: only a clash builds a list.
    first: dict[tuple[str, str], tuple[VmPlan, DiskPlan]] = {}
    clashes: dict[tuple[str, str], list[tuple[VmPlan, DiskPlan]]] = {}
    for plan in plans:
        for disk in plan.disks:
            if disk.dv_name:
                key = (plan.namespace, disk.dv_name)
                owner = first.setdefault(key, (plan, disk))
                if owner[1] is not disk:
                    clashes.setdefault(key, [owner]).append((plan, disk))
    findings = []
    for (namespace, name), owners in clashes.items():
        # One VM defined twice is spec.duplicate-vm already; do not report each disk again.
        if len({p.key for p, _ in owners}) < 2:
            continue
        users = [(p, d.name, d.field_line("name")) for p, d in owners]
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
    users: dict[tuple[str, str], list[tuple[VmPlan, DiskPlan]]] = defaultdict(list)
    for plan in plans:
        for disk in plan.disks:
            if disk.kind == "attach":
                users[(disk.pvc_namespace, disk.pvc_name)].append((plan, disk))
    findings = []
    for (namespace, name), uses in users.items():
        if len(uses) < 2:
            continue
        vms = {p.key for p, _ in uses}
        if len(vms) < 2 or all(d.read_only for _, d in uses):
            continue
        writers = sorted({p.key for p, d in uses if not d.read_only})
        for plan, disk in uses:
            others = sorted(vms - {plan.key})
            findings.append(
                Finding(
                    "pvc.shared-in-repo",
                    f"PVC {namespace}/{name} is attached by {plan.key} and {', '.join(others)}, "
                    f"and {', '.join(writers)} writes to it; a disk written by one VM cannot be "
                    "shared: mount it readOnly everywhere, or clone it (existingPVC.clone: true)",
                    plan.file,
                    disk.source_line,
                    plan.key,
                )
            )
    return findings
