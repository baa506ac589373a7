"""Who mounts which PVC, read from raw VirtualMachine, VirtualMachineInstance and Pod objects.

Pure; no I/O. A VM's own VMI and virt-launcher pod (and hotplug pods the launcher owns) carry
the VM's name in `vm`, so the checks can tell the VM's own use from another user's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

FINISHED_POD_PHASES = {"Succeeded", "Failed"}  # such pods hold no volumes any more


@dataclass(frozen=True, slots=True)
class PvcUser:
    kind: str  # VirtualMachine | VirtualMachineInstance | Pod
    name: str
    read_only: bool
    vm: str  # the VM it belongs to ("" for an unrelated pod)

    def describe(self, namespace: str) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"{self.kind} {namespace}/{self.name} ({mode})"


def index_users(
    resource: str, namespace: str, objs: dict[str, Obj], plan_keys: set[str]
) -> dict[str, list[PvcUser]]:
    by_claim: dict[str, list[PvcUser]] = {}
    launchers = _launcher_vms(objs) if resource == "pods" else {}
    for name, obj in sorted(objs.items()):
        if resource == "virtualmachines":
            if f"{namespace}/{name}" in plan_keys:
                continue  # its plan replaces it; sharing between plans is pvc.shared-in-repo
            kind, vm, pod_spec = "VirtualMachine", name, dig(obj, "spec", "template", "spec")
        elif resource == "virtualmachineinstances":
            kind, vm, pod_spec = "VirtualMachineInstance", _vmi_vm(obj), obj.get("spec") or {}
        else:
            if dig(obj, "status", "phase") in FINISHED_POD_PHASES or obj_owner(
                obj, "PersistentVolumeClaim"
            ):
                continue  # finished, or a CDI worker populating that very PVC (pvc.populating)
            kind, vm, pod_spec = "Pod", launchers.get(name, ""), obj.get("spec") or {}
        for claim, read_only in _claims(pod_spec, kind == "Pod"):
            by_claim.setdefault(claim, []).append(PvcUser(kind, name, read_only, vm))
    return by_claim


def _claims(spec: Obj, pod: bool) -> Iterable[tuple[str, bool]]:
    """(claim name, read-only) for each PVC volume of a pod or VM(I) spec."""
    disks = {d.get("name"): d for d in dig(spec, "domain", "devices", "disks") or []}
    for volume in spec.get("volumes") or []:
        pvc = volume.get("persistentVolumeClaim") or {}
        claim = pvc.get("claimName") or (volume.get("dataVolume") or {}).get("name")
        if not claim:
            continue
        read_only = bool(pvc.get("readOnly"))
        if not pod:
            read_only = read_only or _disk_read_only(disks.get(volume.get("name")) or {})
        yield claim, read_only


def _disk_read_only(disk: Obj) -> bool:
    if "cdrom" in disk:  # a CD-ROM is read-only unless it says otherwise
        return (disk.get("cdrom") or {}).get("readonly", True) is not False
    return bool((disk.get("disk") or disk.get("lun") or {}).get("readonly"))


def _vmi_vm(vmi: Obj) -> str:
    owner = obj_owner(vmi, "VirtualMachine")
    return owner or obj_name(vmi)  # KubeVirt names a VM's VMI after the VM


def _launcher_vms(pods: dict[str, Obj]) -> dict[str, str]:
    """pod name -> the VM it runs for: virt-launcher pods, and hotplug pods they own."""
    vms: dict[str, str] = {}
    for name, pod in pods.items():
        vm = obj_labels(pod).get("vm.kubevirt.io/name") or obj_owner(pod, "VirtualMachineInstance")
        if vm:
            vms[name] = vm
    for name, pod in pods.items():
        parent = obj_owner(pod, "Pod")
        if name not in vms and parent in vms:
            vms[name] = vms[parent]
    return vms


def dig(obj: Obj, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)  # type: ignore[assignment]
    return obj


def obj_name(obj: Obj) -> str:
    return str(dig(obj, "metadata", "name") or "")


def obj_labels(obj: Obj) -> dict[str, str]:
    return dig(obj, "metadata", "labels") or {}


def obj_owner(obj: Obj, kind: str) -> str:
    for ref in dig(obj, "metadata", "ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("name") or "")
    return ""
