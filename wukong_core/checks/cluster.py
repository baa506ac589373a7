"""Plans + a read-only view of the cluster -> findings. Pure: no I/O of its own.

What the cluster says about each disk (README, Cluster validation): does the PVC exist and in
what state, who else uses it, may this VM mount it as planned, can CDI clone and fill what the
plan asks for, is a generated name taken; and about what else a spec names (`references`).
Every read goes through `reads.Reads` (each list once, a failed read reported once). The rules
follow KubeVirt v1.6 and CDI v1.63 (the functions named below are CDI's).
"""

from __future__ import annotations

from dataclasses import replace

from wukong_core.checks.cdi_storage import storage_class_problems
from wukong_core.checks.clones import check_clone_source
from wukong_core.checks.pvc_state import (
    binds_on_first_use,
    cdi_filling,
    check_state,
    existing_pvc,
)
from wukong_core.checks.reads import (
    Context,
    Reads,
    Where,
    finding,
    lists_needed,
)
from wukong_core.checks.references import check_references
from wukong_core.findings import Finding, has_errors
from wukong_core.objects import Obj, dig, obj_labels, obj_owner
from wukong_core.plan import DiskPlan, VmPlan

WRITABLE_MODES = {"ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"}
SHARED_READ_MODES = {"ReadOnlyMany", "ReadWriteMany"}
WUKONG_LABELS = ("app.kubernetes.io/managed-by", "wukong")


def check_cluster(plans: list[VmPlan], reads: Reads) -> list[Finding]:
    """All cluster findings for `plans`, in a deterministic order. `reads`: the run's reads of
    the cluster, which the caller shares with other checks (`safety`)."""
    reads.view.prefetch(lists_needed(plans))
    ctx = Context(reads, {p.key for p in plans})
    findings: list[Finding] = []
    for plan in sorted(plans, key=lambda p: (p.file, p.line, p.key)):
        findings += _check_namespace(ctx, plan)
        for disk in plan.disks:
            findings += _check_disk(ctx, plan, disk)
        findings += check_references(ctx, plan)
    findings += reads.failures
    return sorted(findings, key=Finding.sort_key)


# --- checks -------------------------------------------------------------------------------------


def _check_namespace(ctx: Context, plan: VmPlan) -> list[Finding]:
    where = Where(plan, plan.line)
    ctx.reads.get("virtualmachines", plan.namespace, where)  # is KubeVirt there at all?
    namespaces = ctx.reads.get("namespaces", None, where)
    if namespaces is None or plan.namespace in namespaces:
        return []
    message = (
        f'namespace "{plan.namespace}" does not exist yet; create it before the sync '
        "(Argo CD: syncOptions CreateNamespace=true)"
    )
    return [finding("namespace.not-found", message, plan, plan.line)]


def _check_disk(ctx: Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    if disk.kind == "attach":
        return _check_attach(ctx, plan, disk)
    where = Where(plan, disk.line)
    ctx.datavolumes(plan.namespace, where)  # is CDI there at all?
    if ctx.reads.cdi_missing:
        message = (
            f"the API server does not serve cdi.kubevirt.io (CDI is not installed), and disk "
            f'"{disk.name}" of VM {plan.key} needs a DataVolume (every image, blank and cloned '
            f"disk is one): nothing would ever fill it; install CDI before the sync "
            f"(cluster: {ctx.reads.view.source})"
        )
        ctx.reads.report_once("cluster.cdi-missing", message, where)
    out: list[Finding] = []
    if disk.kind == "clone":
        out += check_clone_source(ctx, plan, disk)
    return out + _check_new_storage(ctx, plan, disk)


def _check_attach(ctx: Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    found = existing_pvc(ctx, plan, disk)
    if found is None:
        return []
    pvc, ref = found
    if pvc is None:
        fix = "create it first, or correct existingPVC.name"
        message = f'{ref} (disk "{disk.name}") does not exist; {fix}'
        return [finding("pvc.not-found", message, plan, disk.source_line)]
    out = check_state(plan, disk, pvc, ref)
    if out:
        return out
    out += _check_readiness(ctx, plan, disk, pvc, ref)
    out += _check_sharing(ctx, plan, disk, pvc, ref)
    if has_errors(out):
        return out  # a disk that cannot be attached as planned has no migration to speak of
    modes = _modes(pvc)
    if modes and "ReadWriteMany" not in modes:
        message = (
            f'{ref} (disk "{disk.name}") is not ReadWriteMany (modes: {_mode_list(pvc)}): VM '
            f"{plan.key} cannot live-migrate, as KubeVirt migrates only VMs whose every PVC, "
            "read-only ones included, is ReadWriteMany; use a ReadWriteMany PVC if it must"
        )
        out.append(finding("pvc.not-migratable", message, plan, disk.source_line))
    return out


# --- is the PVC ready: bound, and filled by CDI -------------------------------------------------


def _check_readiness(
    ctx: Context, plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str
) -> list[Finding]:
    where = Where(plan, disk.source_line)
    what = f'{ref} (disk "{disk.name}")'
    filling = cdi_filling(ctx, disk.pvc_namespace, disk.pvc_name, pvc, where)
    if filling and not filling.waits:
        done = filling.done(disk.pvc_namespace, disk.pvc_name, "the VM starts")
        message = f"{what} is still being populated: {filling.state}; {done}"
        return [finding("pvc.populating", message, plan, disk.source_line)]
    if filling:
        message = (
            f"{what} waits for its first consumer ({filling.state}): it binds, and CDI fills "
            "it, when the VM starts; nothing to do before the sync"
        )
        return [finding("pvc.wait-for-first-consumer", message, plan, disk.source_line)]
    first_use = binds_on_first_use(ctx, pvc, where)
    if dig(pvc, "status", "phase") != "Pending" or first_use is None:
        return []
    sc_name = dig(pvc, "spec", "storageClassName")
    if first_use:
        message = (
            f'{what} is Pending with StorageClass "{sc_name}" (WaitForFirstConsumer): it binds '
            "when the VM starts"
        )
        return [finding("pvc.wait-for-first-consumer", message, plan, disk.source_line)]
    why = (
        f'its StorageClass "{sc_name}" binds immediately, so it should be bound by now'
        if sc_name in (ctx.reads.get("storageclasses", None, where) or {})
        else f'its StorageClass "{sc_name}" does not exist'
        if sc_name
        else "it has no StorageClass, so it waits for a matching PersistentVolume"
    )
    message = (
        f"{what} is Pending: {why}; see `kubectl describe pvc -n {disk.pvc_namespace} "
        f"{disk.pvc_name}`"
    )
    return [finding("pvc.pending", message, plan, disk.source_line)]


# --- who else uses it ---------------------------------------------------------------------------


def _check_sharing(ctx: Context, plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str) -> list[Finding]:
    modes = _modes(pvc)
    where = f'{ref} (disk "{disk.name}")'
    if not disk.read_only and modes and not modes & WRITABLE_MODES:
        message = (
            f"{where} is {_mode_list(pvc)} but the disk attaches it read-write; set "
            "existingPVC.readOnly: true, or clone it (existingPVC.clone: true)"
        )
        return [finding("pvc.access-mode", message, plan, disk.source_line)]
    users = ctx.users_of(disk.pvc_namespace, disk.pvc_name, Where(plan, disk.source_line))
    # A VM's virt-launcher and hotplug pods mount its volumes read-write unless the volume's PVC
    # source says readOnly, a CD-ROM's too (KubeVirt's VolumeRenderer); the VM and its VMI
    # speak for that VM, and know what it reads. (CDI's clone rule does count them: `clones`.)
    others = [u for u in users if u.vm != plan.name and not (u.kind == "Pod" and u.vm)]
    if modes == {"ReadOnlyMany"}:  # the volume itself is read-only, whatever a user asks
        others = [replace(u, read_only=True) for u in others]
    if not others:
        return []
    named = ", ".join(u.describe(disk.pvc_namespace) for u in others)
    if "ReadWriteOncePod" in modes:
        message = (
            f"{where} is ReadWriteOncePod and already in use by {named}; only one pod may "
            "mount it: stop that user first, or clone it (existingPVC.clone: true)"
        )
        return [finding("pvc.access-mode", message, plan, disk.source_line)]
    all_read_only = disk.read_only and all(u.read_only for u in others)
    if all_read_only and modes & SHARED_READ_MODES:
        return []  # several readers are what ReadOnlyMany/ReadWriteMany are for
    mine = "read-only" if disk.read_only else "read-write"
    writers = len({u.vm or f"{u.kind}/{u.name}" for u in others if not u.read_only})
    writers += not disk.read_only
    why = (
        f"its access modes ({_mode_list(pvc)}) allow no sharing between nodes"
        if all_read_only
        else "a disk written by two users is corrupted"
        if writers > 1
        else "a disk one user writes changes under the others, whose view of its filesystem "
        "then breaks"
    )
    message = (
        f"{where} is already used by {named}, and VM {plan.key} would use it {mine}: {why}; "
        "detach it there, or clone it (existingPVC.clone: true)"
    )
    return [finding("pvc.in-use", message, plan, disk.source_line)]


# --- new storage: the DataVolume `<vm>-<disk>` --------------------------------------------------


def _check_new_storage(ctx: Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    where = Where(plan, disk.line)
    out: list[Finding] = []
    classes = ctx.reads.get("storageclasses", None, where)
    # Without CDI only a named class can be checked: the rest is how CDI would complete it.
    if classes is not None and (disk.storage_class or not ctx.reads.cdi_missing):
        profiles = (
            None
            if disk.access_mode or ctx.reads.cdi_missing
            else ctx.reads.get("storageprofiles", None, where)
        )
        out += [
            finding(code, message, plan, disk.field_line(_class_field(code, disk)))
            for code, message in storage_class_problems(disk, plan.key, classes, profiles)
        ]
    pvcs = ctx.pvcs(plan.namespace, where)
    if pvcs is None:
        return out
    pvc = pvcs.get(disk.dv_name)
    holder = _name_holder(ctx, plan, disk, pvc, where)
    if holder is None:
        return out  # who owns the name could not be read
    if holder:
        message = (
            f'disk "{disk.name}" would create PersistentVolumeClaim {plan.namespace}/'
            f"{disk.dv_name}, but a {holder} of that name exists and does not belong to VM "
            f"{plan.key}; rename the disk or the VM, or remove that {holder}"
        )
        return [*out, finding("pvc.name-taken", message, plan, disk.field_line("name"))]
    filling = cdi_filling(ctx, plan.namespace, disk.dv_name, pvc, where)
    if filling is None:
        return out
    what = f'PersistentVolumeClaim {plan.namespace}/{disk.dv_name} (disk "{disk.name}")'
    if filling.waits:
        message = (
            f"{what} waits for its first consumer ({filling.state}): CDI fills it when the VM "
            "starts; nothing to do before the sync"
        )
        return [*out, finding("pvc.wait-for-first-consumer", message, plan, disk.line)]
    done = filling.done(plan.namespace, disk.dv_name, "the VM starts")
    message = f"{what} is still being populated: {filling.state}; {done}"
    return [*out, finding("pvc.populating", message, plan, disk.line)]


def _class_field(code: str, disk: DiskPlan) -> str:
    """The field a StorageClass finding points at: the class named; for a profile that cannot
    fill the access mode, the volumeMode it has no set for; a missing default, the disk."""
    if code == "storageclass.incomplete-profile" and disk.volume_mode:
        return "volumeMode"
    return "storageClass" if code != "storageclass.no-default" else "name"


def _name_holder(
    ctx: Context, plan: VmPlan, disk: DiskPlan, pvc: Obj | None, where: Where
) -> str | None:
    """The kind of object that holds `<vm>-<disk>` against this VM: "" when the name is free or
    already this VM's (its earlier render), None when that could not be read."""
    if pvc is not None and _belongs_to(pvc, plan.name):
        return ""
    if pvc is not None and not obj_owner(pvc, "DataVolume"):
        return "PersistentVolumeClaim"
    # No PVC yet, or one that a DataVolume made: that DataVolume's owner decides.
    dvs = ctx.datavolumes(plan.namespace, where)
    if dvs is None:
        return None
    dv = dvs.get(disk.dv_name)
    if dv is not None and _belongs_to(dv, plan.name):
        return ""
    if pvc is not None:
        return "PersistentVolumeClaim"
    return "" if dv is None else "DataVolume"


# --- object helpers -----------------------------------------------------------------------------


def _belongs_to(obj: Obj, vm: str) -> bool:
    """Made from VM `vm`'s dataVolumeTemplates: KubeVirt sets the VM as owner of the DataVolume
    (and CDI moves that owner to the PVC when it garbage-collects the DataVolume); the labels a
    Wukong render puts on its templates, which CDI copies to the PVC, say the same."""
    if obj_owner(obj, "VirtualMachine") == vm:
        return True
    labels = obj_labels(obj)
    key, value = WUKONG_LABELS
    return labels.get(key) == value and labels.get("app.kubernetes.io/name") == vm


def _modes(pvc: Obj) -> set[str]:
    """Access modes the volume really has (status, once bound), else those asked for."""
    return set(dig(pvc, "status", "accessModes") or dig(pvc, "spec", "accessModes") or [])


def _mode_list(pvc: Obj) -> str:
    return ", ".join(sorted(_modes(pvc))) or "none"
