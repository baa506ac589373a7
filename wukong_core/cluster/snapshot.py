"""A recorded cluster: what `kubectl get ... -A -o yaml` printed, as a ClusterView.

A snapshot records what kubectl printed: kubectl refuses the whole command when one of the kinds
it is asked for is not served, so a snapshot holds every kind of the command, and a kind absent
from it has no objects. The one exception is StorageProfiles, which older snapshots were not
asked for: a snapshot with StorageClasses but no StorageProfile (CDI keeps one per class) did not
record them, so reading them is `not-recorded`, the checks that need them are skipped, and
`source` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wukong_core.cluster.resources import BY_KIND, RESOURCES, resource_of
from wukong_core.errors import ClusterError, SpecError, UsageError
from wukong_core.objects import Obj

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
            resource = BY_KIND.get((obj.get("kind"), group))
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
        if namespace is not None or not resource_of(resource).namespaced:
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
    resource = BY_KIND.get((obj["kind"], obj["apiVersion"].rpartition("/")[0]))
    if resource and RESOURCES[resource].namespaced and not isinstance(meta.get("namespace"), str):
        return f"{obj['kind']} {meta['name']} without metadata.namespace"
    return ""
