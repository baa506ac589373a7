"""What each disk becomes, which disk boots, where the VM lives, and the plan as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.specs import as_yaml, load_one, plan_one, wukong
from wukong_core.plan import VmPlan, plan_vm, plans_from_json, plans_to_json

IMAGE = "docker://quay.io/containerdisks/ubuntu:22.04"


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        (
            {"name": "system", "size": "20Gi", "image": IMAGE},
            {"kind": "import", "image_source": "registry", "dv_name": "web-system",
             "claim_name": "web-system", "size": "20Gi", "image": IMAGE},
        ),
        (
            {"name": "system", "size": "20Gi", "image": "https://example.com/disk.qcow2"},
            {"kind": "import", "image_source": "http", "dv_name": "web-system",
             "image": "https://example.com/disk.qcow2"},
        ),
        (
            {"name": "system", "size": "20Gi", "image": "http://mirror.local/disk.img"},
            {"kind": "import", "image_source": "http"},
        ),
        (
            {"name": "scratch", "size": "50Gi"},
            {"kind": "blank", "image_source": None, "dv_name": "web-scratch", "size": "50Gi",
             "claim_name": "web-scratch", "pvc_name": ""},
        ),
        (
            {"name": "data", "existingPVC": {"name": "data-pvc"}},
            {"kind": "attach", "dv_name": "", "size": None, "pvc_name": "data-pvc",
             "pvc_namespace": "vms", "claim_name": "data-pvc", "read_only": False},
        ),
        (
            {"name": "iso", "existingPVC": {"name": "iso", "namespace": "vms", "readOnly": True}},
            {"kind": "attach", "pvc_namespace": "vms", "claim_name": "iso", "read_only": True},
        ),
        (
            {"name": "system", "existingPVC": {"name": "backup", "namespace": "backups"}},
            {"kind": "clone", "dv_name": "web-system", "claim_name": "web-system", "size": None,
             "pvc_name": "backup", "pvc_namespace": "backups"},
        ),
        (
            {"name": "system", "size": "30Gi",
             "existingPVC": {"name": "golden", "namespace": "vms", "clone": True}},
            {"kind": "clone", "dv_name": "web-system", "size": "30Gi", "pvc_name": "golden",
             "pvc_namespace": "vms"},
        ),
        (
            {"name": "data", "existingPVC": {"name": "golden", "clone": True}},
            {"kind": "clone", "pvc_namespace": "vms", "claim_name": "web-data"},
        ),
    ],
)  # fmt: skip
def test_each_kind_of_disk_is_planned_as_the_design_says(
    disk: dict[str, Any], expected: dict[str, Any]
) -> None:
    [planned] = plan_one(wukong("web", "vms", disks=[disk])).disks
    assert {key: getattr(planned, key) for key in expected} == expected
    assert planned.name == disk["name"]


def test_storage_options_and_bus_are_carried_to_the_plan() -> None:
    disk = {
        "name": "system",
        "size": "20Gi",
        "image": IMAGE,
        "storageClass": "fast",
        "accessMode": "ReadWriteMany",
        "volumeMode": "Block",
        "bus": "scsi",
    }
    [planned] = plan_one(wukong(disks=[disk])).disks
    assert (planned.storage_class, planned.access_mode, planned.volume_mode, planned.bus) == (
        "fast",
        "ReadWriteMany",
        "Block",
        "scsi",
    )


SYSTEM_IMAGE = {"name": "system", "size": "20Gi", "image": IMAGE}
DATA_IMAGE = {"name": "data", "size": "20Gi", "image": IMAGE}
BLANK = {"name": "scratch", "size": "1Gi"}


@pytest.mark.parametrize(
    ("disks", "boots", "empty"),
    [
        ([SYSTEM_IMAGE, DATA_IMAGE], ["system"], False),  # the disk named system
        ([DATA_IMAGE, SYSTEM_IMAGE], ["system"], False),  # wherever it is in the list
        ([SYSTEM_IMAGE, {**DATA_IMAGE, "boot": True}], ["data"], False),  # boot: true wins
        ([{**SYSTEM_IMAGE, "boot": False}, DATA_IMAGE], [], True),  # boot: false on system
        ([DATA_IMAGE, BLANK], [], True),  # no boot disk at all
        ([], [], True),  # no disks
        ([{"name": "system", "size": "20Gi"}], ["system"], True),  # a blank boot disk
        ([{**BLANK, "boot": True}, DATA_IMAGE], ["scratch"], True),
        ([{"name": "system", "existingPVC": {"name": "os"}}], ["system"], False),
        ([{"name": "system", "existingPVC": {"name": "os", "namespace": "b"}}], ["system"], False),
    ],
)
def test_boot_rules(disks: list[dict], boots: list[str], empty: bool) -> None:
    plan = plan_one(wukong(disks=disks))
    assert [d.name for d in plan.disks if d.boot] == boots
    assert plan.empty is empty
    assert (plan.boot_disk.name if plan.boot_disk else None) == (boots[0] if boots else None)


@pytest.mark.parametrize(
    ("spec_namespace", "caller_default", "namespace"),
    [
        ("vms", "team-a", "vms"),  # the spec wins
        (None, "team-a", "team-a"),  # then the caller (repo config, --namespace)
        (None, "", "default"),  # then "default"
        ("vms", "", "vms"),
    ],
)
def test_the_namespace_is_the_spec_s_else_the_caller_s_else_default(
    spec_namespace: str | None, caller_default: str, namespace: str
) -> None:
    disk = {"name": "data", "existingPVC": {"name": "data"}}
    plan = plan_one(wukong("web", spec_namespace, disks=[disk]), caller_default)
    assert (plan.namespace, plan.key) == (namespace, f"{namespace}/web")
    assert plan.disks[0].pvc_namespace == namespace
    assert plan.disks[0].kind == "attach"


def test_without_a_caller_default_the_namespace_is_default() -> None:
    loaded = load_one(as_yaml(wukong(namespace=None)))
    assert plan_vm(loaded.spec, loaded.file, loaded.line, loaded.disk_lines).namespace == "default"


def test_a_pvc_in_the_caller_default_namespace_is_attached_not_cloned() -> None:
    disk = {"name": "data", "existingPVC": {"name": "data", "namespace": "team-a"}}
    assert plan_one(wukong(namespace=None, disks=[disk]), "team-a").disks[0].kind == "attach"
    assert plan_one(wukong(namespace=None, disks=[disk]), "team-b").disks[0].kind == "clone"


def test_the_plan_carries_the_spec_and_where_it_came_from() -> None:
    text = "# a comment\n" + as_yaml(
        wukong(
            "web",
            disks=[SYSTEM_IMAGE, BLANK],
            memory=2**30,
            cpu=4,
            runStrategy="Halted",
        )
        | {"metadata": {"name": "web", "labels": {"z": "1", "a": "2"}, "annotations": {"n": "x"}}}
    )
    loaded = load_one(text, "specs/web.yaml")
    plan = plan_vm(loaded.spec, loaded.file, loaded.line, loaded.disk_lines, "vms")
    assert (plan.file, plan.line, plan.cpu, plan.memory, plan.run_strategy) == (
        "specs/web.yaml",
        2,
        4,
        str(2**30),
        "Halted",
    )
    assert plan.labels == (("a", "2"), ("z", "1"))
    assert plan.annotations == (("n", "x"),)
    assert [(d.name, d.dv_name, d.line) for d in plan.disks] == [
        ("system", "web-system", loaded.disk_lines[0]),
        ("scratch", "web-scratch", loaded.disk_lines[1]),
    ]


def _varied_plans() -> list[VmPlan]:
    return [
        plan_one(
            wukong(
                "hybrid",
                disks=[
                    {**SYSTEM_IMAGE, "storageClass": "fast", "accessMode": "ReadWriteMany"},
                    {"name": "data", "existingPVC": {"name": "data", "readOnly": True}},
                    {"name": "copy", "existingPVC": {"name": "b", "namespace": "backups"}},
                    {**BLANK, "bus": "sata", "volumeMode": "Block"},
                ],
            )
            | {"metadata": {"name": "hybrid", "namespace": "vms", "labels": {"team": "db"}}}
        ),
        plan_one(wukong("empty", None), "team-a"),
    ]


def test_plans_survive_a_round_trip_through_json_exactly() -> None:
    plans = _varied_plans()
    text = plans_to_json(plans)
    assert plans_from_json(text) == plans
    assert plans_from_json(text.encode()) == plans
    assert plans_to_json(plans_from_json(text)) == text


def test_plan_json_is_plain_sorted_and_stable() -> None:
    text = plans_to_json(_varied_plans())
    assert text.endswith("\n")
    document = json.loads(text)
    assert [p["name"] for p in document] == ["hybrid", "empty"]
    assert list(document[0]) == sorted(document[0])
    assert plans_to_json(_varied_plans()) == text
    assert plans_to_json([]) == "[]\n"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not json",
        b"\xff\xfe",
        "{}",
        "[1]",
        '[{"namespace": "vms"}]',
        '{"plans": []}',
        plans_to_json([plan_one(wukong(disks=[BLANK]))]).replace('"blank"', '"teleport"'),
    ],
)
def test_garbage_plan_json_is_a_value_error(garbage: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"^not a Wukong validation plan: "):
        plans_from_json(garbage)
