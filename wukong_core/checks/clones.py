"""Clone sources, as CDI v1.63 checks them before it clones (clone.IsSourceClaimReady,
planner.validateSourcePVC): the source exists, is Bound and populated, no running pod writes it,
and the target is not smaller. Pure: read through `reads.Context`.
"""

from __future__ import annotations

from wukong_core.checks.cdi_storage import clone_too_small, filesystem_overhead, target_volume_mode
from wukong_core.checks.pvc_state import (
    binds_on_first_use,
    cdi_filling,
    check_state,
    existing_pvc,
)
from wukong_core.checks.reads import Context, Where, finding
from wukong_core.findings import Finding
from wukong_core.objects import Obj, dig
from wukong_core.plan import DiskPlan, VmPlan


def check_clone_source(ctx: Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    """What CDI checks before it clones (clone.IsSourceClaimReady, planner.validateSourcePVC):
    the source exists, is Bound and populated, no running pod writes it, the target is not
    smaller."""
    found = existing_pvc(ctx, plan, disk)
    if found is None:
        return []
    pvc, ref = found
    if pvc is None:
        message = f'disk "{disk.name}" clones {ref}, which does not exist; correct existingPVC'
        return [finding("pvc.not-found", message, plan, disk.source_line)]
    not_ready = check_state(plan, disk, pvc, f"clone source {ref}")
    if not_ready:
        return not_ready
    out = check_clone_size(ctx, plan, disk, pvc, ref)
    where = Where(plan, disk.source_line)
    filling = cdi_filling(ctx, disk.pvc_namespace, disk.pvc_name, pvc, where)
    if filling and not filling.waits:
        message = (
            f'clone source {ref} (disk "{disk.name}") is still being populated: '
            f"{filling.state}; {filling.done(disk.pvc_namespace, disk.pvc_name, 'CDI clones it')}"
        )
        return [*out, finding("pvc.populating", message, plan, disk.source_line)]
    phase = dig(pvc, "status", "phase")
    if phase != "Bound":
        why = (
            f"{filling.state}: it binds only when a pod uses it"
            if filling
            else "its StorageClass binds on first use (WaitForFirstConsumer), and nothing uses it"
            if binds_on_first_use(ctx, pvc, where)
            else f"see `kubectl describe pvc -n {disk.pvc_namespace} {disk.pvc_name}`"
        )
        message = (
            f'disk "{disk.name}" clones {ref}, which is {phase or "not bound"}, not Bound: CDI '
            f"waits for the source to bind before it clones ({why}); bind it first, or clone "
            "another PVC"
        )
        return [*out, finding("clone.source-not-ready", message, plan, disk.source_line)]
    return out + _check_clone_writers(ctx, plan, disk, ref)


def check_clone_size(
    ctx: Context, plan: VmPlan, disk: DiskPlan, source: Obj, ref: str
) -> list[Finding]:
    """clone.too-small, for a clone of an existing PVC or of a DataSource's: the target's
    volume mode and filesystem overhead taken as CDI takes them."""
    if disk.size is None:
        return []  # CDI takes the source's size
    where = Where(plan, disk.field_line("size"))
    classes = ctx.reads.get("storageclasses", None, where) or {}
    profiles = None if disk.volume_mode else ctx.reads.get("storageprofiles", None, where)
    mode = target_volume_mode(disk, classes, profiles)
    overhead, whose = filesystem_overhead(ctx.reads.get("cdiconfigs", None, where), classes, disk)
    least = clone_too_small(source, disk, mode, overhead)
    if least is None:
        return []
    minimum, what = least
    grown = ""
    if "Block" not in (mode, dig(source, "spec", "volumeMode")):
        grown = (
            f", even grown by the {overhead:.1%} filesystem overhead ({whose}) CDI adds to a "
            "Filesystem target" + ("" if mode else " (its StorageProfile was not read)")
        )
    message = (
        f'disk "{disk.name}" asks for size {disk.size}, less than {minimum}, {what} of clone '
        f"source {ref}{grown}: CDI refuses to clone into a smaller PVC, and the DataVolume "
        f"never fills; set size to at least {minimum}, or leave it unset to get the source's"
    )
    return [finding("clone.too-small", message, plan, where.line)]


def _check_clone_writers(ctx: Context, plan: VmPlan, disk: DiskPlan, ref: str) -> list[Finding]:
    """CDI does not clone a PVC that a running pod writes (GetPodsUsingPVCs): it waits, with
    a CloneSourceInUse event, until that pod stops; a running VM's virt-launcher pod counts."""
    users = ctx.users_of(
        disk.pvc_namespace, disk.pvc_name, Where(plan, disk.source_line), ("pods",)
    )
    writers = [u for u in users if u.blocks_clone]
    if not writers:
        return []
    named = ", ".join(
        f"Pod {disk.pvc_namespace}/{u.name}"
        + (f" of VM {disk.pvc_namespace}/{u.vm}" if u.vm else "")
        for u in writers
    )
    message = (
        f'disk "{disk.name}" clones {ref}, which {named} writes: CDI waits until no running '
        "pod writes the source (CloneSourceInUse), so the new disk stays empty until then; "
        "stop that user, or clone a copy it does not write"
    )
    return [finding("clone.source-in-use", message, plan, disk.source_line)]
