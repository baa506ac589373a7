"""Kubernetes and KubeVirt objects shaped the way the real controllers build them.

Factories for the fake API server of `tests.kube` and for recorded snapshots: a cluster in the
user's terms (a running VM with its VMI and virt-launcher pod, a pod using a PVC, KubeVirt's
common instancetypes). Storage (StorageClasses, PVCs, what CDI makes) is `tests.kube_storage`.
Each docstring says whose shape it copies.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

Obj = dict[str, Any]


def object_meta(name: str, namespace: str | None = None, **extra: Any) -> Obj:
    meta: Obj = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}/{extra.pop('_kind', '')}")),
        "creationTimestamp": "2026-11-20T10:00:00Z",
    }
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update({k: v for k, v in extra.items() if v})
    return meta


def owner(obj: Obj) -> list[Obj]:
    """ownerReferences naming `obj` as the controller."""
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def namespace(name: str) -> Obj:
    labels = {"kubernetes.io/metadata.name": name}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": object_meta(name, labels=labels, _kind="Namespace"),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _volumes(
    rw: tuple[str, ...],
    ro: tuple[str, ...],
    dvs: tuple[str, ...],
    cdroms: tuple[str, ...],
    plain_cdroms: tuple[str, ...] = (),
) -> tuple[list[Obj], list[Obj]]:
    """(disks, volumes) of a VM template mounting PVCs read-write, read-only, DataVolumes, and
    PVCs as CD-ROMs (always read-only): `cdroms` as Wukong renders them (the volume says
    readOnly too), `plain_cdroms` as a person or the UI writes them (only the disk says so)."""
    disks: list[Obj] = []
    volumes: list[Obj] = []
    plan = (
        [(c, "rw") for c in rw] + [(c, "ro") for c in ro] + [(c, "dv") for c in dvs]
        + [(c, "cdrom") for c in cdroms] + [(c, "plain-cdrom") for c in plain_cdroms]
    )  # fmt: skip
    for i, (claim, how) in enumerate(plan):
        vol = f"disk{i}"
        if how == "cdrom":
            disks.append({"name": vol, "cdrom": {"bus": "sata", "readonly": True}})
        elif how == "plain-cdrom":  # KubeVirt's default: readonly true
            disks.append({"name": vol, "cdrom": {"bus": "sata"}})
        else:
            target = {"bus": "virtio", **({"readonly": True} if how == "ro" else {})}
            disks.append({"name": vol, "disk": target})
        if how == "dv":
            volumes.append({"name": vol, "dataVolume": {"name": claim}})
        else:
            read_only = {"readOnly": True} if how in ("ro", "cdrom") else {}
            volumes.append(
                {"name": vol, "persistentVolumeClaim": {"claimName": claim, **read_only}}
            )
    return disks, volumes


def vm(
    ns: str,
    name: str,
    rw: tuple[str, ...] = (),
    ro: tuple[str, ...] = (),
    dvs: tuple[str, ...] = (),
    running: bool = False,
    cdroms: tuple[str, ...] = (),
    plain_cdroms: tuple[str, ...] = (),
) -> Obj:
    """A VirtualMachine mounting PVCs `rw` read-write, `ro` read-only, DataVolumes `dvs`, and
    PVCs `cdroms` as CD-ROMs, `plain_cdroms` as CD-ROMs whose volume does not say readOnly."""
    disks, volumes = _volumes(rw, ro, dvs, cdroms, plain_cdroms)
    template = {
        "domain": {"cpu": {"cores": 1}, "memory": {"guest": "1Gi"}, "devices": {"disks": disks}}
    }
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": object_meta(name, ns, generation=1, _kind="VirtualMachine"),
        "spec": {
            "runStrategy": "Always" if running else "Halted",
            "template": {"spec": {**template, "volumes": volumes}},
        },
        "status": {"printableStatus": "Running" if running else "Stopped", "ready": running},
    }


def vmi(machine: Obj, phase: str = "Running") -> Obj:
    """The VirtualMachineInstance of VirtualMachine `machine` (KubeVirt names it after the VM
    and makes the VM its controller), in `phase`."""
    meta = machine["metadata"]
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": object_meta(
            meta["name"], meta["namespace"], ownerReferences=owner(machine), _kind="VMI"
        ),
        "spec": machine["spec"]["template"]["spec"],
        "status": {"phase": phase, "nodeName": "node-1"},
    }


LAUNCHER_IMAGE = "quay.io/kubevirt/virt-launcher:v1.6.2"


def launcher_pod(instance: Obj, block: tuple[str, ...] = (), phase: str = "Running") -> Obj:
    """The virt-launcher pod of VirtualMachineInstance `instance`, as KubeVirt's template
    service renders it (pkg/virt-controller/services/template.go, rendervolumes.go): owned by
    the VMI, labelled kubevirt.io=virt-launcher, each PVC or DataVolume a pod volume (readOnly
    only when the VMI's PVC source says so), mounted by the `compute` container, never readOnly,
    at /var/run/kubevirt-private/vmi-disks/<volume>, or a block device /dev/<volume> for the
    claims in `block`."""
    meta = instance["metadata"]
    labels = {
        "kubevirt.io": "virt-launcher",
        "kubevirt.io/created-by": meta["uid"],
        "vm.kubevirt.io/name": meta["name"],
    }
    volumes: list[Obj] = [{"name": "private", "emptyDir": {}}, {"name": "public", "emptyDir": {}}]
    mounts = [
        {"name": "private", "mountPath": "/var/run/kubevirt-private"},
        {"name": "public", "mountPath": "/var/run/kubevirt"},
    ]
    devices: list[Obj] = []
    for volume in instance["spec"]["volumes"]:
        source = volume.get("persistentVolumeClaim") or {"claimName": volume["dataVolume"]["name"]}
        volumes.append({"name": volume["name"], "persistentVolumeClaim": source})
        if source["claimName"] in block:
            devices.append({"name": volume["name"], "devicePath": f"/dev/{volume['name']}"})
        else:
            path = f"/var/run/kubevirt-private/vmi-disks/{volume['name']}"
            mounts.append({"name": volume["name"], "mountPath": path})
    compute: Obj = {
        "name": "compute",
        "image": LAUNCHER_IMAGE,
        "command": ["/usr/bin/virt-launcher-monitor", "--name", meta["name"]],
        "volumeMounts": mounts,
    }
    if devices:
        compute["volumeDevices"] = devices
    name = f"virt-launcher-{meta['name']}-abcde"
    return pod(meta["namespace"], name, volumes, labels, owner(instance), phase, [compute])


def hotplug_pod(launcher: Obj, claim: str, volume: str) -> Obj:
    """The attachment pod KubeVirt starts for a hotplugged volume (RenderHotplugAttachmentPod
    Template): owned by the virt-launcher pod, one `hotplug-disk` container mounting it."""
    mounts = [
        {"name": "hotplug-disks", "mountPath": "/path", "mountPropagation": "HostToContainer"},
        {"name": volume, "mountPath": f"/{volume}"},
    ]
    container = {"name": "hotplug-disk", "image": LAUNCHER_IMAGE, "volumeMounts": mounts}
    volumes = [
        {"name": "hotplug-disks", "emptyDir": {}},
        {"name": volume, "persistentVolumeClaim": {"claimName": claim}},
    ]
    ns = launcher["metadata"]["namespace"]
    labels = {"kubevirt.io": "hotplug-disk"}
    return pod(ns, "hp-volume-x7k2p", volumes, labels, owner(launcher), "Running", [container])


def pod(
    ns: str,
    name: str,
    volumes: list[Obj],
    labels: dict[str, str] | None = None,
    owners: list[Obj] | None = None,
    phase: str = "Running",
    containers: list[Obj] | None = None,
    init_containers: list[Obj] | None = None,
) -> Obj:
    main = {"name": "main", "image": "registry.example.com/app:1.0"}
    spec: Obj = {"containers": containers or [main], "volumes": volumes, "nodeName": "node-1"}
    if init_containers:
        spec["initContainers"] = init_containers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object_meta(name, ns, labels=labels, ownerReferences=owners, _kind="Pod"),
        "spec": spec,
        "status": {"phase": phase},
    }


def _container(name: str, volume: str, use: str | None) -> Obj:
    """A container using `volume`: "rw" or "ro" mounted, "block" as a device, None not at all."""
    container: Obj = {"name": name, "image": "registry.example.com/app:1.0"}
    if use == "block":
        container["volumeDevices"] = [{"name": volume, "devicePath": "/dev/data"}]
    elif use is not None:
        mount = {
            "name": volume,
            "mountPath": "/data",
            **({"readOnly": True} if use == "ro" else {}),
        }
        container["volumeMounts"] = [mount]
    return container


def pod_using(
    ns: str,
    name: str,
    claim: str,
    read_only: bool = False,
    mount: str | None = "rw",
    init_mount: str | None = None,
    phase: str = "Running",
    labels: dict[str, str] | None = None,
) -> Obj:
    """A plain pod with PVC `claim` as volume "data" (`read_only`: the pod volume says so),
    its container using it as `mount` says, and an init container as `init_mount` says."""
    source = {"claimName": claim, **({"readOnly": True} if read_only else {})}
    init = [_container("init", "data", init_mount)] if init_mount else None
    return pod(
        ns,
        name,
        [{"name": "data", "persistentVolumeClaim": source}],
        labels=labels,
        phase=phase,
        containers=[_container("main", "data", mount)],
        init_containers=init,
    )


# --- what specs name besides PVCs: networks, instancetypes, preferences, golden images -----------

INSTANCETYPE_API = "instancetype.kubevirt.io/v1beta1"
# Labels virt-operator puts on the common instancetypes and preferences it deploys.
COMMON_LABELS = {
    "app.kubernetes.io/component": "kubevirt",
    "app.kubernetes.io/managed-by": "virt-operator",
    "instancetype.kubevirt.io/common-instancetypes-version": "v1.4.0",
    "instancetype.kubevirt.io/vendor": "kubevirt.io",
}


def network_attachment_definition(ns: str, name: str, vlan: int = 100) -> Obj:
    """A Multus NetworkAttachmentDefinition of a Linux bridge with a VLAN: its `spec.config` is
    the CNI configuration as a JSON string, as the CRD requires."""
    config = {
        "cniVersion": "0.3.1",
        "name": name,
        "type": "bridge",
        "bridge": "br1",
        "vlan": vlan,
        "ipam": {},
    }
    annotations = {"k8s.v1.cni.cncf.io/resourceName": "bridge.network.kubevirt.io/br1"}
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": object_meta(name, ns, annotations=annotations, generation=1, _kind="NAD"),
        "spec": {"config": json.dumps(config, separators=(",", ":"))},
    }


def instancetype(name: str, cpu: int = 1, memory: str = "4Gi", ns: str | None = None) -> Obj:
    """A VirtualMachineClusterInstancetype as virt-operator deploys the common ones (`u1.medium`:
    1 vCPU, 4Gi), or with `ns` a VirtualMachineInstancetype a team keeps in its namespace."""
    kind = "VirtualMachineClusterInstancetype" if ns is None else "VirtualMachineInstancetype"
    labels = COMMON_LABELS if ns is None else {}
    annotations = {"instancetype.kubevirt.io/displayName": "General Purpose"}
    return {
        "apiVersion": INSTANCETYPE_API,
        "kind": kind,
        "metadata": object_meta(
            name, ns, labels=labels, annotations=annotations, generation=1, _kind=kind
        ),
        "spec": {"cpu": {"guest": cpu}, "memory": {"guest": memory}},
    }


def preference(
    name: str,
    ns: str | None = None,
    secure_boot: bool = True,
    topology: str | None = None,
    vcpus: int = 1,
    persistent: bool = False,
) -> Obj:
    """A VirtualMachineClusterPreference like the common `fedora` one (virtio devices, EFI with
    Secure Boot and SMM, at least 1 vCPU and 2Gi; vCPUs as sockets, KubeVirt's default
    topology), or with `ns` a VirtualMachinePreference; `topology`: cpu.preferredCPUTopology;
    `vcpus`: requirements.cpu.guest. `persistent`: like the common `windows.11` (v1.1 and
    later): a persistent TPM and persistent UEFI variables (components tpm, efi-persisted)."""
    kind = "VirtualMachineClusterPreference" if ns is None else "VirtualMachinePreference"
    spec: Obj = {
        "devices": {"preferredDiskBus": "virtio", "preferredInterfaceModel": "virtio"},
        "requirements": {"cpu": {"guest": vcpus}, "memory": {"guest": "2Gi"}},
    }
    if topology:
        spec["cpu"] = {"preferredCPUTopology": topology}
    if secure_boot:
        spec["firmware"] = {"preferredEfi": {"secureBoot": True}}
        spec["features"] = {"preferredSmm": {}}
    if persistent:
        spec["devices"]["preferredTPM"] = {"persistent": True}
        spec["firmware"] = {"preferredEfi": {"persistent": True, "secureBoot": True}}
    labels = COMMON_LABELS if ns is None else {}
    return {
        "apiVersion": INSTANCETYPE_API,
        "kind": kind,
        "metadata": object_meta(name, ns, labels=labels, generation=1, _kind=kind),
        "spec": spec,
    }
