"""A fake Kubernetes API on 127.0.0.1 (kmock) and factories of the objects it serves.

Load with `pytest_plugins = ["tests.kube"]`. The fake answers LIST requests the way the real API
server does (a `<Kind>List` with `metadata.resourceVersion`, items sorted by namespace/name, no
`apiVersion`/`kind` on items of built-in types, `limit`/`continue` pagination, plain-text 404 for
an API group that is not installed) and records every request, so tests assert on what went over
the wire. The real `kubernetes` client talks to it over HTTP: nothing in the client is mocked.

The server runs on its own event loop in a background thread, so the code under test stays
synchronous, as it is in production. (PYTEST_DONT_REWRITE: test modules import the factories
before pytest registers this module as a plugin.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from kmock._internal import parsing

from wukong_core.cluster import open_cluster
from wukong_core.cluster.live import LiveCluster, RetryPolicy
from wukong_core.objects import ClusterView

Obj = dict[str, Any]
TOKEN = "sekret-token-0123456789"  # tests assert it never shows up in a message

# plural -> (group, version, kind); what the fake serves.
SERVED = {
    "namespaces": ("", "v1", "Namespace"),
    "persistentvolumeclaims": ("", "v1", "PersistentVolumeClaim"),
    "pods": ("", "v1", "Pod"),
    "storageclasses": ("storage.k8s.io", "v1", "StorageClass"),
    "virtualmachines": ("kubevirt.io", "v1", "VirtualMachine"),
    "virtualmachineinstances": ("kubevirt.io", "v1", "VirtualMachineInstance"),
    "datavolumes": ("cdi.kubevirt.io", "v1beta1", "DataVolume"),
    "storageprofiles": ("cdi.kubevirt.io", "v1beta1", "StorageProfile"),
    "datasources": ("cdi.kubevirt.io", "v1beta1", "DataSource"),
    "network-attachment-definitions": ("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition"),
    **{
        plural: ("instancetype.kubevirt.io", "v1beta1", kind)
        for plural, kind in (
            ("virtualmachineinstancetypes", "VirtualMachineInstancetype"),
            ("virtualmachineclusterinstancetypes", "VirtualMachineClusterInstancetype"),
            ("virtualmachinepreferences", "VirtualMachinePreference"),
            ("virtualmachineclusterpreferences", "VirtualMachineClusterPreference"),
        )
    },
}
BUILT_IN_GROUPS = {"", "storage.k8s.io"}


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _parse_path(path: str) -> parsing.ParsedPath:
    # kmock 0.8 raises ValueError on the cluster-scoped `/api/v1/namespaces[/name]` (it reads
    # "namespaces" as the start of a namespaced path), so every namespaces LIST became a 500.
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        return parsing.ParsedPath("", "v1", "namespaces", None, (parts[3:] or [None])[0])
    return _kmock_parse_path(path)


_kmock_parse_path = parsing.parse_path
parsing.parse_path = _parse_path


class FakeApi:
    """kmock's Kubernetes scaffold serving `objects` on a background loop."""

    def __init__(self) -> None:
        self.objects: list[Obj] = []
        self.missing_groups: set[str] = set()  # API groups "not installed": 404 like a real server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stack = contextlib.AsyncExitStack()
        self._rv = 1000

    # lifecycle
    def start(self) -> FakeApi:
        self._thread.start()
        self._run(self._enter())
        return self

    def stop(self) -> None:
        """Shut the server down (idempotent: a test may stop it early to cut the line)."""
        if self._loop.is_closed():
            return
        self._run(self._stack.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _enter(self) -> None:
        self.kmock = await self._stack.enter_async_context(kmock.KubernetesScaffold())
        self.server = await self._stack.enter_async_context(kmock.Server(self.kmock))
        self.kmock.fallback[kmock.action.LIST] << self._serve_list

    @property
    def url(self) -> str:
        return str(self.server.url).rstrip("/")

    # state
    def add(self, *objects: Obj) -> None:
        for obj in objects:
            self._rv += 1
            obj = json.loads(json.dumps(obj))  # the server owns its copy
            obj["metadata"].setdefault("resourceVersion", str(self._rv))
            self.objects.append(obj)

    @property
    def requests(self) -> list[kmock.Request]:
        return list(self.kmock)

    def lists(self, resource: str | None = None) -> list[kmock.Request]:
        """LIST requests that started a listing (not the follow-up pages)."""
        return [
            r
            for r in self.requests
            if r.action == kmock.action.LIST
            and "continue" not in r.params
            and (resource is None or (r.resource and r.resource.plural == resource))
        ]

    # faults: each applies to the next `times` LISTs of `resource` (in `namespace`, if given)
    def fail(
        self,
        resource: str,
        status: int,
        namespace: str | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = status_body(status, resource, namespace)
        reaction = self._faults(resource, namespace)[:times] << status << body
        if headers:
            reaction << kmock.headers(headers)

    def forbid(self, resource: str, namespace: str | None = None) -> None:
        self.fail(resource, 403, namespace, times=1000)

    def delay(self, resource: str, seconds: float, times: int = 1) -> None:
        async def slow(request: kmock.Request) -> Any:
            await asyncio.sleep(seconds)
            return self._serve_list(request)

        self._faults(resource, None)[:times] << slow

    def reset_connection(self, resource: str, times: int = 1) -> None:
        def reset(request: kmock.Request) -> bytes:
            request._raw_request.transport.abort()  # no HTTP answer at all: "connection reset"
            return b""

        self._faults(resource, None)[:times] << reset

    def _faults(self, resource: str, namespace: str | None) -> Any:
        group, version, _ = SERVED[resource]
        view = self.kmock[kmock.action.LIST][kmock.resource(group, version, resource)]
        return view[kmock.namespace(namespace)] if namespace else view

    # the LIST endpoint
    def _serve_list(self, request: kmock.Request) -> Any:
        res = request.resource
        if res is None or res.plural not in SERVED or res.group in self.missing_groups:
            return kmock.Response(status=404, payload=b"404 page not found\n")
        group, version, kind = SERVED[res.plural]
        items = sorted(
            (o for o in self.objects if o["kind"] == kind and _in(o, request.namespace)),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        if group in BUILT_IN_GROUPS:  # typed lists carry no TypeMeta on their items
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
        start = _decode_continue(request.params.get("continue", ""))
        limit = int(request.params.get("limit", 0)) or len(items) or 1
        page, rest = items[start : start + limit], items[start + limit :]
        metadata: Obj = {"resourceVersion": str(self._rv)}
        if rest:
            metadata["continue"] = _encode_continue(self._rv, start + limit)
            metadata["remainingItemCount"] = len(rest)
        body = {
            "kind": f"{kind}List",
            "apiVersion": _api_version(group, version),
            "metadata": metadata,
            "items": page,
        }
        # kmock copies the status of a returned Response onto the fallback reaction itself, so
        # after one 404 every later answer would be a 404: each answer states its own status.
        return kmock.Response(status=200, payload=body)


def _in(obj: Obj, namespace: str | None) -> bool:
    return namespace is None or obj["metadata"].get("namespace") == namespace


def _encode_continue(rv: int, offset: int) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": offset}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_continue(token: str) -> int:
    return int(json.loads(base64.urlsafe_b64decode(token))["start"]) if token else 0


def status_body(status: int, resource: str, namespace: str | None) -> Obj:
    """The `Status` object the API server answers an error with."""
    group = SERVED[resource][0]
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    reason, message = {
        401: ("Unauthorized", "Unauthorized"),
        403: (
            "Forbidden",
            f'{resource} is forbidden: User "system:serviceaccount:wukong-system:wukong" '
            f'cannot list resource "{resource}" in API group "{group}"{where}',
        ),
        429: ("TooManyRequests", "Too many requests, please try again later."),
        500: ("InternalError", "Internal error occurred: etcdserver: request timed out"),
        503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    }.get(status, ("Unknown", f"HTTP {status}"))
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"kind": resource},
        "code": status,
    }


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def kube_api() -> Iterator[FakeApi]:
    api = FakeApi().start()
    yield api
    api.stop()


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": server}},
            {"name": "nowhere", "cluster": {"server": f"http://127.0.0.1:{closed_port()}"}},
        ],
        "users": [{"name": "validator", "user": {"token": TOKEN}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "validator"}},
            {"name": "nowhere", "context": {"cluster": "nowhere", "user": "validator"}},
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def kubeconfig(kube_api: FakeApi, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", kube_api.url)


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_snapshot(path: Path, objects: list[Obj]) -> Path:
    """What `kubectl get ... -A -o yaml` prints for `objects`."""
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}}
    doc["items"] = objects
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
    return path


def live_view(kubeconfig: Path, context: str | None = None, **tuning: Any) -> LiveCluster:
    """The live view of `kubeconfig`, retrying fast, with `tuning` set on it (timeout...)."""
    view = open_cluster(f"kubeconfig:{kubeconfig}", context)
    assert isinstance(view, LiveCluster)
    view.retry = RetryPolicy(attempts=3, backoff=0.01)
    for key, value in tuning.items():
        setattr(view, key, value)
    return view


def names(objects: list[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


@pytest.fixture(params=["live", "snapshot"])
def make_view(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ClusterView]:
    """make_view(*objects): the same objects behind the live fake, or in a snapshot file."""

    def make(*objects: Obj) -> ClusterView:
        if request.param == "live":
            api: FakeApi = request.getfixturevalue("kube_api")
            api.add(*objects)
            config = write_kubeconfig(tmp_path / "kubeconfig", api.url)
            view = open_cluster(f"kubeconfig:{config}")
        else:
            view = open_cluster(f"snapshot:{write_snapshot(tmp_path / 'snap.yaml', list(objects))}")
        assert view is not None
        return view

    return make


# --- object factories: a cluster in the user's terms --------------------------------------------


def _meta(name: str, namespace: str | None = None, **extra: Any) -> Obj:
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
        "metadata": _meta(name, labels=labels, _kind="Namespace"),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


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
    meta = _meta(name, annotations=annotations, _kind="StorageClass")
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
    cdi = {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": _meta("cdi")}
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
        "metadata": _meta(name, labels=labels, ownerReferences=owner(cdi), _kind="StorageProfile"),
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
    meta = _meta(
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


def _volumes(
    rw: tuple[str, ...], ro: tuple[str, ...], dvs: tuple[str, ...], cdroms: tuple[str, ...]
) -> tuple[list[Obj], list[Obj]]:
    """(disks, volumes) of a VM template mounting PVCs read-write, read-only, DataVolumes, and
    PVCs as CD-ROMs (always read-only)."""
    disks: list[Obj] = []
    volumes: list[Obj] = []
    plan = (
        [(c, "rw") for c in rw] + [(c, "ro") for c in ro] + [(c, "dv") for c in dvs]
        + [(c, "cdrom") for c in cdroms]
    )  # fmt: skip
    for i, (claim, how) in enumerate(plan):
        vol = f"disk{i}"
        if how == "cdrom":
            disks.append({"name": vol, "cdrom": {"bus": "sata", "readonly": True}})
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
) -> Obj:
    """A VirtualMachine mounting PVCs `rw` read-write, `ro` read-only, DataVolumes `dvs`, and
    PVCs `cdroms` as CD-ROMs."""
    disks, volumes = _volumes(rw, ro, dvs, cdroms)
    template = {
        "domain": {"cpu": {"cores": 1}, "memory": {"guest": "1Gi"}, "devices": {"disks": disks}}
    }
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": _meta(name, ns, generation=1, _kind="VirtualMachine"),
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
        "metadata": _meta(
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
        "metadata": _meta(name, ns, labels=labels, ownerReferences=owners, _kind="Pod"),
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
        "metadata": _meta(
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
        "metadata": _meta(name, ns, annotations=annotations, generation=1, _kind="NAD"),
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
        "metadata": _meta(
            name, ns, labels=labels, annotations=annotations, generation=1, _kind=kind
        ),
        "spec": {"cpu": {"guest": cpu}, "memory": {"guest": memory}},
    }


def preference(name: str, ns: str | None = None, secure_boot: bool = True) -> Obj:
    """A VirtualMachineClusterPreference like the common `fedora` one (virtio devices, EFI with
    Secure Boot and SMM, at least 1 vCPU and 2Gi), or with `ns` a VirtualMachinePreference."""
    kind = "VirtualMachineClusterPreference" if ns is None else "VirtualMachinePreference"
    spec: Obj = {
        "devices": {"preferredDiskBus": "virtio", "preferredInterfaceModel": "virtio"},
        "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "2Gi"}},
    }
    if secure_boot:
        spec["firmware"] = {"preferredEfi": {"secureBoot": True}}
        spec["features"] = {"preferredSmm": {}}
    labels = COMMON_LABELS if ns is None else {}
    return {
        "apiVersion": INSTANCETYPE_API,
        "kind": kind,
        "metadata": _meta(name, ns, labels=labels, generation=1, _kind=kind),
        "spec": spec,
    }


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
        "metadata": _meta(name, ns, labels=labels, generation=1, _kind="DataSource"),
        "spec": {"source": source},
        "status": {"conditions": [ready_condition], "source": source},
    }
