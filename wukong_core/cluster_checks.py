"""Plans + a read-only view of the cluster -> findings. Pure: no I/O of its own.

What the cluster says about each disk (DESIGN section 4): does the PVC exist and in what state,
who else uses it, may this VM mount it as planned, is a generated name taken. Every read goes
through `_Reads`, which lists each (resource, namespace) at most once, lazily, and turns a failed
read into one `cluster.*` finding; checks that need a failed read report nothing, so a PVC that
could not be looked up is never reported as missing.

`ClusterView` lives here, with its consumer, because the layer contract puts this module below
`cluster` (the edge that implements it); `wukong_core.cluster` re-exports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .errors import ClusterError
from .findings import Finding
from .plan import DiskPlan, VmPlan
from .pvc_users import Obj, PvcUser, dig, index_users, obj_labels, obj_name, obj_owner

WRITABLE_MODES = {"ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"}
SHARED_READ_MODES = {"ReadOnlyMany", "ReadWriteMany"}
WUKONG_LABELS = ("app.kubernetes.io/managed-by", "wukong")


class ClusterView(Protocol):
    """What the checks may ask of a cluster: whole lists, never single objects."""

    source: str  # human label: "live (context X)", "snapshot examples/cluster-snapshot.yaml"

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Raw JSON objects of `resource` (plural, e.g. "persistentvolumeclaims") in `namespace`
        (None: cluster-scoped or all namespaces). Raises ClusterError when it cannot read."""
        ...

    def prefetch(self, keys: Iterable[tuple[str, str | None]]) -> None:
        """A hint: these (resource, namespace) lists will be asked for. A live view reads them
        at once, in parallel; a failure still surfaces only when `list` asks for it."""
        ...


def check_cluster(plans: list[VmPlan], view: ClusterView) -> list[Finding]:
    """All cluster findings for `plans`, in a deterministic order."""
    view.prefetch(_lists_needed(plans))
    reads = _Reads(view)
    ctx = _Context(reads, {p.key for p in plans})
    findings: list[Finding] = []
    for plan in sorted(plans, key=lambda p: (p.file, p.line, p.key)):
        findings += _check_namespace(ctx, plan)
        for disk in plan.disks:
            findings += _check_disk(ctx, plan, disk)
    findings += reads.failures
    return sorted(findings, key=Finding.sort_key)


# --- reads --------------------------------------------------------------------------------------

_VM_NAMESPACE_READS = (
    "persistentvolumeclaims",
    "datavolumes",
    "virtualmachines",
    "virtualmachineinstances",
    "pods",
)


def _lists_needed(plans: list[VmPlan]) -> list[tuple[str, str | None]]:
    """Every list the checks of `plans` may read: all of a VM's namespace (its disks, their
    users), the PVCs and DataVolumes of clone sources, and the two cluster-wide lists."""
    keys: set[tuple[str, str | None]] = {("namespaces", None), ("storageclasses", None)}
    for plan in plans:
        keys.update((resource, plan.namespace) for resource in _VM_NAMESPACE_READS)
        for disk in plan.disks:
            if disk.kind == "clone":
                keys.add(("persistentvolumeclaims", disk.pvc_namespace))
                keys.add(("datavolumes", disk.pvc_namespace))
    return sorted(keys, key=lambda k: (k[1] or "", k[0]))


@dataclass(frozen=True, slots=True)
class _Where:
    plan: VmPlan
    line: int


class _Reads:
    """Each (resource, namespace) listed once; a failed read becomes one finding, reported where
    it was first needed. An unreachable API server is reported once, not once per read."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view
        self.results: dict[tuple[str, str | None], dict[str, Obj] | None] = {}
        self.failures: list[Finding] = []
        self.unreachable = False

    def get(self, resource: str, namespace: str | None, where: _Where) -> dict[str, Obj] | None:
        """name -> object, or None when the read failed (and was reported)."""
        key = (resource, namespace)
        if key not in self.results:
            try:
                items = self.view.list(resource, namespace)
                self.results[key] = {obj_name(o): o for o in items}
            except ClusterError as e:
                self.results[key] = None
                self._report(e, where)
        return self.results[key]

    def _report(self, error: ClusterError, where: _Where) -> None:
        if error.kind == "forbidden":
            code = "cluster.forbidden"
        else:
            code = "cluster.unreachable"
            if self.unreachable:
                return
            self.unreachable = True
        message = f"{error}; nothing that depends on it was checked (cluster: {self.view.source})"
        self.failures.append(_finding(code, message, where.plan, where.line))


class _Context:
    def __init__(self, reads: _Reads, plan_keys: set[str]) -> None:
        self.reads = reads
        self.plan_keys = plan_keys  # cluster VMs these plans replace are not users of their own
        self.users: dict[tuple[str, str], dict[str, list[PvcUser]]] = {}

    def pvcs(self, namespace: str, where: _Where) -> dict[str, Obj] | None:
        return self.reads.get("persistentvolumeclaims", namespace, where)

    def datavolumes(self, namespace: str, where: _Where) -> dict[str, Obj] | None:
        return self.reads.get("datavolumes", namespace, where)

    def users_of(self, namespace: str, claim: str, where: _Where) -> list[PvcUser]:
        """Who in the cluster mounts PVC `claim`: VMs (running or not), VMIs, live pods."""
        found: list[PvcUser] = []
        for resource in ("virtualmachines", "virtualmachineinstances", "pods"):
            key = (resource, namespace)
            if key not in self.users:
                objs = self.reads.get(resource, namespace, where)
                self.users[key] = index_users(resource, namespace, objs or {}, self.plan_keys)
            found += self.users[key].get(claim, [])
        return found


# --- checks -------------------------------------------------------------------------------------


def _check_namespace(ctx: _Context, plan: VmPlan) -> list[Finding]:
    namespaces = ctx.reads.get("namespaces", None, _Where(plan, plan.line))
    if namespaces is None or plan.namespace in namespaces:
        return []
    message = (
        f'namespace "{plan.namespace}" does not exist yet; create it before the sync '
        "(Argo CD: syncOptions CreateNamespace=true)"
    )
    return [_finding("namespace.not-found", message, plan, plan.line)]


def _check_disk(ctx: _Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    if disk.kind == "attach":
        return _check_attach(ctx, plan, disk)
    out: list[Finding] = []
    if disk.kind == "clone":
        out += _check_clone_source(ctx, plan, disk)
    return out + _check_new_storage(ctx, plan, disk)


def _existing_pvc(ctx: _Context, plan: VmPlan, disk: DiskPlan) -> tuple[Obj | None, str] | None:
    """The PVC a disk names (None if absent) and how to name it; None when it could not be
    read, which the read's own cluster.* finding already reports."""
    pvcs = ctx.pvcs(disk.pvc_namespace, _Where(plan, disk.line))
    if pvcs is None:
        return None
    return pvcs.get(disk.pvc_name), f"PersistentVolumeClaim {disk.pvc_namespace}/{disk.pvc_name}"


def _check_attach(ctx: _Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    found = _existing_pvc(ctx, plan, disk)
    if found is None:
        return []
    pvc, ref = found
    if pvc is None:
        fix = "create it first, or correct existingPVC.name"
        return [
            _finding(
                "pvc.not-found",
                f'{ref} (disk "{disk.name}") does not exist; {fix}',
                plan,
                disk.line,
            )
        ]
    out = _check_state(plan, disk, pvc, ref)
    if out:
        return out
    out += _check_pending(ctx, plan, disk, pvc, ref)
    out += _check_sharing(ctx, plan, disk, pvc, ref)
    modes = _modes(pvc)
    if not disk.read_only and modes & WRITABLE_MODES and "ReadWriteMany" not in modes:
        message = (
            f'{ref} (disk "{disk.name}") is attached read-write without ReadWriteMany (modes: '
            f"{_mode_list(pvc)}): VM {plan.key} cannot live-migrate; use a ReadWriteMany PVC "
            "if it must"
        )
        out.append(_finding("pvc.not-migratable", message, plan, disk.line))
    return out + _check_populating(ctx, plan, disk, disk.pvc_namespace, disk.pvc_name)


def _check_clone_source(ctx: _Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    found = _existing_pvc(ctx, plan, disk)
    if found is None:
        return []
    pvc, ref = found
    if pvc is None:
        message = f'disk "{disk.name}" clones {ref}, which does not exist; correct existingPVC'
        return [_finding("pvc.not-found", message, plan, disk.line)]
    out = _check_state(plan, disk, pvc, f"clone source {ref}")
    return out or _check_populating(ctx, plan, disk, disk.pvc_namespace, disk.pvc_name)


def _check_state(plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str) -> list[Finding]:
    out: list[Finding] = []
    if dig(pvc, "status", "phase") == "Lost":
        message = (
            f'{ref} (disk "{disk.name}") is Lost: its PersistentVolume is gone; restore the '
            "data from a backup or use another PVC"
        )
        out.append(_finding("pvc.lost", message, plan, disk.line))
    if dig(pvc, "metadata", "deletionTimestamp"):
        message = (
            f'{ref} (disk "{disk.name}") is being deleted (deletionTimestamp is set); use '
            "another PVC, or recreate it once it is gone"
        )
        out.append(_finding("pvc.terminating", message, plan, disk.line))
    return out


def _check_pending(
    ctx: _Context, plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str
) -> list[Finding]:
    if dig(pvc, "status", "phase") != "Pending":
        return []
    classes = ctx.reads.get("storageclasses", None, _Where(plan, disk.line))
    if classes is None:
        return []
    sc_name = dig(pvc, "spec", "storageClassName")
    sc = classes.get(sc_name) if sc_name else None
    if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer":
        message = (
            f'{ref} (disk "{disk.name}") is Pending with StorageClass "{sc_name}" '
            "(WaitForFirstConsumer): it binds when the VM starts"
        )
        return [_finding("pvc.wait-for-first-consumer", message, plan, disk.line)]
    why = (
        f'its StorageClass "{sc_name}" binds immediately, so it should be bound by now'
        if sc is not None
        else f'its StorageClass "{sc_name}" does not exist'
        if sc_name
        else "it has no StorageClass, so it waits for a matching PersistentVolume"
    )
    message = (
        f'{ref} (disk "{disk.name}") is Pending: {why}; see `kubectl describe pvc -n '
        f"{disk.pvc_namespace} {disk.pvc_name}`"
    )
    return [_finding("pvc.pending", message, plan, disk.line)]


def _check_sharing(
    ctx: _Context, plan: VmPlan, disk: DiskPlan, pvc: Obj, ref: str
) -> list[Finding]:
    modes = _modes(pvc)
    where = f'{ref} (disk "{disk.name}")'
    if not disk.read_only and modes and not modes & WRITABLE_MODES:
        message = (
            f"{where} is {_mode_list(pvc)} but the disk attaches it read-write; set "
            "existingPVC.readOnly: true, or clone it (existingPVC.clone: true)"
        )
        return [_finding("pvc.access-mode", message, plan, disk.line)]
    users = ctx.users_of(disk.pvc_namespace, disk.pvc_name, _Where(plan, disk.line))
    others = [u for u in users if u.vm != plan.name]
    if not others:
        return []
    named = ", ".join(u.describe(disk.pvc_namespace) for u in others)
    if "ReadWriteOncePod" in modes:
        message = (
            f"{where} is ReadWriteOncePod and already in use by {named}; only one pod may "
            "mount it: stop that user first, or clone it (existingPVC.clone: true)"
        )
        return [_finding("pvc.access-mode", message, plan, disk.line)]
    all_read_only = disk.read_only and all(u.read_only for u in others)
    if all_read_only and modes & SHARED_READ_MODES:
        return []  # several readers are what ReadOnlyMany/ReadWriteMany are for
    mine = "read-only" if disk.read_only else "read-write"
    why = (
        f"its access modes ({_mode_list(pvc)}) allow no sharing between nodes"
        if all_read_only
        else "a disk written by two VMs is corrupted"
    )
    message = (
        f"{where} is already used by {named}, and VM {plan.key} would use it {mine}: {why}; "
        "detach it there, or clone it (existingPVC.clone: true)"
    )
    return [_finding("pvc.in-use", message, plan, disk.line)]


def _check_populating(
    ctx: _Context, plan: VmPlan, disk: DiskPlan, namespace: str, name: str
) -> list[Finding]:
    dvs = ctx.datavolumes(namespace, _Where(plan, disk.line))
    dv = (dvs or {}).get(name)
    phase = dig(dv or {}, "status", "phase")
    if dv is None or phase == "Succeeded":
        return []
    progress = dig(dv, "status", "progress")
    state = f"{phase or 'not started'}" + (
        f", {progress}" if progress and progress != "N/A" else ""
    )
    message = (
        f'PersistentVolumeClaim {namespace}/{name} (disk "{disk.name}") is still being '
        f"populated: DataVolume {namespace}/{name} is {state}; the VM cannot start before "
        "it Succeeded"
    )
    return [_finding("pvc.populating", message, plan, disk.line)]


def _check_new_storage(ctx: _Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    where = _Where(plan, disk.line)
    out: list[Finding] = []
    if disk.storage_class:
        classes = ctx.reads.get("storageclasses", None, where)
        if classes is not None and disk.storage_class not in classes:
            known = ", ".join(sorted(classes)[:10]) or "none"
            message = (
                f'disk "{disk.name}" names StorageClass "{disk.storage_class}", which does not '
                f"exist (existing: {known}); correct storageClass or leave it unset"
            )
            out.append(_finding("storageclass.not-found", message, plan, disk.line))
    pvcs = ctx.pvcs(plan.namespace, where)
    if pvcs is None:
        return out
    holder = _name_holder(ctx, plan, disk, pvcs.get(disk.dv_name), where)
    if holder is None:
        return out  # who owns the name could not be read
    if holder:
        message = (
            f'disk "{disk.name}" would create PersistentVolumeClaim {plan.namespace}/'
            f"{disk.dv_name}, but a {holder} of that name exists and does not belong to VM "
            f"{plan.key}; rename the disk or the VM, or remove that {holder}"
        )
        return [*out, _finding("pvc.name-taken", message, plan, disk.line)]
    return out + _check_populating(ctx, plan, disk, plan.namespace, disk.dv_name)


def _name_holder(
    ctx: _Context, plan: VmPlan, disk: DiskPlan, pvc: Obj | None, where: _Where
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


def _finding(code: str, message: str, plan: VmPlan, line: int) -> Finding:
    return Finding(code=code, message=message, file=plan.file, line=line, object=plan.key)


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
