"""Who mounts which PVC, read from raw VirtualMachine, VirtualMachineInstance and Pod objects.

Pure; no I/O. A VM's own VMI and virt-launcher pod (and hotplug pods the launcher owns) carry
the VM's name in `vm`, so the checks can tell the VM's own use from another user's, and judge
another VM by its VM and VMI (sharing) or by its pods (clones, as CDI does).

Reading only: a VM or VMI reads a volume whose PVC source says `readOnly` or whose disk is
read-only (a CD-ROM unless it says otherwise). A pod reads a volume when its pod volume says
`readOnly`, or when every container that mounts it, init containers included, mounts it
`readOnly` and none uses it as a block device (`volumeDevices` has no read-only form). Pods and
VMIs that are Succeeded or Failed hold no volumes. (That a ReadOnlyMany PVC is read by everyone
is a fact of the PVC, so the checks apply it.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wukong_core.objects import Obj, dig, obj_labels, obj_name, obj_owner

FINISHED_PHASES = {"Succeeded", "Failed"}  # pods and VMIs in these phases hold no volumes
# CDI's host-assisted clone source pod only reads its source; CDI's own in-use rule skips it.
CLONE_SOURCE_POD = ("cdi.kubevirt.io", "cdi-clone-source", "-source-pod")


@dataclass(frozen=True, slots=True)
class PvcUser:
    kind: str  # VirtualMachine | VirtualMachineInstance | Pod
    name: str
    read_only: bool
    vm: str  # the VM it belongs to ("" for an unrelated pod)
    # A pod CDI waits for before it clones the claim (GetPodsUsingPVCs with allowReadOnly): a
    # container, init containers not counted, mounts it read-write or as a block device.
    blocks_clone: bool = False

    def describe(self, namespace: str) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"{self.kind} {namespace}/{self.name} ({mode})"


def index_users(
    resource: str, namespace: str, objs: dict[str, Obj], plan_keys: set[str]
) -> dict[str, list[PvcUser]]:
    by_claim: dict[str, list[PvcUser]] = {}
    launchers = _launcher_vms(objs) if resource == "pods" else {}
    for name, obj in sorted(objs.items()):
        for claim, user in _uses(resource, namespace, name, obj, plan_keys, launchers):
            by_claim.setdefault(claim, []).append(user)
    return by_claim


def _uses(
    resource: str,
    namespace: str,
    name: str,
    obj: Obj,
    plan_keys: set[str],
    launchers: dict[str, str],
) -> Iterable[tuple[str, PvcUser]]:
    """(claim, user) for each PVC that one VM, VMI or pod holds."""
    if resource == "virtualmachines":
        if f"{namespace}/{name}" in plan_keys:
            return  # its plan replaces it; sharing between plans is pvc.shared-in-repo
        for claim, read_only in _vm_claims(dig(obj, "spec", "template", "spec") or {}):
            yield claim, PvcUser("VirtualMachine", name, read_only, name)
    elif dig(obj, "status", "phase") in FINISHED_PHASES:
        return
    elif resource == "virtualmachineinstances":
        for claim, read_only in _vm_claims(obj.get("spec") or {}):
            yield claim, PvcUser("VirtualMachineInstance", name, read_only, _vmi_vm(obj))
    elif not obj_owner(obj, "PersistentVolumeClaim"):  # else a CDI worker (pvc.populating)
        for claim, read_only, blocks in _pod_claims(obj):
            yield claim, PvcUser("Pod", name, read_only, launchers.get(name, ""), blocks)


def _vm_claims(spec: Obj) -> Iterable[tuple[str, bool]]:
    """(claim name, read-only) for each PVC or DataVolume volume of a VM(I) spec."""
    disks = {d.get("name"): d for d in dig(spec, "domain", "devices", "disks") or []}
    for volume in spec.get("volumes") or []:
        pvc = volume.get("persistentVolumeClaim") or {}
        claim = pvc.get("claimName") or (volume.get("dataVolume") or {}).get("name")
        if claim:
            disk = disks.get(volume.get("name")) or {}
            yield claim, bool(pvc.get("readOnly")) or _disk_read_only(disk)


def _pod_claims(pod: Obj) -> Iterable[tuple[str, bool, bool]]:
    """(claim name, read-only, blocks a clone) for each PVC volume of a pod."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    key, value, suffix = CLONE_SOURCE_POD
    clone_reader = obj_labels(pod).get(key) == value and obj_name(pod).endswith(suffix)
    for volume in spec.get("volumes") or []:
        pvc = volume.get("persistentVolumeClaim") or {}
        if not pvc.get("claimName"):
            continue
        if pvc.get("readOnly"):
            yield pvc["claimName"], True, False
            continue
        name = volume.get("name")
        writes = _writes(containers, name)
        read_only = not writes and not _writes(spec.get("initContainers") or [], name)
        yield pvc["claimName"], read_only, writes and not clone_reader


def _writes(containers: list[Obj], volume: str) -> bool:
    """Does one of `containers` mount `volume` read-write, or use it as a block device?"""
    return any(
        any(m.get("name") == volume and not m.get("readOnly") for m in c.get("volumeMounts") or [])
        or any(d.get("name") == volume for d in c.get("volumeDevices") or [])
        for c in containers
    )


def _disk_read_only(disk: Obj) -> bool:
    if "cdrom" in disk:  # a CD-ROM is read-only unless it says otherwise
        return (disk.get("cdrom") or {}).get("readonly", True) is not False
    return bool((disk.get("disk") or disk.get("lun") or {}).get("readonly"))


def _vmi_vm(vmi: Obj) -> str:
    owner = obj_owner(vmi, "VirtualMachine")
    return owner or obj_name(vmi)  # KubeVirt names a VM's VMI after the VM


def _launcher_vms(pods: dict[str, Obj]) -> dict[str, str]:
    """pod name -> the VM it runs for: virt-launcher pods (owned by the VMI, which KubeVirt names
    after its VM), and the hotplug pods they own."""
    vms: dict[str, str] = {}
    for name, pod in pods.items():
        labels = obj_labels(pod)
        vm = obj_owner(pod, "VirtualMachineInstance")
        if not vm and labels.get("kubevirt.io") == "virt-launcher":
            vm = labels.get("vm.kubevirt.io/name", "")  # the VMI's hostname: a fallback only
        if vm:
            vms[name] = vm
    for name, pod in pods.items():
        parent = obj_owner(pod, "Pod")
        if name not in vms and parent in vms:
            vms[name] = vms[parent]
    return vms
