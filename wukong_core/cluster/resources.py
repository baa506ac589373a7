"""The kinds Wukong reads, where the API serves them, and how a read is named in messages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    group: str  # "" for the core API
    version: str
    namespaced: bool
    optional: bool = False  # served by a CRD (KubeVirt, CDI, Multus) that may not be installed

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


INSTANCETYPE_GROUP = "instancetype.kubevirt.io"
RESOURCES: dict[str, Resource] = {
    "namespaces": Resource("Namespace", "", "v1", namespaced=False),
    "storageclasses": Resource("StorageClass", "storage.k8s.io", "v1", namespaced=False),
    "persistentvolumeclaims": Resource("PersistentVolumeClaim", "", "v1", namespaced=True),
    "pods": Resource("Pod", "", "v1", namespaced=True),
    "virtualmachines": Resource("VirtualMachine", "kubevirt.io", "v1", True, optional=True),
    "virtualmachineinstances": Resource(
        "VirtualMachineInstance", "kubevirt.io", "v1", True, optional=True
    ),
    "datavolumes": Resource("DataVolume", "cdi.kubevirt.io", "v1beta1", True, optional=True),
    "storageprofiles": Resource(
        "StorageProfile", "cdi.kubevirt.io", "v1beta1", namespaced=False, optional=True
    ),
    "datasources": Resource("DataSource", "cdi.kubevirt.io", "v1beta1", True, optional=True),
    # CDI's configuration (one, named `config`): the filesystem overhead it adds to a PVC.
    "cdiconfigs": Resource("CDIConfig", "cdi.kubevirt.io", "v1beta1", False, optional=True),
    # Multus: a 404 means it is not installed, so no spec's Multus network can attach.
    "network-attachment-definitions": Resource(
        "NetworkAttachmentDefinition", "k8s.cni.cncf.io", "v1", True, optional=True
    ),
    # KubeVirt's instancetype API (v1beta1 since v1.0): a 404 beside kubevirt.io means a KubeVirt
    # that serves no instancetypes, so none a spec names can be found.
    "virtualmachineinstancetypes": Resource(
        "VirtualMachineInstancetype", INSTANCETYPE_GROUP, "v1beta1", True, optional=True
    ),
    "virtualmachineclusterinstancetypes": Resource(
        "VirtualMachineClusterInstancetype", INSTANCETYPE_GROUP, "v1beta1", False, optional=True
    ),
    "virtualmachinepreferences": Resource(
        "VirtualMachinePreference", INSTANCETYPE_GROUP, "v1beta1", True, optional=True
    ),
    "virtualmachineclusterpreferences": Resource(
        "VirtualMachineClusterPreference", INSTANCETYPE_GROUP, "v1beta1", False, optional=True
    ),
}
BY_KIND = {(r.kind, r.group): name for name, r in RESOURCES.items()}


def resource_of(name: str) -> Resource:
    try:
        return RESOURCES[name]
    except KeyError:
        raise ValueError(f"unknown resource {name!r}; known: {', '.join(RESOURCES)}") from None


def describe(resource: str, namespace: str | None) -> str:
    if namespace is None:
        return resource if not resource_of(resource).namespaced else f"{resource} in all namespaces"
    return f"{resource} in namespace {namespace}"
