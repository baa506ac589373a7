"""P3: live cluster validation of 1,000 specs in 10 namespaces, 20 ms per API request.

The real `kubernetes` client (LiveCluster, from a kubeconfig) against the kmock fake API of
tests/kube.py, with 20 ms added to every request. The specs are P2's, each also on the pod
network and a Multus one, with a disk cloned from a golden-image DataSource, and half of them
sized by an instancetype and preference instead of cpu and memory. The cluster holds what a
running fleet would: the namespaces, the default StorageClass and its CDI StorageProfile, each
VM's attached PVC, for half the VMs their own earlier render (VirtualMachine, DataVolumes,
PVCs), a NetworkAttachmentDefinition per namespace, KubeVirt's common cluster instancetype and
preference, and the DataSource in its golden-image namespace.

Targets: no GET per disk, and one LIST per kind and namespace: in a VM's namespace its PVCs,
DataVolumes, VMs, VMIs and pods, plus the NetworkAttachmentDefinitions its specs name (6); in
the golden-image namespace its DataSources; cluster-wide namespaces, storageclasses,
storageprofiles and, as the specs name cluster instancetypes and preferences, those two (5).
(Specs naming namespaced instancetypes or preferences would add one LIST each per namespace.)
Wall <= 2 x (requests x 20 ms) + the offline time, the offline validation of the same specs
being measured interleaved (the baseline).
The fake runs in a process of its own. `kubernetes` is imported before timing: its import is
a cold-start cost, not a per-run one.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, child_env, interleave, make_specs, runs_for
from tests import kube, kube_objects, kube_storage
from wukong_core import pipeline
from wukong_core.cluster import open_cluster

COUNT = 1_000
NAMESPACES = 10
LATENCY_S = 0.020
# namespaces, storageclasses, storageprofiles, virtualmachineclusterinstancetypes,
# virtualmachineclusterpreferences: one LIST each
CLUSTER_WIDE = 5
PER_NAMESPACE = 6  # pvcs, datavolumes, vms, vmis, pods, network-attachment-definitions
GOLDEN = "kubevirt-os-images"


class SlowApi(kube.FakeApi):
    """The fake API server, answering every LIST `LATENCY_S` late."""

    async def _slow_list(self, request: Any) -> Any:
        await asyncio.sleep(LATENCY_S)
        return kube.FakeApi._serve_list(self, request)

    async def _enter(self) -> None:
        self._serve_list = self._slow_list  # type: ignore[method-assign]
        await super()._enter()


def serve() -> None:
    """The server process: print the URL, then answer "requests" on stdin until EOF.

    A process of its own, as the API server is in production: its work runs beside the
    client's instead of taking turns with it under one GIL."""
    api = SlowApi().start()
    api.add(*fleet())
    print(api.url, flush=True)
    for line in sys.stdin:
        if line.strip() == "requests":
            seen = [
                {"action": str(r.action), "namespace": r.namespace or "",
                 "continue": "continue" in r.params}
                for r in api.requests
            ]  # fmt: skip
            print(json.dumps(seen), flush=True)
    api.stop()


class ServerProcess:
    def __init__(self) -> None:
        command = [sys.executable, "-c", "from bench.p3_cluster import serve; serve()"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None and self.process.stdin is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("the fake API server did not start")

    def requests(self) -> list[dict[str, Any]]:
        assert self.process.stdout is not None and self.process.stdin is not None
        self.process.stdin.write("requests\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def with_references(sources: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """P2's specs, each on the pod network and the Multus network lab-vlan100 with a disk from
    the golden image `fedora`; every other one sized by an instancetype and preference."""
    networks = (
        b"  networks:\n  - {name: default, network: pod}\n  - {name: lab, network: lab-vlan100}\n"
    )
    golden = f"  - name: golden\n    dataSource: {{name: fedora, namespace: {GOLDEN}}}\n".encode()
    sized = b"  instancetype: {name: u1.medium}\n  preference: {name: fedora}\n"
    out = []
    for i, (path, data) in enumerate(sources):
        if i % 2 == 0:
            data = re.sub(rb"  cpu: \d+\n  memory: \w+\n", sized, data)
        out.append((path, data.replace(b"  disks:\n", networks + b"  disks:\n") + golden))
    return out


def fleet() -> list[dict[str, Any]]:
    objects = [kube_objects.namespace(f"team-{n:02d}") for n in range(NAMESPACES)]
    fast = kube_storage.storage_class("fast", default=True)  # the scratch disks name no class
    objects += [fast, kube_storage.storage_profile(fast)]
    objects += [kube_objects.namespace(GOLDEN), kube_storage.datasource(GOLDEN, "fedora")]
    objects += [kube_objects.instancetype("u1.medium"), kube_objects.preference("fedora")]
    objects += [
        kube_objects.network_attachment_definition(f"team-{n:02d}", "lab-vlan100")
        for n in range(NAMESPACES)
    ]
    for i in range(COUNT):
        ns, name = f"team-{i % NAMESPACES:02d}", f"vm-{i:05d}"
        objects.append(kube_storage.pvc(ns, f"data-{i:05d}", modes=("ReadWriteMany",)))
        if i % 2:
            continue
        machine = kube_objects.vm(ns, name, rw=(f"data-{i:05d}",), dvs=(f"{name}-system",))
        objects.append(machine)
        own = {"app.kubernetes.io/managed-by": "wukong", "app.kubernetes.io/name": name}
        for disk in ("system", "scratch"):
            objects.append(
                kube_storage.datavolume(ns, f"{name}-{disk}", owners=kube_objects.owner(machine))
            )
            objects.append(kube_storage.pvc(ns, f"{name}-{disk}", labels=own))
    return objects


def measure(quick: bool) -> list[Figure]:
    import kubernetes.client  # noqa: F401  (warm: see the module docstring)

    sources = with_references(make_specs(COUNT, NAMESPACES))
    api = ServerProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = kube.write_kubeconfig(Path(tmp) / "kubeconfig", api.url)
            source = f"kubeconfig:{config}"

            def live() -> pipeline.Outcome:
                outcome = pipeline.run(sources, cluster=open_cluster(source), render=False)
                assert outcome.ok, [f for f in outcome.findings if f.severity == "error"][:3]
                return outcome

            def offline() -> pipeline.Outcome:
                return pipeline.run(sources, render=False)

            seen = len(api.requests())
            live()  # one counted run
            requests = api.requests()[seen:]
            paired = interleave(live, offline, runs_for(quick))
    finally:
        api.stop()
    lists = [r for r in requests if r["action"] == str(kube.kmock.action.LIST)]
    starts = [r for r in lists if not r["continue"]]
    per_ns = Counter(r["namespace"] for r in starts if r["namespace"])
    cluster_wide = sum(1 for r in starts if not r["namespace"])
    others = len(requests) - len(lists)
    budget = 2 * len(requests) * LATENCY_S + sorted(paired.b)[len(paired.b) // 2]
    fastest_budget = 2 * len(requests) * LATENCY_S + min(paired.b)
    ours_median = sorted(paired.a)[len(paired.a) // 2]
    counts_ok = (
        max(per_ns.values(), default=0) <= PER_NAMESPACE
        and cluster_wide <= CLUSTER_WIDE
        and others == 0
        and len(lists) == len(starts)
    )
    return [
        Figure(
            id="P3-requests",
            measure=f"API requests validating {COUNT:,} specs in {NAMESPACES} namespaces",
            baseline=f"<= {PER_NAMESPACE} LIST per namespace + {CLUSTER_WIDE}, no GET",
            ours=f"{len(requests)} requests: {len(starts)} LISTs ({cluster_wide} cluster-wide, "
            f"max {max(per_ns.values(), default=0)} per namespace), "
            f"{len(lists) - len(starts)} follow-up pages, {others} other",
            ratio_median=len(requests) / (PER_NAMESPACE * NAMESPACES + 1 + CLUSTER_WIDE),
            ratio_fastest=None,
            target=f"<= {PER_NAMESPACE}/namespace (1 golden) + {CLUSTER_WIDE} LISTs, 0 GETs",
            passed=counts_ok,
            unit="requests / budget",
            details={"per_namespace": dict(per_ns), "cluster_wide": cluster_wide},
        ),
        Figure(
            id="P3",
            measure=f"live validation of {COUNT:,} specs, {LATENCY_S * 1000:g} ms per request",
            baseline=f"budget 2 x {len(requests)} x {LATENCY_S * 1000:g} ms + offline "
            f"({paired.describe('b')}) = {budget:.3f}s",
            ours=f"LiveCluster: {paired.describe('a')}",
            ratio_median=ours_median / budget,
            ratio_fastest=min(paired.a) / fastest_budget,
            target="<= 1.0x of the budget",
            passed=ours_median <= budget,
            details={"live_s": paired.a, "offline_s": paired.b, "requests": len(requests)},
        ),
    ]
