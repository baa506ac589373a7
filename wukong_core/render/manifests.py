"""VmPlans -> KubeVirt manifests -> byte-stable YAML files. Pure; no I/O.

Same plans, same bytes: keys are sorted and nothing time- or commit-dependent is written
(`emit.dump`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from wukong_core.caches import Caches
from wukong_core.folder import Folder, as_folder, blob_id
from wukong_core.marks import GENERATED_MARK
from wukong_core.plan import CLOUD_INIT_DISK, CloudInitPlan, DiskPlan, VmPlan, plan_line
from wukong_core.render.emit import dump
from wukong_core.spec.models import ProtectDisks

MANAGED_BY = {"app.kubernetes.io/managed-by": "wukong"}
SOURCE_ANNOTATION = "vm.novasphere.dev/source"
KUSTOMIZATION = "kustomization.yaml"
# Argo CD's per-resource sync options: a comma-separated list, white space trimmed (Argo CD,
# "Sync Options"; gitops-engine `resource.GetAnnotationCSVs`).
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
# What `protect_disks` asks of Argo CD for a VM that owns disks, which a prune or a cascading
# Application deletion would garbage-collect with it. `confirm` waits for a person (Argo CD
# v2.14 and later); `never` leaves the VM in place until it is deleted by hand.
PROTECTION: dict[ProtectDisks, tuple[str, ...]] = {
    "confirm": ("Prune=confirm", "Delete=confirm"),
    "never": ("Prune=false", "Delete=false"),
    "off": (),
}

# Extra files for one namespace directory (the PreSync hook): plans -> {file name: object}.
NamespaceExtras = Callable[[str, list[VmPlan], Caches], dict[str, dict[str, Any]]]


# Raise with any change to what Wukong writes for a plan (a new field, another PyYAML's quoting),
# so that every VM file is written afresh once: a commit-back keeps files whose stamps still hold
# (`render_tree`). tests/render/test_manifests.py keeps a digest of the output per format and
# fails until it is raised.
# 2: sync-options on VMs that own disks; 3: CD-ROMs and bootOrder (the plan says boot_order);
# 4: cloud-init, SSH keys, networks, instancetypes, DataSource disks, firmware and TPM;
# 5: plans carry the lines of disk fields (findings point at them), no `interfaces: []`, only
# non-empty inline cloud-init data, the Windows example leaves its TPM to its preference;
# 6: cpu as sockets (cores per socket on request), persistent TPM and UEFI state.
RENDER_FORMAT = 6
# LibYAML's emitter and PyYAML's own differ on what `emit` leaves to them (keys of 128
# characters and more): a file written without LibYAML must not pass for one written with it.
_WRITER = f"wukong render format {RENDER_FORMAT}; libyaml {yaml.__with_libyaml__}\n".encode()


def header(source: str, stamp: str) -> str:
    """A VM file's first line: where it came from, and the stamp that vouches for the rest."""
    one_line = source.replace("\r", "\\r").replace("\n", "\\n")  # the header is one comment line
    return f"{GENERATED_MARK} from {one_line}; do not edit; render {stamp}\n"


def stamp_for(plan: VmPlan, body: bytes, caches: Caches | None = None) -> str:
    """A digest of the writer, the plan and the file's body (all after the header line).

    A file whose header holds the stamp of its own body for a plan was written by Wukong for that
    plan and is untouched since: it is exactly what `render_vm_file(plan)` writes.
    """
    digest = hashlib.sha256(_WRITER)
    digest.update(plan_line(plan, caches.plan_lines if caches else None).encode())
    digest.update(body)
    return digest.hexdigest()[:16]


def _vouched_for(old: bytes, plan: VmPlan, caches: Caches) -> bool:
    """`old` is exactly what `render_vm_file(plan)` writes, header line included."""
    first, _, body = old.partition(b"\n")
    return first + b"\n" == header(plan.file, stamp_for(plan, body, caches)).encode()


def _storage(disk: DiskPlan) -> dict[str, Any]:
    """The CDI `storage:` API: unset fields are left to the StorageProfile, never null."""
    storage: dict[str, Any] = {}
    if disk.size is not None:
        storage["resources"] = {"requests": {"storage": disk.size}}
    if disk.access_mode:
        storage["accessModes"] = [disk.access_mode]
    if disk.volume_mode:
        storage["volumeMode"] = disk.volume_mode
    if disk.storage_class:
        storage["storageClassName"] = disk.storage_class
    return storage


def _source(disk: DiskPlan) -> dict[str, Any]:
    if disk.kind == "clone":
        return {"pvc": {"name": disk.pvc_name, "namespace": disk.pvc_namespace}}
    if disk.kind == "blank":
        return {"blank": {}}
    return {disk.image_source: {"url": disk.image}}


def _labels(vm: str) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/name": vm}


def owns_disks(plan: VmPlan) -> bool:
    """The VM owns storage (a dataVolumeTemplate): deleting it deletes those disks."""
    return any(disk.new_storage for disk in plan.disks)


def sync_options(plan: VmPlan) -> str | None:
    """The VM's `argocd.argoproj.io/sync-options`: the spec's own options first, then the
    protection its plan asks for, each only where the spec sets no option of that name itself
    (a spec's own `Prune=false` stays the only Prune option). None: no annotation."""
    own = dict(plan.annotations).get(SYNC_OPTIONS)
    ours = PROTECTION[plan.protect_disks] if owns_disks(plan) else ()
    options = [o.strip() for o in (own or "").split(",") if o.strip()]
    named = {o.partition("=")[0].strip() for o in options}
    added = [o for o in ours if o.partition("=")[0] not in named]
    return ",".join(options + added) if added else own


def render_datavolume_template(disk: DiskPlan, vm: str) -> dict[str, Any]:
    # The labels travel to the DataVolume and its PVC, so re-validation recognises the VM's
    # own disks (pvc.name-taken) even before ownerReferences are set.
    spec: dict[str, Any]
    if disk.kind == "datasource":  # KubeVirt resolves it into a clone of the DataSource's source
        ref = {"kind": "DataSource", "name": disk.pvc_name, "namespace": disk.pvc_namespace}
        spec = {"sourceRef": ref, "storage": _storage(disk)}
    else:
        spec = {"source": _source(disk), "storage": _storage(disk)}
    return {"metadata": {"name": disk.dv_name, "labels": _labels(vm)}, "spec": spec}


def _device(disk: DiskPlan) -> dict[str, Any]:
    target: dict[str, Any] = {"bus": disk.bus}
    # A clone may be mounted read-only as well; a CD-ROM is read-only by KubeVirt's default.
    if disk.read_only and disk.device == "disk":
        target["readonly"] = True
    device: dict[str, Any] = {"name": disk.name, disk.device: target}
    if disk.boot_order:
        device["bootOrder"] = disk.boot_order
    return device


def _volume(disk: DiskPlan) -> dict[str, Any]:
    if disk.kind == "attach":
        claim: dict[str, Any] = {"claimName": disk.pvc_name}
        if disk.read_only:
            claim["readOnly"] = True
        return {"name": disk.name, "persistentVolumeClaim": claim}
    return {"name": disk.name, "dataVolume": {"name": disk.dv_name}}


def _cloud_init_source(data: CloudInitPlan) -> dict[str, Any]:
    """KubeVirt's cloudInitNoCloud: the user data Secret is `secretRef` (its Go field is
    UserDataSecretRef), the network data Secret `networkDataSecretRef`."""
    source: dict[str, Any] = {}
    if data.user_data:  # empty inline data is no data to KubeVirt: not written
        source["userData"] = data.user_data
    if data.user_data_secret:
        source["secretRef"] = {"name": data.user_data_secret}
    if data.network_data:
        source["networkData"] = data.network_data
    if data.network_data_secret:
        source["networkDataSecretRef"] = {"name": data.network_data_secret}
    return source


def _domain(plan: VmPlan) -> dict[str, Any]:
    """The template's domain. An instancetype sizes the VM: KubeVirt v1.6 refuses any cpu
    cores or `memory` beside one, so neither is written then."""
    devices: dict[str, Any] = {}
    disks = [_device(d) for d in plan.disks]
    if plan.cloud_init is not None:
        disks.append({"name": CLOUD_INIT_DISK, "disk": {"bus": "virtio"}})
    if disks:
        devices["disks"] = disks
    if plan.networks is not None:
        devices["interfaces"] = [{"name": n.name, n.binding: {}} for n in plan.networks]
        if not plan.networks:  # no NIC at all, not KubeVirt's default one
            devices["autoattachPodInterface"] = False
    # What a spec leaves unset is the preference's to fill, and a preference fills only that:
    # a TPM or UEFI written here replaces the preference's whole device, persistence included.
    persistent = {"persistent": True} if plan.persistent_state else {}
    if plan.tpm:
        devices["tpm"] = persistent
    domain: dict[str, Any] = {"devices": devices}
    if plan.instancetype is None:
        domain["cpu"] = plan.topology
        domain["memory"] = {"guest": plan.memory}
    if plan.firmware == "bios":
        domain["firmware"] = {"bootloader": {"bios": {}}}
    elif plan.firmware:  # efi: KubeVirt's secureBoot defaults to true, so say false outright
        secure = plan.firmware == "efi-secure"
        domain["firmware"] = {"bootloader": {"efi": {"secureBoot": secure, **persistent}}}
        if secure:  # Secure Boot needs SMM, which KubeVirt never turns on by itself
            domain["features"] = {"smm": {"enabled": True}}
    return domain


def _template_spec(plan: VmPlan) -> dict[str, Any]:
    template_spec: dict[str, Any] = {"domain": _domain(plan)}
    volumes = [_volume(d) for d in plan.disks]
    if plan.cloud_init is not None:
        volumes.append(
            {"name": CLOUD_INIT_DISK, "cloudInitNoCloud": _cloud_init_source(plan.cloud_init)}
        )
    if volumes:
        template_spec["volumes"] = volumes
    if plan.networks:
        template_spec["networks"] = [
            {"name": n.name, "pod": {}}
            if n.pod
            else {"name": n.name, "multus": {"networkName": n.network}}
            for n in plan.networks
        ]
    if plan.ssh_key_secret:
        template_spec["accessCredentials"] = [
            {
                "sshPublicKey": {
                    "source": {"secret": {"secretName": plan.ssh_key_secret}},
                    "propagationMethod": {"noCloud": {}},
                }
            }
        ]
    return template_spec


def render_vm(plan: VmPlan) -> dict[str, Any]:
    """A kubevirt.io/v1 VirtualMachine; new storage lives in its dataVolumeTemplates."""
    labels = {**dict(plan.labels), **_labels(plan.name)}
    annotations = {**dict(plan.annotations), SOURCE_ANNOTATION: plan.file}
    options = sync_options(plan)
    if options is not None:
        annotations[SYNC_OPTIONS] = options
    spec: dict[str, Any] = {
        "runStrategy": plan.run_strategy,
        "template": {
            "metadata": {"labels": _labels(plan.name)},
            "spec": _template_spec(plan),
        },
    }
    # The kind always: KubeVirt's mutating webhook writes a lowercase resource name where it is
    # left out, which Argo CD would then show as a difference from Git.
    for field, ref in (("instancetype", plan.instancetype), ("preference", plan.preference)):
        if ref is not None:
            spec[field] = {"kind": ref.kind, "name": ref.name}
    templates = [render_datavolume_template(d, plan.name) for d in plan.disks if d.new_storage]
    if templates:
        spec["dataVolumeTemplates"] = templates
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }


def _kustomization(resources: Iterable[str], caches: Caches) -> str:
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(resources),
    }
    return f"{GENERATED_MARK}; do not edit\n" + dump(body, caches)


def render_vm_file(plan: VmPlan, caches: Caches | None = None) -> bytes:
    """The bytes of `<ns>/<vm>.yaml`, a pure function of the (frozen, hashable) plan.

    A commit-back renders the whole repository on every push while a push changes a few
    specs, so a warm instance (`caches.vm_files`) re-renders only the VMs whose plans changed.
    """
    caches = caches or Caches.for_one_run()
    data = caches.vm_files.get(plan)
    if data is None:
        body = dump(render_vm(plan), caches).encode()
        data = header(plan.file, stamp_for(plan, body, caches)).encode() + body
        caches.vm_files.put(plan, data)
    return data


def remember_vm_file(plan: VmPlan, blob: str, caches: Caches) -> None:
    """`blob` is the VM file `plan` renders to (`render_vm_file`), in this instance's memory."""
    caches.vm_blobs.put(plan, blob)
    caches.vm_plans.put(blob, plan)


@dataclass(frozen=True)
class Output:
    """A render of the output folder: `files` by path, and `kept`, the VM files it keeps
    exactly as the folder holds them, by path and Git blob id, whose bytes were not at hand."""

    files: dict[str, bytes]
    kept: dict[str, str]


def render_output(
    plans: Iterable[VmPlan],
    extras: NamespaceExtras | None = None,
    previous: Folder | Mapping[str, bytes] | None = None,
    caches: Caches | None = None,
) -> Output:
    """The output tree, relative to the output directory: `<ns>/<vm>.yaml`, kustomizations.

    Names are validated DNS-1123 labels, so every path stays inside the output directory.
    `previous` is what the output directory holds now. A VM file there is kept rather than
    written again when its blob id is that of the file this plan rendered to before
    (`caches.vm_blobs`: nothing needs reading), or its stamp vouches for it under the VM's
    current plan (when its bytes are at hand). So a commit-back of 2,000 VMs writes only those
    that changed. Anything else there — a hand edit, another format's output — is replaced;
    the result is the same bytes either way.
    """
    caches = caches or Caches.for_one_run()
    folder = as_folder(previous)
    by_namespace: dict[str, list[VmPlan]] = defaultdict(list)
    for plan in plans:
        by_namespace[plan.namespace].append(plan)
    files: dict[str, bytes] = {}
    kept: dict[str, str] = {}
    for namespace, members in sorted(by_namespace.items()):
        members.sort(key=lambda p: p.name)
        names = []
        for plan in members:
            names.append(f"{plan.name}.yaml")
            path = f"{namespace}/{plan.name}.yaml"
            blob = folder.ids.get(path)
            old = None if blob is None else folder.peek(path)
            if blob is not None and blob == caches.vm_blobs.get(plan):
                caches.vm_plans.get(blob)  # in use: a later render may replace this file
                if old is None:
                    kept[path] = blob
                else:
                    files[path] = old
            elif old is not None and _vouched_for(old, plan, caches):
                files[path] = old
                remember_vm_file(plan, blob, caches)  # type: ignore[arg-type]
            else:
                files[path] = render_vm_file(plan, caches)
                if caches.vm_blobs.capacity:
                    remember_vm_file(plan, blob_id(files[path]), caches)
        for name, obj in (extras(namespace, members, caches) if extras else {}).items():
            names.append(name)
            text = f"{GENERATED_MARK}; do not edit\n" + dump(obj, caches)
            files[f"{namespace}/{name}"] = text.encode()
        files[f"{namespace}/{KUSTOMIZATION}"] = _kustomization(names, caches).encode()
    files[KUSTOMIZATION] = _kustomization(by_namespace, caches).encode()
    return Output(files, kept)


def render_tree(
    plans: Iterable[VmPlan],
    extras: NamespaceExtras | None = None,
    previous: Folder | Mapping[str, bytes] | None = None,
    caches: Caches | None = None,
) -> dict[str, bytes]:
    """`render_output` as bytes, every file of the tree: kept ones read from `previous`."""
    folder = as_folder(previous)
    output = render_output(plans, extras, folder, caches)
    return output.files | folder.read(output.kept) if output.kept else output.files
