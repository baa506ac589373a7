"""What a clone from another namespace asks of RBAC, said once for the offline and cluster
checks alike. Pure."""

from __future__ import annotations

from wukong_core.findings import Finding
from wukong_core.plan import DiskPlan, VmPlan


def cross_namespace_clone(plan: VmPlan, disk: DiskPlan, source_namespace: str) -> Finding:
    """clone.cross-namespace: KubeVirt's VM admission has CDI authorise a clone from another
    namespace for the VM's ServiceAccount, against the namespace of the source PVC (for a
    DataSource: of the PVC or snapshot it points to)."""
    if disk.kind == "clone":
        what = f"clones PVC {disk.pvc_namespace}/{disk.pvc_name}"
        note = ""
    else:
        what = f"clones the golden image of DataSource {disk.pvc_namespace}/{disk.pvc_name}"
        if source_namespace != disk.pvc_namespace:
            what += f", whose source is in {source_namespace!r},"
        note = (
            " (the golden-image namespaces of KubeVirt's SSP operator and OpenShift "
            "Virtualization grant it to every ServiceAccount)"
        )
    return Finding(
        "clone.cross-namespace",
        f"disk {disk.name!r} of VM {plan.key} {what} into {plan.namespace}/{disk.dv_name}; "
        f"CDI needs 'create' on cdi.kubevirt.io datavolumes/source in {source_namespace!r} for "
        f"the VM's ServiceAccount ('default' of {plan.namespace!r} unless set) and whoever "
        f"applies the VM (Argo CD): a RoleBinding in {source_namespace!r}{note}",
        plan.file,
        disk.field_line(f"{'existingPVC' if disk.kind == 'clone' else 'dataSource'}.namespace"),
        plan.key,
    )
