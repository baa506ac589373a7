"""Recorded clusters (`kubectl get ... -o yaml`), the example snapshot against the example specs,
and the shapes of the snapshot's and the fake API's objects against the published schemas."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REFERENCE, ROOT
from tests.kube import FakeApi, live_view, names, write_snapshot
from tests.kube_objects import (
    hotplug_pod,
    instancetype,
    launcher_pod,
    namespace,
    network_attachment_definition,
    pod_using,
    preference,
    vm,
    vmi,
)
from tests.kube_storage import (
    cdi_config,
    datasource,
    datavolume,
    populated_pvc,
    pvc,
    storage_class,
    storage_profile,
)
from tests.schemas import close
from wukong_core.checks.cluster import check_cluster
from wukong_core.checks.reads import Reads
from wukong_core.cluster import open_cluster
from wukong_core.cluster.snapshot import SNAPSHOT_COMMAND, SnapshotCluster
from wukong_core.errors import ClusterError, SpecError
from wukong_core.plan import VmPlan, plan_vm
from wukong_core.spec.models import Wukong

pytest_plugins = ["tests.kube"]

EXAMPLE_SNAPSHOT = ROOT / "examples" / "cluster-snapshot.yaml"


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
    assert from_yaml.source == f"snapshot {tmp_path / 's.yaml'}"  # no check missed anything


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
    path = write_snapshot(tmp_path / "old.yaml", [namespace("vms"), local])
    view = SnapshotCluster.from_file(path)
    plan = plan_of({"name": "web", "namespace": "vms"}, disks=[{"name": "system", "size": "10Gi"}])
    assert check_cluster([plan], Reads(view)) == []
    assert view.source == (
        f"snapshot {path} (holds no StorageProfiles: the checks that need them were skipped; "
        f"record them with `{SNAPSHOT_COMMAND}`)"
    )
    with pytest.raises(ClusterError) as e:
        view.list("storageprofiles")
    assert e.value.kind == "not-recorded"
    recorded = SnapshotCluster([namespace("vms"), local, storage_profile(local, sets=())])
    assert [f.code for f in check_cluster([plan], Reads(recorded))] == [
        "storageclass.incomplete-profile"
    ]


def plan_of(metadata: dict[str, str], **spec: Any) -> VmPlan:
    doc = {
        "apiVersion": "vm.novasphere.dev/v1alpha1",
        "kind": "Wukong",
        "metadata": metadata,
        "spec": {"cpu": 1, "memory": "1Gi"} | spec,
    }
    if "instancetype" in spec:
        del doc["spec"]["cpu"], doc["spec"]["memory"]
    return plan_vm(
        Wukong.model_validate(doc), "wukong/web.yaml", 1, [10] * len(spec.get("disks", []))
    )


def test_a_snapshot_of_an_earlier_release_skips_the_reference_checks_and_says_which(
    tmp_path: Path,
) -> None:
    """Recorded without DataSources, NetworkAttachmentDefinitions, instancetypes and
    preferences: that none is there must not read as "none exist". The other checks run."""
    fast = storage_class("fast", default=True)
    objects = [namespace("vms"), fast, storage_profile(fast)]
    view = SnapshotCluster.from_file(write_snapshot(tmp_path / "old.yaml", objects))
    plan = plan_of(
        {"name": "web", "namespace": "vms"},
        instancetype={"name": "u1.medium"},
        preference={"name": "fedora"},
        networks=[{"name": "lab", "network": "lab"}],
        disks=[{"name": "root", "dataSource": {"name": "fedora"}, "storageClass": "fastest"}],
    )
    assert [f.code for f in check_cluster([plan], Reads(view))] == ["storageclass.not-found"]
    assert view.source.endswith(
        "(holds no DataSources, NetworkAttachmentDefinitions, VirtualMachineClusterInstancetypes "
        "or VirtualMachineClusterPreferences: the checks that need them were skipped; record "
        f"them with `{SNAPSHOT_COMMAND}`)"
    )


@pytest.mark.parametrize(
    ("witness", "kind"),
    [
        (instancetype("u1.small"), "VirtualMachineInstancetype"),  # recorded by one command
        (preference("team", ns="vms"), "VirtualMachineClusterInstancetype"),
        (datasource("vms", "other"), "DataSource"),
        (network_attachment_definition("vms", "other"), "NetworkAttachmentDefinition"),
    ],
)
def test_one_object_of_a_later_kind_proves_the_snapshot_recorded_it(
    witness: dict[str, Any], kind: str
) -> None:
    view = SnapshotCluster([namespace("vms"), witness])
    resource = {
        "VirtualMachineInstancetype": ("virtualmachineinstancetypes", "vms"),
        "VirtualMachineClusterInstancetype": ("virtualmachineclusterinstancetypes", None),
        "DataSource": ("datasources", "other-ns"),
        "NetworkAttachmentDefinition": ("network-attachment-definitions", "other-ns"),
    }[kind]
    assert view.list(*resource) == []  # recorded: none there
    assert view.source == "snapshot"


NAMED_SPEC = {
    "instancetype": {"name": "u1.medium"},
    "networks": [{"name": "lab", "network": "lab-vlan100"}],
    "disks": [{"name": "root", "dataSource": {"name": "fedora", "namespace": "vms"}}],
}


def test_a_snapshot_of_this_release_is_known_to_hold_every_kind_of_its_command(
    tmp_path: Path,
) -> None:
    """CDI keeps exactly one CDIConfig wherever it runs, and only this release's command asks
    for it: a snapshot holding it recorded every kind, so a kind absent from it has none, even
    on a cluster where Multus holds no NetworkAttachmentDefinition yet (the case the check is
    for) and no instancetype or DataSource exists."""
    fast = storage_class("fast", default=True)
    objects = [namespace("vms"), fast, storage_profile(fast), cdi_config((fast,))]
    view = SnapshotCluster.from_file(write_snapshot(tmp_path / "now.yaml", objects))
    found = check_cluster([plan_of({"name": "web", "namespace": "vms"}, **NAMED_SPEC)], Reads(view))
    assert sorted(f.code for f in found) == [
        "datasource.not-found",
        "instancetype.not-found",
        "network.not-found",
    ]
    assert view.source == f"snapshot {tmp_path / 'now.yaml'}"  # nothing skipped, nothing guessed


def test_one_kind_of_a_command_change_proves_every_kind_it_added(tmp_path: Path) -> None:
    """A snapshot of the previous command (no CDIConfig) from a cluster with KubeVirt's common
    instancetypes, Multus without NetworkAttachmentDefinitions and no DataSource: one command
    added all of those kinds, so the instancetypes prove the others were asked for too."""
    fast = storage_class("fast", default=True)
    objects = [namespace("vms"), fast, storage_profile(fast), instancetype("u1.medium")]
    view = SnapshotCluster.from_file(write_snapshot(tmp_path / "prev.yaml", objects))
    found = check_cluster([plan_of({"name": "web", "namespace": "vms"}, **NAMED_SPEC)], Reads(view))
    assert sorted(f.code for f in found) == ["datasource.not-found", "network.not-found"]
    assert view.source == f"snapshot {tmp_path / 'prev.yaml'}"


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
    too, which is why the recorded db-vm is not LiveMigratable). Every instancetype, preference,
    network and golden image the examples name is there and ready."""
    findings = check_cluster(example_plans(), Reads(open_cluster(f"snapshot:{EXAMPLE_SNAPSHOT}")))
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
    snapshot = check_cluster(example_plans(), Reads(open_cluster(f"snapshot:{EXAMPLE_SNAPSHOT}")))
    assert check_cluster(example_plans(), Reads(live_view(kubeconfig))) == snapshot


def test_example_snapshot_has_what_the_examples_need() -> None:
    view = SnapshotCluster.from_file(EXAMPLE_SNAPSHOT)
    assert view.source == f"snapshot {EXAMPLE_SNAPSHOT}"  # recorded with StorageProfiles
    assert names(view.list("storageprofiles")) == ["fast", "standard"]
    assert names(view.list("cdiconfigs")) == ["config"]  # recorded with this release's command
    assert names(view.list("namespaces")) == [
        "backups",
        "default",
        "kube-system",
        "kubevirt-os-images",
        "vms",
    ]
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
    assert names(view.list("datasources", "kubevirt-os-images")) == ["fedora"]
    assert names(view.list("virtualmachineclusterinstancetypes")) == ["u1.large", "u1.medium"]
    assert names(view.list("virtualmachineclusterpreferences")) == ["fedora", "windows.11.virtio"]
    assert names(view.list("network-attachment-definitions", "vms")) == ["lab-vlan100"]
    assert "win11-iso" in names(view.list("persistentvolumeclaims", "vms"))
    assert view.source == f"snapshot {EXAMPLE_SNAPSHOT}"  # every kind recorded: nothing skipped


# --- shapes: the snapshot and the fake's objects match the published schemas ---------------------


# Kinds the CRDs catalog lacks, and the published OpenAPI document that defines them.
SWAGGER = {
    "cdi.kubevirt.io": "cdi/cdi-v1.63.1-swagger.json",
    "instancetype.kubevirt.io": "kubevirt/kubevirt-v1.6.2-swagger.json",
}


def schema_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The strict JSON schema of a kind, from the reference data, when it holds one."""
    group, _, version = api_version.rpartition("/")
    ref = REFERENCE
    swagger = ref / SWAGGER.get(group, "-")
    catalog = ref / "crds-catalog" / group / f"{kind.lower()}_{version}.json"
    if swagger.is_file() and not catalog.is_file():
        definitions = json.loads(swagger.read_text())["definitions"]
        if f"{version}.{kind}" in definitions:
            return close({"$ref": f"#/definitions/{version}.{kind}", "definitions": definitions})
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
        instancetype("u1.medium"),
        instancetype("big", 8, "32Gi", ns="vms"),
        preference("fedora"),
        preference("team", ns="vms", secure_boot=False),
        datasource("golden", "fedora"),
        datasource("golden", "centos", ready=False),
        network_attachment_definition("vms", "lab"),
        cdi_config((storage_class("fast"),), "0.055", {"fast": "0.1"}),
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
        "DataSource",
        "VirtualMachineClusterInstancetype",
        "VirtualMachineClusterPreference",
    } | (
        {"VirtualMachinePreference", "VirtualMachineInstancetype", "CDIConfig"}
        if source != "example snapshot"
        else set()
    )


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
