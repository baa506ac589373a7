"""The live API server as a ClusterView, read only.

LiveCluster lists each (resource, namespace) once, paginated, as raw JSON through the official
client's `ApiClient` (`CoreV1Api` and its models cost over a second to import and are slow to
deserialise into). `kubernetes` and `urllib3` are imported inside functions, so importing this
module stays cheap for the offline paths. Every failure becomes a `ClusterError` whose message
names the read and, for RBAC, the grant; it never carries tokens or kubeconfig contents.

A kind that is not there is not the same as a kind with no objects: an API group that is not
installed answers 404, which becomes a `not-served` ClusterError (the checks report
cluster.kubevirt-missing or cluster.cdi-missing), never "none exist".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wukong_core.cluster.resources import describe, resource_of
from wukong_core.errors import ClusterError, UsageError
from wukong_core.objects import Obj


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
        res = resource_of(resource)
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
                    f"failed to list {describe(resource, namespace)}: the API server at "
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
            f"failed to list {describe(resource, namespace)}: cannot reach the API server at "
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
            f"failed to list {describe(resource, namespace)}: the API server at {host} answered "
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
            f"failed to list {describe(resource, namespace)}: the API server at {host} answered "
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
    what = describe(resource, namespace)
    detail = _status_message(body)
    if status in (401, 403):
        res = resource_of(resource)
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


def from_kubeconfig(path: str, context: str | None) -> LiveCluster:
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


def in_cluster() -> LiveCluster:
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
