"""The cluster edge: snapshot files, and the live API read by the real `kubernetes` client over
HTTP from the fake API server in tests/kube.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REFERENCE, ROOT
from tests.kube import (
    TOKEN,
    FakeApi,
    closed_port,
    datavolume,
    hotplug_pod,
    launcher_pod,
    namespace,
    pod_using,
    populated_pvc,
    pvc,
    storage_class,
    storage_profile,
    vm,
    vmi,
    write_kubeconfig,
    write_snapshot,
)
from wukong_core.checks.cluster import check_cluster
from wukong_core.cluster.views import LiveCluster, RetryPolicy, SnapshotCluster, open_cluster
from wukong_core.errors import ClusterError, SpecError, UsageError
from wukong_core.findings import Severity
from wukong_core.plan import VmPlan, plan_vm
from wukong_core.spec.models import Wukong

pytest_plugins = ["tests.kube"]

EXAMPLE_SNAPSHOT = ROOT / "examples" / "cluster-snapshot.yaml"
FAST = RetryPolicy(attempts=3, backoff=0.01)


def live(kubeconfig: Path, context: str | None = None, **tuning: Any) -> LiveCluster:
    view = open_cluster(f"kubeconfig:{kubeconfig}", context)
    assert isinstance(view, LiveCluster)
    view.retry = FAST
    for key, value in tuning.items():
        setattr(view, key, value)
    return view


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


# --- opening ------------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_kubernetes() -> None:
    heavy = "{'kubernetes', 'urllib3'}"
    code = f"import sys, wukong_core.cluster.views; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_offline_is_no_view() -> None:
    assert open_cluster("offline") is None


@pytest.mark.parametrize(
    "source", ["nonsense", "snapshot:", "kubeconfig:/no/such/file", "snapshot:/no/such/file"]
)
def test_bad_sources_are_usage_errors(source: str) -> None:
    with pytest.raises(UsageError, match=r"unknown cluster source|(N|n)o such file"):
        open_cluster(source)


def test_in_cluster_outside_a_cluster_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(UsageError, match="in-cluster"):
        open_cluster("in-cluster")


def test_a_context_needs_a_kubeconfig() -> None:
    with pytest.raises(UsageError, match="needs a kubeconfig"):
        open_cluster("in-cluster", "prod")


def test_unknown_context_is_a_usage_error(kubeconfig: Path) -> None:
    with pytest.raises(UsageError, match="kubeconfig") as e:
        open_cluster(f"kubeconfig:{kubeconfig}", "no-such-context")
    assert TOKEN not in str(e.value)


# --- live reads ---------------------------------------------------------------------------------


def test_live_lists_raw_objects_with_the_kubeconfig_credentials(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    kube_api.add(namespace("vms"), pvc("vms", "b"), pvc("vms", "a"), pvc("other", "c"))
    view = live(kubeconfig)
    assert view.source == "live (context fake)"
    assert names(view.list("persistentvolumeclaims", "vms")) == ["a", "b"]
    assert names(view.list("persistentvolumeclaims")) == ["c", "a", "b"]  # all namespaces
    assert names(view.list("namespaces")) == ["vms"]
    request = kube_api.requests[0]
    assert request.url.path == "/api/v1/namespaces/vms/persistentvolumeclaims"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"


def test_context_picks_the_cluster(kube_api: FakeApi, kubeconfig: Path) -> None:
    view = live(kubeconfig, "nowhere")
    assert view.source == "live (context nowhere)"
    with pytest.raises(ClusterError, match="cannot reach"):
        view.list("namespaces")
    assert kube_api.requests == []


def test_pagination_follows_continue_tokens(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.add(*(pvc("vms", f"disk-{i}") for i in range(5)))
    view = live(kubeconfig, page_size=2)
    assert names(view.list("persistentvolumeclaims", "vms")) == [f"disk-{i}" for i in range(5)]
    pages = kube_api.requests
    assert [r.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert ["continue" in r.params for r in pages] == [False, True, True]


def test_each_read_is_listed_once(kube_api: FakeApi, kubeconfig: Path) -> None:
    view = live(kubeconfig)
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
    view = live(kubeconfig)
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
        live(kubeconfig).list("pods", "vms")
    assert e.value.kind == "forbidden" and TOKEN not in str(e.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_then_success_is_retried(
    kube_api: FakeApi, kubeconfig: Path, status: int
) -> None:
    kube_api.add(pvc("vms", "a"))
    kube_api.fail("persistentvolumeclaims", status, "vms", times=1)
    assert names(live(kubeconfig).list("persistentvolumeclaims", "vms")) == ["a"]
    assert len(kube_api.requests) == 2


def test_persistent_server_error_is_unreachable_after_bounded_retries(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    kube_api.fail("persistentvolumeclaims", 500, "vms", times=100)
    with pytest.raises(ClusterError, match="answered HTTP 500: Internal error occurred") as e:
        live(kubeconfig).list("persistentvolumeclaims", "vms")
    assert e.value.kind == "unreachable"
    assert len(kube_api.requests) == FAST.attempts


def test_too_many_requests_honours_a_short_retry_after(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.fail("pods", 429, "vms", headers={"Retry-After": "1"})
    started = time.monotonic()
    assert live(kubeconfig).list("pods", "vms") == []
    assert time.monotonic() - started >= 0.9
    assert len(kube_api.requests) == 2


def test_a_long_retry_after_is_not_waited_for(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.fail("pods", 429, "vms", times=5, headers={"Retry-After": "120"})
    started = time.monotonic()
    with pytest.raises(ClusterError, match="HTTP 429"):
        live(kubeconfig).list("pods", "vms")
    assert time.monotonic() - started < 5 and len(kube_api.requests) == 1


def test_read_timeout_is_unreachable_and_not_retried(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.delay("persistentvolumeclaims", seconds=1.0)
    view = live(kubeconfig, timeout=(2.0, 0.2))
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
        live(config).list("namespaces")
    assert e.value.kind == "unreachable" and TOKEN not in str(e.value)


def test_connection_reset_is_retried(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.add(namespace("vms"))
    kube_api.reset_connection("namespaces")
    assert names(live(kubeconfig).list("namespaces")) == ["vms"]
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
    view = live(kubeconfig)
    with pytest.raises(ClusterError, match=f"does not serve {served_as}") as e:
        view.list(resource, namespace)
    assert (e.value.kind, e.value.resource) == ("not-served", resource)
    assert names(view.list("persistentvolumeclaims", "vms")) == ["a"]


def test_missing_core_resource_is_an_error(kube_api: FakeApi, kubeconfig: Path) -> None:
    kube_api.missing_groups.add("storage.k8s.io")
    with pytest.raises(ClusterError, match="answered HTTP 404"):
        live(kubeconfig).list("storageclasses")


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
        ]
        doc = {
            "apiVersion": "vm.novasphere.dev/v1alpha1",
            "kind": "Wukong",
            "metadata": {"name": f"vm-{i}", "namespace": ns},
            "spec": {"cpu": 1, "memory": "1Gi", "disks": disks},
        }
        plans.append(
            plan_vm(Wukong.model_validate(doc), f"wukong/vm-{i}.yaml", 1, [10, 14, 16, 20])
        )
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
    findings = check_cluster(many_plans(100, spaces), live(kubeconfig))
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
    }
    expected = {(res, ns) for res in per_namespace for ns in spaces}
    expected |= {(res, "backups") for res in ("persistentvolumeclaims", "datavolumes", "pods")}
    expected |= {("namespaces", None), ("storageclasses", None), ("storageprofiles", None)}
    assert set(reads) == expected
    per_resource = dict(sorted(Counter(r for r, _ in reads).items()))
    print(f"\n100 specs in 5 namespaces: {len(kube_api.requests)} requests, {per_resource}")


# --- snapshots ----------------------------------------------------------------------------------


def test_snapshot_reads_kubectl_list_yaml_and_json(tmp_path: Path) -> None:
    objects = [namespace("vms"), pvc("vms", "a"), vm("vms", "x"), storage_class("fast")]
    from_yaml = SnapshotCluster.from_file(write_snapshot(tmp_path / "s.yaml", objects))
    json_file = tmp_path / "s.json"
    json_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    from_json = open_cluster(f"snapshot:{json_file}")
    for view in (from_yaml, from_json):
        assert view is not None
        assert names(view.list("persistentvolumeclaims", "vms")) == ["a"]
        assert names(view.list("virtualmachines", "vms")) == ["x"]
        assert names(view.list("storageclasses")) == ["fast"]
        assert view.list("pods", "vms") == [] and view.list("persistentvolumeclaims", "other") == []
    assert from_yaml.source.startswith(f"snapshot {tmp_path / 's.yaml'} (holds no StorageProfiles")


def test_a_snapshot_with_storage_profiles_reads_them(tmp_path: Path) -> None:
    fast = storage_class("fast")
    path = write_snapshot(tmp_path / "s.yaml", [fast, storage_profile(fast)])
    view = SnapshotCluster.from_file(path)
    assert view.source == f"snapshot {path}"
    assert names(view.list("storageprofiles")) == ["fast"]


def test_an_older_snapshot_without_storage_profiles_skips_that_check_and_says_so(
    tmp_path: Path,
) -> None:
    """Recorded with the command of an earlier release: the StorageProfile check cannot run, the
    others do, and the source every report carries names what was skipped and the command that
    records it."""
    local = storage_class("local", default=True, provisioner="rancher.io/local-path")
    view = SnapshotCluster.from_file(
        write_snapshot(tmp_path / "old.yaml", [namespace("vms"), local])
    )
    assert "holds no StorageProfiles: the checks that need them were skipped" in view.source
    assert "kubectl get pvc,storageclass,storageprofile,namespace," in view.source
    with pytest.raises(ClusterError) as e:
        view.list("storageprofiles")
    assert e.value.kind == "not-recorded"
    doc = {
        "apiVersion": "vm.novasphere.dev/v1alpha1",
        "kind": "Wukong",
        "metadata": {"name": "web", "namespace": "vms"},
        "spec": {"cpu": 1, "memory": "1Gi", "disks": [{"name": "system", "size": "10Gi"}]},
    }
    plan = plan_vm(Wukong.model_validate(doc), "wukong/web.yaml", 1, [10])
    assert check_cluster([plan], view) == []
    recorded = SnapshotCluster([namespace("vms"), local, storage_profile(local, sets=())])
    assert [f.code for f in check_cluster([plan], recorded)] == ["storageclass.incomplete-profile"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("items: [\n  - {", "not YAML or JSON"),
        ("- just\n- a list\n", "not a v1 List"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "not a v1 List"),
        ("apiVersion: v1\nkind: List\nitems: {}\n", "no `items` list"),
        ("apiVersion: v1\nkind: List\nitems: [42]\n", r"items\[0\]: not an object"),
        (
            "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: a}}\n",
            "without metadata.namespace",
        ),
    ],
)
def test_garbage_snapshots_are_refused_with_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "snap.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=problem) as e:
        open_cluster(f"snapshot:{path}")
    assert e.value.file == str(path)


# --- the example snapshot against the example specs ---------------------------------------------


def example_plans() -> list[VmPlan]:
    plans = []
    for path in sorted((ROOT / "examples" / "specs").glob("*.yaml")):
        spec = Wukong.model_validate(yaml.safe_load(path.read_text()))
        lines = list(range(10, 10 + len(spec.spec.disks)))
        plans.append(plan_vm(spec, str(path.relative_to(ROOT)), 1, lines))
    return plans


def example_objects() -> list[dict[str, Any]]:
    return yaml.safe_load(EXAMPLE_SNAPSHOT.read_text())["items"]


def test_example_specs_validate_against_the_example_snapshot() -> None:
    """Only warnings: the two attached PVCs that are not ReadWriteMany (db-vm's ReadOnlyMany ISO
    too, which is why the recorded db-vm is not LiveMigratable)."""
    findings = check_cluster(example_plans(), open_cluster(f"snapshot:{EXAMPLE_SNAPSHOT}"))
    assert sorted((f.code, f.object) for f in findings) == [
        ("pvc.not-migratable", "vms/db-vm"),
        ("pvc.not-migratable", "vms/hybrid-vm"),
    ], findings
    messages = " ".join(f.message for f in findings)
    assert "existing-data-pvc" in messages and "shared-iso" in messages


def test_the_live_api_with_the_same_objects_gives_the_same_findings(
    kube_api: FakeApi, kubeconfig: Path
) -> None:
    kube_api.add(*example_objects())
    snapshot = check_cluster(example_plans(), open_cluster(f"snapshot:{EXAMPLE_SNAPSHOT}"))
    assert check_cluster(example_plans(), live(kubeconfig)) == snapshot


def test_example_snapshot_has_what_the_examples_need() -> None:
    view = SnapshotCluster.from_file(EXAMPLE_SNAPSHOT)
    assert view.source == f"snapshot {EXAMPLE_SNAPSHOT}"  # recorded with StorageProfiles
    assert names(view.list("storageprofiles")) == ["fast", "standard"]
    assert names(view.list("namespaces")) == ["backups", "default", "kube-system", "vms"]
    classes = {o["metadata"]["name"]: o["volumeBindingMode"] for o in view.list("storageclasses")}
    assert classes == {"fast": "Immediate", "standard": "WaitForFirstConsumer"}
    assert set(names(view.list("persistentvolumeclaims", "vms"))) >= {
        "db-system",
        "shared-iso",
        "existing-data-pvc",
    }
    assert names(view.list("virtualmachines", "vms")) == ["db-vm", "reporting-vm"]
    assert names(view.list("virtualmachineinstances", "vms")) == ["db-vm"]
    assert names(view.list("pods", "vms"))[0].startswith("virt-launcher-db-vm-")


# --- shapes: the snapshot and the fake's objects match the published schemas ---------------------


def schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The strict JSON schema of a kind, from the reference data, when it holds one."""
    group, _, version = api_version.rpartition("/")
    ref = REFERENCE
    if group in ("kubevirt.io", "cdi.kubevirt.io"):
        path = ref / "crds-catalog" / group / f"{kind.lower()}_{version}.json"
    else:
        suffix = f"-{group.split('.')[0]}" if group else ""
        path = (
            ref
            / "kubernetes-json-schema"
            / "v1.31.6-standalone-strict"
            / f"{kind.lower()}{suffix}-{version}.json"
        )
    return json.loads(path.read_text()) if path.is_file() else None


def schema_errors(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    from jsonschema import Draft7Validator, validators

    validator = validators.validator_for(schema, default=Draft7Validator)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]


needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason="the reference data (shared/reference or WUKONG_REFERENCE_DIR) is absent",
)


def fixture_objects() -> list[dict[str, Any]]:
    machine = vm("vms", "db", rw=("a",), ro=("iso",), dvs=("db-root",), running=True,
                 cdroms=("install",))  # fmt: skip
    instance = vmi(machine)
    launcher = launcher_pod(instance, block=("a",))
    importing = datavolume("vms", "db-root", "ImportInProgress")
    waiting = datavolume("vms", "web-root", "PendingPopulation")
    return [
        namespace("vms"),
        storage_class("fast", virt_default=True),
        pvc("vms", "a", ("ReadWriteMany",), owners=None, volume_mode="Block"),
        pvc("vms", "p", phase="Pending", storage_class=None, deleting=True),
        populated_pvc(importing, "Pending"),
        populated_pvc(waiting, "Pending", storage_class="standard"),
        machine,
        instance,
        vmi(vm("vms", "done", rw=("b",), running=True), phase="Succeeded"),
        launcher,
        hotplug_pod(launcher, "hot", "hot-disk"),
        pod_using("vms", "p", "a", read_only=True),
        pod_using("vms", "q", "a", mount="block", init_mount="ro"),
        importing,
        waiting,
    ]


@needs_reference
@pytest.mark.parametrize("source", ["example snapshot", "test factories"])
def test_objects_validate_against_the_reference_schemas(source: str) -> None:
    objects = example_objects() if source == "example snapshot" else fixture_objects()
    checked = set()
    for obj in objects:
        schema = schema_for(obj["apiVersion"], obj["kind"])
        if schema is not None:
            checked.add(obj["kind"])
            assert schema_errors(obj, schema) == [], (obj["kind"], obj["metadata"]["name"])
    assert checked >= {
        "PersistentVolumeClaim",
        "VirtualMachine",
        "VirtualMachineInstance",
        "DataVolume",
    }


@needs_reference
def test_the_fake_list_response_validates_against_the_list_schema(kube_api: FakeApi) -> None:
    kube_api.add(pvc("vms", "a"), pvc("vms", "b", ("ReadOnlyMany",)))
    with urllib.request.urlopen(
        f"{kube_api.url}/api/v1/namespaces/vms/persistentvolumeclaims?limit=1"
    ) as r:
        page = json.load(r)
    assert page["kind"] == "PersistentVolumeClaimList" and page["metadata"]["continue"]
    schema = schema_for("v1", "PersistentVolumeClaimList")
    assert schema is not None and schema_errors(page, schema) == []


@needs_reference
def test_the_schema_check_catches_a_wrong_field() -> None:
    machine = vm("vms", "db")
    machine["spec"]["template"]["spec"]["domain"]["devices"]["disks"] = [
        {"name": "x", "disk": {"buss": "virtio"}}
    ]
    schema = schema_for("kubevirt.io/v1", "VirtualMachine")
    assert schema is not None and schema_errors(machine, schema)
