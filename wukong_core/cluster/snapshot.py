"""A recorded cluster: what `kubectl get ... -A -o yaml` printed, as a ClusterView.

A snapshot records what kubectl printed: kubectl refuses the whole command when one of the kinds
it is asked for is not served, so a snapshot holds every kind of the command, and a kind absent
from it has no objects. Which command it was is known, not guessed, from a witness: CDI keeps
exactly one CDIConfig (`config`) wherever it runs, and the command of this release is the first
to ask for it, so a snapshot holding it recorded every kind of that command.

Snapshots of earlier commands hold no CDIConfig, and may lack kinds those commands did not ask
for (`LATER_KINDS`), which must not read as "none exist". There one object of the kind, or of a
kind the same command change added beside it, proves it was asked for; otherwise reading it is
`not-recorded`, the checks that need it are skipped, and `source` names the kinds a check
wanted and did not get. (Without a CDIConfig, the clone-size check takes CDI's default
filesystem overhead, and says so.)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wukong_core.cluster.resources import BY_KIND, RESOURCES, resource_of
from wukong_core.errors import ClusterError, SpecError, UsageError
from wukong_core.objects import Obj

SNAPSHOT_COMMAND = (
    "kubectl get pvc,storageclass,storageprofile,cdiconfig,namespace,vm,vmi,datavolume,pod,"
    "datasources.cdi.kubevirt.io,virtualmachineinstancetypes,virtualmachineclusterinstancetypes,"
    "virtualmachinepreferences,virtualmachineclusterpreferences,network-attachment-definitions "
    "-A -o yaml"
)
# The kind whose one object proves the snapshot was taken with SNAPSHOT_COMMAND.
WITNESS = "cdiconfigs"
# The kinds of issue 16's command change: one object of any of them proves they were all asked
# for (KubeVirt deploys its common cluster instancetypes and preferences by default, so that
# proof is nearly always there).
_NAMED_KINDS = (
    "datasources",
    "network-attachment-definitions",
    "virtualmachineinstancetypes",
    "virtualmachineclusterinstancetypes",
    "virtualmachinepreferences",
    "virtualmachineclusterpreferences",
)
# Kinds an older snapshot command did not ask for -> the kinds whose objects prove that it did.
# CDI keeps a StorageProfile for every StorageClass, so classes without any profile were not
# recorded (and with no class, no profile is needed).
LATER_KINDS: dict[str, tuple[str, ...]] = {
    "storageprofiles": ("storageprofiles",),
    **dict.fromkeys(_NAMED_KINDS, _NAMED_KINDS),
}
# A later kind is only missed where these kinds have objects that would need it.
NEEDED_BY = {"storageprofiles": "storageclasses"}


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
        self.unrecorded = set() if WITNESS in recorded else {
            later
            for later, proofs in LATER_KINDS.items()
            if not recorded.intersection(proofs)
            and (later not in NEEDED_BY or NEEDED_BY[later] in recorded)
        }  # fmt: skip
        self.skipped: set[str] = set()  # unrecorded kinds a check asked for
        self._source = source

    @property
    def source(self) -> str:
        """What the checks ran against, and which of them the snapshot could not serve."""
        kinds = sorted(RESOURCES[r].kind for r in self.skipped)
        if not kinds:
            return self._source
        named = ", ".join(f"{k}s" for k in kinds[:-1]) + (" or " if kinds[1:] else "")
        return (
            f"{self._source} (holds no {named}{kinds[-1]}s: the checks that need them were "
            f"skipped; record them with `{SNAPSHOT_COMMAND}`)"
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
            self.skipped.add(resource)
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
