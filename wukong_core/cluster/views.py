"""ClusterView implementations: a recorded snapshot file, and the live API (read only).

    open_cluster("offline")            -> None: no cluster checks
    open_cluster("snapshot:PATH")      -> SnapshotCluster (`kubectl get pvc,storageclass,
                                          storageprofile,namespace,vm,vmi,datavolume,pod -A
                                          -o yaml`, YAML or JSON)
    open_cluster("kubeconfig:PATH", context) / open_cluster("in-cluster") -> LiveCluster

LiveCluster lists each (resource, namespace) once, paginated, as raw JSON through the official
client's `ApiClient` (`CoreV1Api` and its models cost over a second to import and are slow to
deserialise into). `kubernetes` and `urllib3` are imported inside functions, so importing this
module stays cheap for the offline paths. Every failure becomes a `ClusterError` whose message
names the read and, for RBAC, the grant; it never carries tokens or kubeconfig contents.

A kind that is not there is not the same as a kind with no objects. Live, an API group that is
not installed answers 404, which becomes a `not-served` ClusterError (the checks report
cluster.kubevirt-missing or cluster.cdi-missing), never "none exist". A snapshot records what
kubectl printed: kubectl refuses the whole command when one of the kinds it is asked for is not
served, so a snapshot holds every kind of the command, and a kind absent from it has no objects.
The one exception is StorageProfiles, which older snapshots were not asked for: a snapshot with
StorageClasses but no StorageProfile (CDI keeps one per class) did not record them, so reading
them is `not-recorded`, the checks that need them are skipped, and `source` says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wukong_core.errors import ClusterError, SpecError, UsageError
from wukong_core.extras import require
from wukong_core.objects import ClusterView, Obj

__all__ = [
    "RESOURCES",
    "ClusterView",
    "LiveCluster",
    "RetryPolicy",
    "SnapshotCluster",
    "open_cluster",
]


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    group: str  # "" for the core API
    version: str
    namespaced: bool
    optional: bool = False  # served by a CRD (KubeVirt, CDI) that may not be installed

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


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
}
_BY_KIND = {(r.kind, r.group): name for name, r in RESOURCES.items()}


def _resource(name: str) -> Resource:
    try:
        return RESOURCES[name]
    except KeyError:
        raise ValueError(f"unknown resource {name!r}; known: {', '.join(RESOURCES)}") from None


def _what(resource: str, namespace: str | None) -> str:
    if namespace is None:
        return resource if not _resource(resource).namespaced else f"{resource} in all namespaces"
    return f"{resource} in namespace {namespace}"


# --- snapshot -----------------------------------------------------------------------------------


SNAPSHOT_COMMAND = (
    "kubectl get pvc,storageclass,storageprofile,namespace,vm,vmi,datavolume,pod -A -o yaml"
)
# Kinds an older snapshot command did not ask for -> the kind that proves they would be there:
# CDI keeps a StorageProfile for every StorageClass, so classes without profiles were not recorded.
LATER_KINDS = {"storageprofiles": "storageclasses"}


class SnapshotCluster:
    """A recorded cluster: the `v1` `List` that `kubectl get ... -A -o yaml` prints."""

    def __init__(self, items: Iterable[Obj], source: str = "snapshot") -> None:
        self._index: dict[tuple[str, str | None], list[Obj]] = {}
        for obj in items:
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            resource = _BY_KIND.get((obj.get("kind"), group))
            if resource is None:
                continue  # recorded with more kinds than Wukong reads: not its business
            namespace = obj["metadata"].get("namespace") if RESOURCES[resource].namespaced else None
            self._index.setdefault((resource, namespace), []).append(obj)
        recorded = {resource for resource, _ in self._index}
        self.unrecorded = [
            later
            for later, proof in LATER_KINDS.items()
            if proof in recorded and later not in recorded
        ]
        self.source = source + "".join(
            f" (holds no {RESOURCES[r].kind}s: the checks that need them were skipped; record "
            f"them with `{SNAPSHOT_COMMAND}`)"
            for r in self.unrecorded
        )

    @classmethod
    def from_file(cls, path: str | Path) -> SnapshotCluster:
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as e:
            raise UsageError(f"failed to read cluster snapshot {path}: {e.strerror}") from e
        return cls(_parse_snapshot(text, str(path)), source=f"snapshot {path}")

    def prefetch(self, keys: Iterable[tuple[str, str | None]]) -> None:
        """Nothing to do: the recording is in memory already."""

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        if resource in self.unrecorded:
            raise ClusterError(
                f"the cluster snapshot holds no {RESOURCES[resource].kind}s (recorded with an "
                f"older command?)",
                kind="not-recorded", resource=resource,
            )  # fmt: skip
        if namespace is not None or not _resource(resource).namespaced:
            return list(self._index.get((resource, namespace), []))
        keys = sorted((k for k in self._index if k[0] == resource), key=lambda k: k[1] or "")
        return [obj for key in keys for obj in self._index[key]]


def _parse_snapshot(text: bytes, file: str) -> list[Obj]:
    import yaml  # JSON is YAML too; the C loader when present (large snapshots)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", -1) + 1
        raise SpecError(f"cluster snapshot is not YAML or JSON: {e}", file=file, line=line) from e
    hint = f"expected the output of `{SNAPSHOT_COMMAND}`"
    if not isinstance(doc, dict) or doc.get("apiVersion") != "v1" or doc.get("kind") != "List":
        raise SpecError(f"cluster snapshot is not a v1 List; {hint}", file=file, line=1)
    items = doc.get("items")
    if not isinstance(items, list):
        raise SpecError(f"cluster snapshot has no `items` list; {hint}", file=file, line=1)
    for i, obj in enumerate(items):
        problem = _item_problem(obj)
        if problem:
            raise SpecError(f"cluster snapshot items[{i}]: {problem}", file=file)
    return items


def _item_problem(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "not an object"
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return "apiVersion and kind must be strings"
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return f"{obj['kind']} without metadata.name"
    resource = _BY_KIND.get((obj["kind"], obj["apiVersion"].rpartition("/")[0]))
    if resource and RESOURCES[resource].namespaced and not isinstance(meta.get("namespace"), str):
        return f"{obj['kind']} {meta['name']} without metadata.namespace"
    return ""


# --- live ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of one request: on 429, 5xx and broken connections, never on a read
    timeout (a LIST that took `read` seconds will not be quicker the second time)."""

    attempts: int = 3
    backoff: float = 0.5  # seconds, doubled each time
    max_retry_after: float = 10.0  # honour a server's Retry-After up to this


RETRY_STATUSES = {429, 500, 502, 503, 504}
PARALLEL_READS = 8  # well inside the API server's default max-requests-inflight (400)


class _Broken(Exception):
    """No HTTP answer at all; `retryable` when trying again may help."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class LiveCluster:
    """The API server, read with raw JSON LISTs through a configured `ApiClient`."""

    def __init__(
        self,
        api_client: Any,
        source: str,
        timeout: tuple[float, float] = (5.0, 30.0),  # (connect, read) seconds
        retry: RetryPolicy = RetryPolicy(),  # frozen, so a shared default is safe
        page_size: int = 500,
    ) -> None:
        self.api = api_client
        self.source = source
        self.timeout = timeout
        self.retry = retry
        self.page_size = page_size
        self._cache: dict[tuple[str, str | None], list[Obj] | ClusterError] = {}
        self._down: _Broken | None = None  # why the server proved unreachable, once it did

    def prefetch(self, keys: Iterable[tuple[str, str | None]]) -> None:
        """Read the lists in parallel: each costs a round trip to the API server, and the
        PreSync Job's time is mostly waiting on them. Failures are kept for `list`."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [key for key in dict.fromkeys(keys) if key not in self._cache]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(todo))) as pool:
            for key, result in zip(todo, pool.map(self._read, todo), strict=True):
                self._cache[key] = result

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        key = (resource, namespace)
        if key not in self._cache:
            self._cache[key] = self._read(key)
        result = self._cache[key]
        if isinstance(result, ClusterError):
            raise result
        return list(result)

    def _read(self, key: tuple[str, str | None]) -> list[Obj] | ClusterError:
        try:
            return self._list_all(*key)
        except ClusterError as e:
            return e

    def _list_all(self, resource: str, namespace: str | None) -> list[Obj]:
        res = _resource(resource)
        if self._down is not None:
            # Parallel reads race to find the server gone; whichever the checks report first
            # must still say why.
            error = self._unreachable(self._down, resource, namespace)
            raise ClusterError(f"{error} (not tried again in this run)", kind=error.kind)
        scope = f"/namespaces/{namespace}" if namespace is not None and res.namespaced else ""
        path = f"{res.prefix}{scope}/{resource}"
        items: list[Obj] = []
        token = ""
        restarted = False
        while True:
            status, body = self._get(path, token, resource, namespace)
            if status == 410 and token and not restarted:
                items, token, restarted = [], "", True  # continue token expired: start over
                continue
            if status == 404 and res.optional:  # the API group is not installed
                raise ClusterError(
                    f"failed to list {_what(resource, namespace)}: the API server at "
                    f"{self._host()} does not serve {resource}.{res.group}/{res.version}",
                    kind="not-served", resource=resource, namespace=namespace or "",
                )  # fmt: skip
            if status != 200:
                raise _status_error(status, body, resource, namespace, self._host())
            page_items, token = _page(body, resource, namespace, self._host())
            items += page_items
            if not token:
                return items

    def _get(
        self, path: str, token: str, resource: str, namespace: str | None
    ) -> tuple[int, bytes]:
        """One page, with bounded retries; (status, body) of the last answer."""
        query: list[tuple[str, Any]] = [("limit", self.page_size)]
        if token:
            query.append(("continue", token))
        for attempt in range(1, self.retry.attempts + 1):
            backoff = self.retry.backoff * 2 ** (attempt - 1)
            last = attempt == self.retry.attempts
            try:
                status, headers, body = self._call(path, query)
            except _Broken as e:
                if not e.retryable or last:
                    self._down = e
                    raise self._unreachable(e, resource, namespace) from e.__cause__
                time.sleep(backoff)
                continue
            if status not in RETRY_STATUSES or last:
                return status, body
            delay = _retry_after(headers)
            if delay is not None and delay > self.retry.max_retry_after:
                return status, body  # the server asks for more patience than a validation has
            time.sleep(backoff if delay is None else delay)
        raise AssertionError("not reached")  # pragma: no cover

    def _call(self, path: str, query: list[tuple[str, Any]]) -> tuple[int, Any, bytes]:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        request = self.api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        try:
            response = self.api.call_api(*request, _request_timeout=self.timeout)
            try:
                return response.status, response.headers, response.read()
            finally:
                response.response.release_conn()
        except ApiException as e:  # how the client reports a TLS failure: retrying cannot help
            reason = str(e.reason or "").splitlines()[-1:] or ["TLS error"]
            raise _Broken(f"TLS: {reason[0][:200]}", retryable=False) from e
        except urllib3.exceptions.ReadTimeoutError as e:
            raise _Broken(f"no answer within {self.timeout[1]:g}s", retryable=False) from e
        except urllib3.exceptions.NewConnectionError as e:  # refused, DNS (subclasses the next)
            reason = str(e).split(": ", 1)[-1][:200]
            raise _Broken(reason, retryable=True) from e
        except urllib3.exceptions.ConnectTimeoutError as e:
            raise _Broken(f"no connection within {self.timeout[0]:g}s", retryable=True) from e
        except urllib3.exceptions.HTTPError as e:  # reset, protocol errors: maybe a restart
            reason = str(e).split(": ", 1)[-1][:200] or type(e).__name__
            raise _Broken(reason, retryable=True) from e

    def _unreachable(self, e: _Broken, resource: str, namespace: str | None) -> ClusterError:
        return ClusterError(
            f"failed to list {_what(resource, namespace)}: cannot reach the API server at "
            f"{self._host()}: {e}",
            kind="unreachable",
        )

    def _host(self) -> str:
        from urllib.parse import urlsplit

        url = urlsplit(self.api.configuration.host)
        return f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")


def _page(body: bytes, resource: str, namespace: str | None, host: str) -> tuple[list[Obj], str]:
    """(items, continue token) of one LIST page; a ClusterError for anything that is not a
    Kubernetes list, so that a broken server or proxy can never read as "no objects"."""
    try:
        page = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ClusterError(
            f"failed to list {_what(resource, namespace)}: the API server at {host} answered "
            "something that is not JSON"
        ) from e
    items = page.get("items") if isinstance(page, dict) else None
    metadata = page.get("metadata") if isinstance(page, dict) else None
    token = (metadata or {}).get("continue") if isinstance(metadata, dict | None) else None
    if (
        not isinstance(page, dict)
        or not isinstance(items, list | None)
        or not all(isinstance(item, dict) and isinstance(item.get("metadata"), dict)
                   for item in items or [])
        or not isinstance(metadata, dict | None)
        or not isinstance(token, str | None)
    ):  # fmt: skip
        raise ClusterError(
            f"failed to list {_what(resource, namespace)}: the API server at {host} answered "
            "JSON that is not a Kubernetes list (no items list of objects)"
        )
    return items or [], token or ""


def _retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def _status_error(
    status: int, body: bytes, resource: str, namespace: str | None, host: str
) -> ClusterError:
    what = _what(resource, namespace)
    detail = _status_message(body)
    if status in (401, 403):
        res = _resource(resource)
        group = f" (apiGroup {res.group})" if res.group else ' (apiGroup "")'
        scope = f"in namespace {namespace}" if namespace is not None and res.namespaced else (
            "cluster-wide (a ClusterRole)"
        )  # fmt: skip
        if status == 401:
            why = "the API server did not accept the credentials (401 Unauthorized); renew them"
        else:
            why = f"forbidden (403{': ' + detail if detail else ''})"
        return ClusterError(
            f'failed to list {what}: {why}; grant "list" on {resource}{group} {scope}',
            kind="forbidden", verb="list", resource=resource, namespace=namespace or "",
        )  # fmt: skip
    answer = f"HTTP {status}" + (f": {detail}" if detail else "")
    return ClusterError(f"failed to list {what}: the API server at {host} answered {answer}")


def _status_message(body: bytes) -> str:
    """The `message` of a Kubernetes Status body, shortened; "" when there is none."""
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        return ""
    return str(message).splitlines()[0][:300] if message else ""


# --- opening ------------------------------------------------------------------------------------


def open_cluster(source: str, context: str | None = None) -> ClusterView | None:
    """The view a WUKONG_CLUSTER value names: offline, in-cluster, kubeconfig:PATH, snapshot:PATH.

    `context` picks a kubeconfig context (default: its current-context)."""
    form, _, arg = source.partition(":")
    if context and form != "kubeconfig":
        raise UsageError(f"a kubeconfig context ({context}) needs a kubeconfig, not {source!r}")
    if source == "offline":
        return None
    if form == "snapshot" and arg:
        return SnapshotCluster.from_file(arg)
    if source == "in-cluster" or (form == "kubeconfig" and arg):
        require("cluster", "validating against a live cluster")
        return _live_in_cluster() if source == "in-cluster" else _live_from_kubeconfig(arg, context)
    raise UsageError(
        f"unknown cluster source {source!r}; use offline, in-cluster, kubeconfig:PATH or "
        "snapshot:PATH"
    )


def _live_from_kubeconfig(path: str, context: str | None) -> LiveCluster:
    from kubernetes import client, config

    if not Path(path).is_file():
        raise UsageError(f"failed to read kubeconfig {path}: no such file")
    configuration = client.Configuration()
    try:
        _, current = config.list_kube_config_contexts(config_file=path)
        name = context or (current or {}).get("name", "")
        config.load_kube_config(
            config_file=path, context=context, client_configuration=configuration,
            persist_config=False,
        )  # fmt: skip
    except (config.ConfigException, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"failed to load kubeconfig {path}: {_first_line(e)}") from e
    return LiveCluster(_api_client(configuration), source=f"live (context {name})")


def _live_in_cluster() -> LiveCluster:
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as e:
        raise UsageError(f"failed to load in-cluster config: {_first_line(e)}") from e
    return LiveCluster(_api_client(configuration), source="live (in-cluster)")


def _api_client(configuration: Any) -> Any:
    from kubernetes.client.api_client import ApiClient

    configuration.retries = False  # our own bounded retry loop sees every failure
    api = ApiClient(configuration)
    api.user_agent = "wukong"
    return api


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
