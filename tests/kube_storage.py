"""Storage objects shaped the way Kubernetes and CDI build them: StorageClasses and their CDI
StorageProfiles, PVCs, DataVolumes and the PVCs CDI's populators fill, golden-image DataSources,
CDI's cluster configuration. The other objects are `tests.kube_objects`."""

from __future__ import annotations

from tests.kube_objects import Obj, object_meta, owner


def storage_class(
    name: str,
    binding: str = "Immediate",
    default: bool = False,
    virt_default: bool = False,
    beta_default: bool = False,
    provisioner: str = "rbd.csi.ceph.com",
    created: str = "2026-11-20T10:00:00Z",
) -> Obj:
    """A StorageClass; `default`, `virt_default` and `beta_default` set the annotations that
    Kubernetes (GA and beta) and CDI (virtualization default) read."""
    marks = {
        "storageclass.kubernetes.io/is-default-class": default,
        "storageclass.kubevirt.io/is-default-virt-class": virt_default,
        "storageclass.beta.kubernetes.io/is-default-class": beta_default,
    }
    annotations = {key: "true" for key, on in marks.items() if on}
    meta = object_meta(name, annotations=annotations, _kind="StorageClass")
    meta["creationTimestamp"] = created
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": provisioner,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": binding,
    }


RBD_CLAIM_PROPERTY_SETS = (
    ("ReadWriteMany", "Block"),
    ("ReadWriteOnce", "Block"),
    ("ReadWriteOnce", "Filesystem"),
)  # what CDI's storagecapabilities table knows for rbd.csi.ceph.com


def storage_profile(
    sc: Obj,
    sets: tuple[tuple[str, str], ...] = RBD_CLAIM_PROPERTY_SETS,
    spec_sets: tuple[tuple[str, str], ...] = (),
) -> Obj:
    """The StorageProfile CDI keeps for StorageClass `sc` (cluster-scoped, named like the
    class): status.claimPropertySets from `spec_sets` when an admin set them, else `sets`, CDI's
    own knowledge of the provisioner (empty for one it does not know, e.g. local-path)."""
    name = sc["metadata"]["name"]

    def as_sets(pairs: tuple[tuple[str, str], ...]) -> list[Obj]:
        return [{"accessModes": [mode], "volumeMode": volume} for mode, volume in pairs]

    labels = {
        "app": "containerized-data-importer",
        "app.kubernetes.io/component": "storage",
        "app.kubernetes.io/managed-by": "cdi-controller",
        "cdi.kubevirt.io": "",
    }
    cdi = {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": object_meta("cdi")}
    status: Obj = {
        "storageClass": name,
        "provisioner": sc["provisioner"],
        "cloneStrategy": "copy",
        "dataImportCronSourceFormat": "pvc",
    }
    claim_sets = as_sets(spec_sets or sets)
    if claim_sets:
        status["claimPropertySets"] = claim_sets
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "StorageProfile",
        "metadata": object_meta(
            name, labels=labels, ownerReferences=owner(cdi), _kind="StorageProfile"
        ),
        "spec": {"claimPropertySets": as_sets(spec_sets)} if spec_sets else {},
        "status": status,
    }


def pvc(
    ns: str,
    name: str,
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    phase: str = "Bound",
    storage_class: str | None = "fast",
    deleting: bool = False,
    owners: list[Obj] | None = None,
    labels: dict[str, str] | None = None,
    size: str = "10Gi",
    volume_mode: str = "Filesystem",
    annotations: dict[str, str] | None = None,
    data_source_ref: Obj | None = None,
) -> Obj:
    meta = object_meta(
        name,
        ns,
        annotations=annotations,
        finalizers=["kubernetes.io/pvc-protection"],
        ownerReferences=owners,
        labels=labels,
        deletionTimestamp="2026-11-20T11:00:00Z" if deleting else None,
        _kind="PersistentVolumeClaim",
    )
    spec: Obj = {
        "accessModes": list(modes),
        "resources": {"requests": {"storage": size}},
        "volumeMode": volume_mode,
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if data_source_ref is not None:  # the API server mirrors it into dataSource
        spec["dataSource"] = dict(data_source_ref)
        spec["dataSourceRef"] = dict(data_source_ref)
    status: Obj = {"phase": phase}
    if phase == "Bound":
        spec["volumeName"] = f"pvc-{meta['uid']}"
        status.update(accessModes=list(modes), capacity={"storage": size})
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }


def datavolume(
    ns: str,
    name: str,
    phase: str = "Succeeded",
    owners: list[Obj] | None = None,
    size: str = "10Gi",
) -> Obj:
    """A DataVolume importing a registry image with CDI's populators, in `phase`."""
    progress = {"Succeeded": "100.0%", "PendingPopulation": "N/A", "WaitForFirstConsumer": "N/A"}
    done = phase == "Succeeded"
    bound = "Bound" if done else "Pending"

    def condition(kind: str, status: bool, reason: str, message: str = "") -> Obj:
        return {
            "type": kind,
            "status": "True" if status else "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": "2026-11-20T10:05:00Z",
            "lastTransitionTime": "2026-11-20T10:05:00Z",
        }

    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": object_meta(
            name,
            ns,
            annotations={"cdi.kubevirt.io/storage.usePopulator": "true"},
            ownerReferences=owners,
            _kind="DataVolume",
        ),
        "spec": {
            "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:41"}},
            "storage": {"resources": {"requests": {"storage": size}}},
        },
        "status": {
            "phase": phase,
            "progress": progress.get(phase, "42.0%"),
            "claimName": name,
            "conditions": [
                condition("Bound", done, bound, f"PVC {name} {bound}"),
                condition("Ready", done, "" if done else phase),
                condition("Running", phase.endswith("InProgress"), "Completed" if done else ""),
            ],
        },
    }


def populated_pvc(
    dv: Obj,
    phase: str = "Bound",
    storage_class: str = "fast",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
) -> Obj:
    """The PVC CDI makes for DataVolume `dv` with its import populator: named and owned by
    the DataVolume, dataSourceRef to the VolumeImportSource `volume-import-source-<dv uid>`,
    CDI's annotations and labels; Pending until CDI has filled it and bound it."""
    meta = dv["metadata"]
    done = dv["status"]["phase"] == "Succeeded"
    annotations = {
        "cdi.kubevirt.io/storage.contentType": "kubevirt",
        "cdi.kubevirt.io/storage.usePopulator": "true",
        "cdi.kubevirt.io/storage.populator.progress": dv["status"]["progress"],
        "volume.kubernetes.io/storage-provisioner": "rbd.csi.ceph.com",
    }
    if done:
        annotations["cdi.kubevirt.io/storage.pod.phase"] = "Succeeded"
    labels = {
        "app": "containerized-data-importer",
        "app.kubernetes.io/component": "storage",
        "app.kubernetes.io/managed-by": "cdi-controller",
    }
    source = {
        "apiGroup": "cdi.kubevirt.io",
        "kind": "VolumeImportSource",
        "name": f"volume-import-source-{meta['uid']}",
    }
    return pvc(
        meta["namespace"],
        meta["name"],
        modes,
        phase=phase,
        storage_class=storage_class,
        owners=owner(dv),
        labels=labels,
        size=dv["spec"]["storage"]["resources"]["requests"]["storage"],
        annotations=annotations,
        data_source_ref=source,
    )


def datasource(ns: str, name: str, ready: bool = True, source_ns: str | None = None) -> Obj:
    """A golden image's DataSource as CDI's DataImportCron keeps it: labelled with its cron;
    once the cron has imported an image, `spec.source.pvc` names it (in `source_ns`, default
    the DataSource's own namespace) and Ready is True. Before that the cron has created it with
    an empty source, and CDI's controller reports Ready False, reason NoSource."""
    ready_condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "Ready" if ready else "NoSource",
        "message": "DataSource is ready to be consumed" if ready else "No source PVC set",
        "lastHeartbeatTime": "2026-11-20T10:05:00Z",
        "lastTransitionTime": "2026-11-20T10:05:00Z",
    }
    source: Obj = {}
    if ready:
        source = {"pvc": {"name": f"{name}-4a5b6c7d8e9f", "namespace": source_ns or ns}}
    labels = {"cdi.kubevirt.io/dataImportCron": f"{name}-image-cron"}
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataSource",
        "metadata": object_meta(name, ns, labels=labels, generation=1, _kind="DataSource"),
        "spec": {"source": source},
        "status": {"conditions": [ready_condition], "source": source},
    }


def cdi_config(
    classes: tuple[Obj, ...] = (),
    global_overhead: str = "0.06",
    per_class: dict[str, str] | None = None,
) -> Obj:
    """The CDIConfig CDI keeps (cluster-scoped, always `config`, owned by the CDI resource). Its
    config controller writes status.filesystemOverhead: the global figure (spec's, else CDI's
    default 0.06) and one entry for every StorageClass (spec's per-class figure, else the
    global one)."""
    per_class = per_class or {}
    cdi = {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": object_meta("cdi")}
    labels = {"app": "containerized-data-importer", "cdi.kubevirt.io": ""}
    spec: Obj = {"featureGates": ["HonorWaitForFirstConsumer"]}
    if global_overhead != "0.06" or per_class:
        spec["filesystemOverhead"] = {"global": global_overhead, "storageClass": per_class}
    names = [c["metadata"]["name"] for c in classes]
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "CDIConfig",
        "metadata": object_meta(
            "config", labels=labels, ownerReferences=owner(cdi), generation=1, _kind="CDIConfig"
        ),
        "spec": spec,
        "status": {
            "defaultPodResourceRequirements": {
                "limits": {"cpu": "750m", "memory": "600M"},
                "requests": {"cpu": "100m", "memory": "60M"},
            },
            "filesystemOverhead": {
                "global": global_overhead,
                "storageClass": {n: per_class.get(n, global_overhead) for n in names},
            },
            "importProxy": {"HTTPProxy": "", "HTTPSProxy": "", "noProxy": "", "trustedCAProxy": ""},
            "scratchSpaceStorageClass": "",
        },
    }
