"""The live API, read by the real `kubernetes` client over HTTP from the fake API server in
tests/kube.py: credentials, pagination, retries, failures, and one LIST per resource and
namespace."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.kube import TOKEN, FakeApi, closed_port, live_view, names, write_kubeconfig
from tests.kube_objects import instancetype, namespace, network_attachment_definition, preference
from tests.kube_storage import (
    cdi_config,
    datasource,
    datavolume,
    populated_pvc,
    pvc,
    storage_class,
    storage_profile,
)
from wukong_core.checks.cluster import check_cluster
from wukong_core.checks.reads import Reads
from wukong_core.errors import ClusterError
from wukong_core.findings import Severity
from wukong_core.plan import VmPlan, plan_vm
from wukong_core.spec.models import Wukong

pytest_plugins = ["tests.kube"]
GOLDEN = "kubevirt-os-images"


# --- live reads ---------------------------------------------------------------------------------


def test_live_lists_raw_objects_with_the_kubeconfig_credentials(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    kube_api.add(namespace("vms"), pvc("vms", "b"), pvc("vms", "a"), pvc("other", "c"))
    view = live_view(kubeconfig)
    assert view.source == "live (context fake)"
    assert names(view.list("persistentvolumeclaims", "vms")) == ["a", "b"]
    assert names(view.list("persistentvolumeclaims")) == ["c", "a", "b"]  # all namespaces
    assert names(view.list("namespaces")) == ["vms"]
    request = kube_api.requests[0]
    assert request.url.path == "/api/v1/namespaces/vms/persistentvolumeclaims"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"


def test_context_picks_the_cluster(kube_api: FakeApi, kubeconfig: Path) -> None:
    view = live_view(kubeconfig, "nowhere")
    assert view.source == "live (context nowhere)"
    with pytest.raises(ClusterError, match="cannot reach"):
        view.list("namespaces")
    assert kube_api.requests == []


def test_pagination_follows_continue_tokens(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.add(*(pvc("vms", f"disk-{i}") for i in range(5)))
    view = live_view(kubeconfig, page_size=2)
    assert names(view.list("persistentvolumeclaims", "vms")) == [f"disk-{i}" for i in range(5)]
    pages = kube_api.requests
    assert [r.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert ["continue" in r.params for r in pages] == [False, True, True]


def test_each_read_is_listed_once(kube_api: FakeApi, kubeconfig: Path) -> None:
    view = live_view(kubeconfig)
    for _ in range(3):
        view.list("virtualmachines", "vms")
    assert len(kube_api.requests) == 1


@pytest.mark.parametrize(
    ("resource", "namespace", "grant"),
    [
        (
            "persistentvolumeclaims",
            "vms",
            'grant "list" on persistentvolumeclaims (apiGroup "") in namespace vms',
        ),
        (
            "virtualmachines",
            "vms",
            'grant "list" on virtualmachines (apiGroup kubevirt.io) in namespace vms',
        ),
        (
            "storageclasses",
            None,
            'grant "list" on storageclasses (apiGroup storage.k8s.io) cluster-wide',
        ),
    ],
)
def test_forbidden_says_what_to_grant(
    kube_api: FakeApi, kubeconfig: Path, resource: str, namespace: str | None, grant: str
) -> None:
    kube_api.forbid(resource, namespace)
    view = live_view(kubeconfig)
    for _ in range(2):  # the failure is remembered, not asked again
        with pytest.raises(ClusterError) as e:
            view.list(resource, namespace)
        error = e.value
        assert (error.kind, error.verb, error.resource, error.namespace) == (
            "forbidden",
            "list",
            resource,
            namespace or "",
        )
        assert grant in str(error) and "system:serviceaccount:wukong-system:wukong" in str(error)
        assert TOKEN not in str(error)
    assert len(kube_api.requests) == 1  # 403 is not retried


def test_unauthorized_is_forbidden_with_a_hint(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.fail("pods", 401, "vms")
    with pytest.raises(ClusterError, match="did not accept the credentials") as e:
        live_view(kubeconfig).list("pods", "vms")
    assert e.value.kind == "forbidden" and TOKEN not in str(e.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_then_success_is_retried(
    kube_api: FakeApi, kubeconfig: Path, status: int
) -> None:
    kube_api.add(pvc("vms", "a"))
    kube_api.fail("persistentvolumeclaims", status, "vms", times=1)
    assert names(live_view(kubeconfig).list("persistentvolumeclaims", "vms")) == ["a"]
    assert len(kube_api.requests) == 2


def test_persistent_server_error_is_unreachable_after_bounded_retries(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    kube_api.fail("persistentvolumeclaims", 500, "vms", times=100)
    with pytest.raises(ClusterError, match="answered HTTP 500: Internal error occurred") as e:
        live_view(kubeconfig).list("persistentvolumeclaims", "vms")
    assert e.value.kind == "unreachable"
    assert len(kube_api.requests) == 3  # live_view retries 3 times


def test_too_many_requests_honours_a_short_retry_after(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.fail("pods", 429, "vms", headers={"Retry-After": "1"})
    started = time.monotonic()
    assert live_view(kubeconfig).list("pods", "vms") == []
    assert time.monotonic() - started >= 0.9
    assert len(kube_api.requests) == 2


def test_a_long_retry_after_is_not_waited_for(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.fail("pods", 429, "vms", times=5, headers={"Retry-After": "120"})
    started = time.monotonic()
    with pytest.raises(ClusterError, match="HTTP 429"):
        live_view(kubeconfig).list("pods", "vms")
    assert time.monotonic() - started < 5 and len(kube_api.requests) == 1


def test_read_timeout_is_unreachable_and_not_retried(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.delay("persistentvolumeclaims", seconds=1.0)
    view = live_view(kubeconfig, timeout=(2.0, 0.2))
    with pytest.raises(
        ClusterError,
        match=r"cannot reach the API server at http://127\.0\.0\.1:\d+: no answer within 0\.2s",
    ) as e:
        view.list("persistentvolumeclaims", "vms")
    assert e.value.kind == "unreachable"
    with pytest.raises(
        ClusterError, match=r"no answer within 0\.2s \(not tried again in this run\)"
    ):
        view.list("pods", "vms")  # no second wait on a server that did not answer, same cause
    assert len(kube_api.requests) == 1


def test_refused_connection_is_unreachable(tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ClusterError, match="Connection refused") as e:
        live_view(config).list("namespaces")
    assert e.value.kind == "unreachable" and TOKEN not in str(e.value)


def test_connection_reset_is_retried(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.add(namespace("vms"))
    kube_api.reset_connection("namespaces")
    assert names(live_view(kubeconfig).list("namespaces")) == ["vms"]
    assert len(kube_api.requests) == 2


@pytest.mark.parametrize(
    ("resource", "namespace", "served_as"),
    [
        ("virtualmachines", "vms", "virtualmachines.kubevirt.io/v1"),
        ("virtualmachineinstances", "vms", "virtualmachineinstances.kubevirt.io/v1"),
        ("datavolumes", "vms", "datavolumes.cdi.kubevirt.io/v1beta1"),
        ("storageprofiles", None, "storageprofiles.cdi.kubevirt.io/v1beta1"),
    ],
)
def test_an_api_group_that_is_not_installed_is_not_served_never_empty(
    kube_api: FakeApi, kubeconfig: Path, resource: str, namespace: str | None, served_as: str
) -> None:
    """A 404 on a KubeVirt or CDI list is "not installed", not "none exist" (the checks turn it
    into cluster.kubevirt-missing or cluster.cdi-missing); the core API still answers."""
    kube_api.add(pvc("vms", "a"))
    kube_api.missing_groups |= {"kubevirt.io", "cdi.kubevirt.io"}
    view = live_view(kubeconfig)
    with pytest.raises(ClusterError, match=f"does not serve {served_as}") as e:
        view.list(resource, namespace)
    assert (e.value.kind, e.value.resource) == ("not-served", resource)
    assert names(view.list("persistentvolumeclaims", "vms")) == ["a"]


def test_missing_core_resource_is_an_error(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.missing_groups.add("storage.k8s.io")
    with pytest.raises(ClusterError, match="answered HTTP 404"):
        live_view(kubeconfig).list("storageclasses")


# --- economy: one LIST per resource and namespace, no GETs --------------------------------------


def many_plans(count: int, namespaces: list[str]) -> list[VmPlan]:
    plans = []
    for i in range(count):
        ns = namespaces[i % len(namespaces)]
        disks = [
            {
                "name": "system",
                "size": "10Gi",
                "image": "docker://quay.io/containerdisks/fedora:41",
                "storageClass": "fast",
            },
            {"name": "data", "existingPVC": {"name": f"data-{i}"}},
            {"name": "iso", "existingPVC": {"name": "iso", "readOnly": True}},
            {"name": "restore", "existingPVC": {"name": f"backup-{i}", "namespace": "backups"}},
            {
                "name": "golden",
                "size": "30Gi",
                "dataSource": {"name": "fedora", "namespace": GOLDEN},
            },
        ]
        # Half sized by a cluster instancetype with a cluster preference, half by cpu and
        # memory with their team's own preference (counting vCPUs as cores: one per socket as
        # Wukong writes them, which meets its requirement of one); all on the pod network and a
        # Multus one.
        sizing: dict[str, Any] = (
            {"instancetype": {"name": "u1.medium"}, "preference": {"name": "fedora"}}
            if i % 2 == 0
            else {
                "cpu": 1,
                "memory": "2Gi",
                "preference": {"name": "team", "kind": "VirtualMachinePreference"},
            }
        )
        networks = [{"name": "default", "network": "pod"}, {"name": "lab", "network": "lab"}]
        doc = {
            "apiVersion": "vm.novasphere.dev/v1alpha1",
            "kind": "Wukong",
            "metadata": {"name": f"vm-{i}", "namespace": ns},
            "spec": {**sizing, "disks": disks, "networks": networks},
        }
        lines = [10, 14, 16, 20, 22]
        plans.append(plan_vm(Wukong.model_validate(doc), f"wukong/vm-{i}.yaml", 1, lines))
    return plans


def test_100_specs_in_5_namespaces_list_each_resource_once_per_namespace(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    spaces = [f"team-{n}" for n in range(5)]
    fast = storage_class("fast", default=True)
    kube_api.add(*(namespace(ns) for ns in [*spaces, "backups"]), fast, storage_profile(fast))
    for i in range(100):
        ns = spaces[i % 5]
        kube_api.add(pvc(ns, f"data-{i}", ("ReadWriteMany",)), pvc("backups", f"backup-{i}"))
    kube_api.add(*(pvc(ns, "iso", ("ReadOnlyMany",)) for ns in spaces))
    image = datavolume(GOLDEN, "fedora-4a5b6c7d8e9f", size="30Gi")  # the DataSource's PVC
    kube_api.add(namespace(GOLDEN), datasource(GOLDEN, "fedora"), image, populated_pvc(image))
    kube_api.add(cdi_config((fast,)))
    kube_api.add(instancetype("u1.medium"), preference("fedora"))
    kube_api.add(*(preference("team", ns=ns, topology="cores") for ns in spaces))
    kube_api.add(*(network_attachment_definition(ns, "lab") for ns in spaces))
    findings = check_cluster(many_plans(100, spaces), Reads(live_view(kubeconfig)))
    assert [f for f in findings if f.severity is Severity.ERROR] == []
    reads = Counter((r.resource.plural, r.namespace) for r in kube_api.requests)
    assert all(r.params.get("limit") and not r.name for r in kube_api.requests)  # LISTs, no GETs
    assert max(reads.values()) == 1
    per_namespace = {
        "persistentvolumeclaims",
        "datavolumes",
        "virtualmachines",
        "virtualmachineinstances",
        "pods",
        "network-attachment-definitions",
        "virtualmachinepreferences",
    }
    expected = {(res, ns) for res in per_namespace for ns in spaces}
    expected |= {(res, "backups") for res in ("persistentvolumeclaims", "datavolumes", "pods")}
    # The golden disks are sized: CDI's overhead, and the DataSource's PVC beside it.
    expected |= {("datasources", GOLDEN), ("persistentvolumeclaims", GOLDEN)}
    cluster_wide = ("namespaces", "storageclasses", "storageprofiles", "cdiconfigs")
    cluster_wide += ("virtualmachineclusterinstancetypes", "virtualmachineclusterpreferences")
    expected |= {(res, None) for res in cluster_wide}
    assert set(reads) == expected
    per_resource = dict(sorted(Counter(r for r, _ in reads).items()))
    print(f"\n100 specs in 5 namespaces: {len(kube_api.requests)} requests, {per_resource}")
