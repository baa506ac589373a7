"""A fake Kubernetes API on 127.0.0.1 (kmock); the objects it serves are `tests.kube_objects` and
`tests.kube_storage`.

Load with `pytest_plugins = ["tests.kube"]`. The fake answers LIST requests the way the real API
server does (a `<Kind>List` with `metadata.resourceVersion`, items sorted by namespace/name, no
`apiVersion`/`kind` on items of built-in types, `limit`/`continue` pagination, plain-text 404 for
an API group that is not installed) and records every request, so tests assert on what went over
the wire. The real `kubernetes` client talks to it over HTTP: nothing in the client is mocked.

The server runs on its own event loop in a background thread, so the code under test stays
synchronous, as it is in production. (PYTEST_DONT_REWRITE: test modules import from it
before pytest registers this module as a plugin.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from kmock._internal import parsing

from tests.loopback import closed_port
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
    "cdiconfigs": ("cdi.kubevirt.io", "v1beta1", "CDIConfig"),
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
