"""The cluster reads behind the checks: each (resource, namespace) listed once, and a read that
fails reported once, where it was first needed.

Checks that need a failed read report nothing, so a PVC that could not be looked up is never
reported as missing; facts about the whole cluster (unreachable, KubeVirt or CDI missing) are
reported once, not once per read. Pure: everything is read through a `ClusterView`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wukong_core.checks.pvc_users import PvcUser, index_users
from wukong_core.errors import ClusterError
from wukong_core.findings import Finding
from wukong_core.objects import ClusterView, Obj, obj_name
from wukong_core.plan import RefPlan, VmPlan

KUBEVIRT_RESOURCES = {"virtualmachines", "virtualmachineinstances"}
CDI_RESOURCES = {"datavolumes", "storageprofiles", "datasources", "cdiconfigs"}
NADS = "network-attachment-definitions"


VM_NAMESPACE_READS = (
    "persistentvolumeclaims",
    "datavolumes",
    "virtualmachines",
    "virtualmachineinstances",
    "pods",
)


def lists_needed(plans: list[VmPlan]) -> list[tuple[str, str | None]]:
    """Every list the checks of `plans` may read: all of a VM's namespace (its disks, their
    users), the PVCs, DataVolumes and pods of clone sources, the cluster-wide lists, and
    what specs name: NetworkAttachmentDefinitions, instancetypes and preferences, DataSources
    (each only where a spec names one)."""
    keys: set[tuple[str, str | None]] = {("namespaces", None), ("storageclasses", None)}
    for plan in plans:
        keys.update((resource, plan.namespace) for resource in VM_NAMESPACE_READS)
        for disk in plan.disks:
            if disk.kind == "clone":
                keys.update(
                    (resource, disk.pvc_namespace)
                    for resource in ("persistentvolumeclaims", "datavolumes", "pods")
                )
            if disk.kind == "datasource":
                keys.add(("datasources", disk.pvc_namespace))
            if disk.new_storage and not disk.access_mode:
                keys.add(("storageprofiles", None))  # to complete the access mode
            if disk.kind in ("clone", "datasource") and disk.size:
                if not disk.volume_mode:
                    keys.add(("storageprofiles", None))  # the clone's volume mode
                # How CDI sizes the clone: its overhead, and the source PVC of a DataSource,
                # which lives beside it where a DataImportCron made it.
                keys.update({("cdiconfigs", None), ("persistentvolumeclaims", disk.pvc_namespace)})
        keys.update((NADS, n.nad_namespace) for n in plan.networks or () if not n.pod)
        keys.update(
            matcher_list(ref, plan.namespace) for ref in (plan.instancetype, plan.preference) if ref
        )
    return sorted(keys, key=lambda k: (k[1] or "", k[0]))


def matcher_list(ref: RefPlan, namespace: str) -> tuple[str, str | None]:
    """The list that holds an instancetype or preference: its kind's plural (KubeVirt matches
    the kind against resource names), cluster-wide or in the VM's namespace."""
    return ref.kind.lower() + "s", None if ref.cluster_scoped else namespace


@dataclass(frozen=True, slots=True)
class Where:
    plan: VmPlan
    line: int


class Reads:
    """The run's cluster reads: each (resource, namespace) listed once, whoever asks (the cluster
    checks and the data-safety comparison share one). A failed read becomes one finding,
    reported where a check first needed it; a quiet read (no `where`) reports nothing, leaving
    that to the checks. Facts about the whole cluster (unreachable, KubeVirt or CDI missing) are
    reported once, not once per read."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view
        self.results: dict[tuple[str, str | None], dict[str, Obj] | None] = {}
        self.failures: list[Finding] = []
        self.not_served: set[str] = set()  # resources whose API group is not installed
        self._errors: dict[tuple[str, str | None], ClusterError] = {}
        self._once: set[str] = set()

    def get(
        self, resource: str, namespace: str | None, where: Where | None = None
    ) -> dict[str, Obj] | None:
        """name -> object, or None when the read failed or the snapshot did not record that
        kind. A kind the API does not serve has no objects: {}. The failure is reported at
        `where`, the first time a check that needs the list asks for it."""
        key = (resource, namespace)
        if key not in self.results:
            try:
                items = self.view.list(resource, namespace)
                self.results[key] = {obj_name(o): o for o in items}
            except ClusterError as e:
                self.results[key] = {} if e.kind == "not-served" else None
                self._errors[key] = e
                if e.kind == "not-served":
                    self.not_served.add(resource)
        if where is not None and key in self._errors:
            self._report(self._errors.pop(key), where)
        return self.results[key]

    @property
    def cdi_missing(self) -> bool:
        return bool(self.not_served & CDI_RESOURCES)

    @property
    def kubevirt_missing(self) -> bool:
        return bool(self.not_served & KUBEVIRT_RESOURCES)

    def report_once(self, code: str, message: str, where: Where) -> None:
        if code not in self._once:
            self._once.add(code)
            self.failures.append(finding(code, message, where.plan, where.line))

    def _report(self, error: ClusterError, where: Where) -> None:
        cluster = f"(cluster: {self.view.source})"
        if error.kind == "not-recorded":
            return  # the view's source says which checks this skipped
        if error.kind == "not-served":
            if error.resource in KUBEVIRT_RESOURCES:
                message = (
                    f"{error}: KubeVirt is not installed, so VM {where.plan.key} and every other "
                    f"VirtualMachine would be refused; install KubeVirt before the sync {cluster}"
                )
                self.report_once("cluster.kubevirt-missing", message, where)
            return  # CDI: reported by the first disk that needs a DataVolume
        message = f"{error}; nothing that depends on it was checked {cluster}"
        if error.kind == "forbidden":
            self.failures.append(finding("cluster.forbidden", message, where.plan, where.line))
        else:
            self.report_once("cluster.unreachable", message, where)


class Context:
    def __init__(self, reads: Reads, plan_keys: set[str]) -> None:
        self.reads = reads
        self.plan_keys = plan_keys  # cluster VMs these plans replace are not users of their own
        self.users: dict[tuple[str, str], dict[str, list[PvcUser]]] = {}

    def pvcs(self, namespace: str, where: Where) -> dict[str, Obj] | None:
        return self.reads.get("persistentvolumeclaims", namespace, where)

    def datavolumes(self, namespace: str, where: Where) -> dict[str, Obj] | None:
        return self.reads.get("datavolumes", namespace, where)

    def users_of(
        self,
        namespace: str,
        claim: str,
        where: Where,
        resources: Iterable[str] = ("virtualmachines", "virtualmachineinstances", "pods"),
    ) -> list[PvcUser]:
        """Who in the cluster mounts PVC `claim`: VMs (running or not), VMIs, live pods."""
        found: list[PvcUser] = []
        for resource in resources:
            key = (resource, namespace)
            if key not in self.users:
                objs = self.reads.get(resource, namespace, where)
                self.users[key] = index_users(resource, namespace, objs or {}, self.plan_keys)
            found += self.users[key].get(claim, [])
        return found


def finding(code: str, message: str, plan: VmPlan, line: int) -> Finding:
    return Finding(code=code, message=message, file=plan.file, line=line, object=plan.key)
