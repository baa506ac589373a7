"""A PVC's own state as the cluster checks need it: does it exist, is it lost or being deleted,
how far has CDI filled it, does its StorageClass bind on first use. Shared by the checks of
attached PVCs (`cluster`) and of clone sources (`clones`). Pure: read through `reads.Context`.
"""

from __future__ import annotations

from wukong_core.checks.cdi_storage import Filling, filling
from wukong_core.checks.reads import Context, Where, finding
from wukong_core.findings import Finding
from wukong_core.objects import Obj, dig, obj_owner
from wukong_core.plan import DiskPlan, VmPlan


def existing_pvc(ctx: Context, plan: VmPlan, disk: DiskPlan) -> tuple[Obj | None, str] | None:
    """The PVC a disk names (None if absent) and how to name it; None when it could not be
    read, which the read's own cluster.* finding already reports."""
    pvcs = ctx.pvcs(disk.pvc_namespace, Where(plan, disk.source_line))
    if pvcs is None:
        return None
    return pvcs.get(disk.pvc_name), f"PersistentVolumeClaim {disk.pvc_namespace}/{disk.pvc_name}"


def check_state(plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str) -> list[Finding]:
    out: list[Finding] = []
    if dig(pvc, "status", "phase") == "Lost":
        message = (
            f'{ref} (disk "{disk.name}") is Lost: its PersistentVolume is gone; restore the '
            "data from a backup or use another PVC"
        )
        out.append(finding("pvc.lost", message, plan, disk.source_line))
    if dig(pvc, "metadata", "deletionTimestamp"):
        message = (
            f'{ref} (disk "{disk.name}") is being deleted (deletionTimestamp is set); use '
            "another PVC, or recreate it once it is gone"
        )
        out.append(finding("pvc.terminating", message, plan, disk.source_line))
    return out


def cdi_filling(
    ctx: Context, namespace: str, name: str, pvc: Obj | None, where: Where
) -> Filling | None:
    """CDI's progress on PVC `name`, judged by the DataVolume that owns or makes it."""
    dv_name = (obj_owner(pvc, "DataVolume") if pvc else "") or name
    dv = (ctx.datavolumes(namespace, where) or {}).get(dv_name)
    first_use = binds_on_first_use(ctx, pvc, where) if pvc is not None and dv is None else None
    return filling(pvc, dv, namespace, first_use)


def binds_on_first_use(ctx: Context, pvc: Obj, where: Where) -> bool | None:
    """Its StorageClass waits for a first consumer; None when the classes could not be read."""
    classes = ctx.reads.get("storageclasses", None, where)
    if classes is None:
        return None
    sc = classes.get(dig(pvc, "spec", "storageClassName") or "")
    return sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
