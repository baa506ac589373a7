"""Raw Kubernetes objects as the cluster views hand them over, and the view itself.

Pure; no I/O. Shared by the cluster views (which produce objects) and the checks (which read
them): JSON dicts straight from the API server or a snapshot, never client models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

Obj = dict[str, Any]


class ClusterView(Protocol):
    """What the checks may ask of a cluster: whole lists, never single objects."""

    source: str  # human label: "live (context X)", "snapshot examples/cluster-snapshot.yaml"

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Raw JSON objects of `resource` (plural, e.g. "persistentvolumeclaims") in `namespace`
        (None: cluster-scoped or all namespaces). Raises ClusterError when it cannot read."""
        ...

    def prefetch(self, keys: Iterable[tuple[str, str | None]]) -> None:
        """A hint: these (resource, namespace) lists will be asked for. A live view reads them
        at once, in parallel; a failure still surfaces only when `list` asks for it."""
        ...


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
