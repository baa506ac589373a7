"""Views of a cluster for the checks: none (offline), a recorded snapshot, or the live API.

open_cluster("offline")            -> None: no cluster checks
open_cluster("snapshot:PATH")      -> SnapshotCluster (what snapshot.SNAPSHOT_COMMAND
                                      prints, YAML or JSON)
open_cluster("kubeconfig:PATH", context) / open_cluster("in-cluster") -> LiveCluster
"""

from __future__ import annotations

from wukong_core.cluster.snapshot import SnapshotCluster
from wukong_core.errors import UsageError
from wukong_core.extras import require
from wukong_core.objects import ClusterView


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
        from wukong_core.cluster import live

        return live.in_cluster() if source == "in-cluster" else live.from_kubeconfig(arg, context)
    raise UsageError(
        f"unknown cluster source {source!r}; use offline, in-cluster, kubeconfig:PATH or "
        "snapshot:PATH"
    )
