"""What each disk becomes, which disk boots, where the VM lives, and the plan as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.specs import as_yaml, load_one, plan_one, wukong
from wukong_core.plan import (
    CloudInitPlan,
    NetworkPlan,
    RefPlan,
    VmPlan,
    plan_vm,
    plans_from_json,
    plans_to_json,
)

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
        (
            {"name": "root", "dataSource": {"name": "fedora", "namespace": "os-images"}},
            {"kind": "datasource", "dv_name": "web-root", "claim_name": "web-root",
             "size": None, "pvc_name": "fedora", "pvc_namespace": "os-images",
             "os_source": True, "new_storage": True},
        ),
        (
            {"name": "root", "size": "40Gi", "dataSource": {"name": "fedora"}},
            {"kind": "datasource", "size": "40Gi", "pvc_namespace": "vms"},
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


CD_ROM = {"name": "installer", "device": "cdrom", "existingPVC": {"name": "isos"}}
ATTACHED = {"name": "data", "existingPVC": {"name": "d"}}


@pytest.mark.parametrize(
    ("disks", "orders", "sequence", "empty"),
    [
        # The disk named system is bootOrder 1, wherever it is listed; KubeVirt tries no other.
        ([SYSTEM_IMAGE, DATA_IMAGE], [1, 0], ["system"], False),
        ([DATA_IMAGE, SYSTEM_IMAGE], [0, 1], ["system"], False),
        # boot: true is bootOrder 1 and takes the place of system.
        ([SYSTEM_IMAGE, {**DATA_IMAGE, "boot": True}], [0, 1], ["data"], False),
        # bootOrder gives the sequence; with any of them set, system is not special.
        ([{**BLANK, "bootOrder": 1}, {**CD_ROM, "bootOrder": 2}], [1, 2], ["scratch", "installer"],
         False),  # an ISO install: a blank disk, then the installer CD-ROM
        ([{**DATA_IMAGE, "bootOrder": 3}, SYSTEM_IMAGE, {**BLANK, "boot": True}], [3, 0, 1],
         ["scratch", "data"], False),
        # Nothing marked: KubeVirt tries every disk in the order listed.
        ([DATA_IMAGE, BLANK], [0, 0], ["data", "scratch"], False),  # the first imports an OS
        ([{**SYSTEM_IMAGE, "boot": False}, DATA_IMAGE], [0, 0], ["system", "data"], False),
        ([BLANK, CD_ROM], [0, 0], ["scratch", "installer"], False),
        ([BLANK, ATTACHED], [0, 0], ["scratch", "data"], True),  # what the PVC holds is unknown
        ([], [], [], True),  # no disks
        # A marked disk is what KubeVirt boots: blank, it holds no OS, whatever follows.
        ([{"name": "system", "size": "20Gi"}], [1], ["system"], True),
        ([{**BLANK, "boot": True}, DATA_IMAGE], [1, 0], ["scratch"], True),
        ([{**BLANK, "bootOrder": 1}, CD_ROM], [1, 0], ["scratch"], True),
        # An attached PVC marked to boot holds an OS: the spec says so.
        ([{"name": "system", "existingPVC": {"name": "os"}}], [1], ["system"], False),
        ([{**ATTACHED, "bootOrder": 1}], [1], ["data"], False),
        ([{"name": "system", "existingPVC": {"name": "os", "namespace": "b"}}], [1], ["system"],
         False),
    ],
)  # fmt: skip
def test_boot_rules(disks: list[dict], orders: list[int], sequence: list[str], empty: bool) -> None:
    plan = plan_one(wukong(disks=disks))
    assert [d.boot_order for d in plan.disks] == orders
    assert [d.name for d in plan.boot_sequence] == sequence
    assert plan.empty is empty


@pytest.mark.parametrize(
    ("disk", "device", "bus", "read_only"),
    [
        ({"name": "d", "size": "1Gi"}, "disk", "virtio", False),
        ({"name": "d", "size": "1Gi", "bus": "sata"}, "disk", "sata", False),
        ({**ATTACHED, "existingPVC": {"name": "d", "readOnly": True}}, "disk", "virtio", True),
        (CD_ROM, "cdrom", "sata", True),  # a CD-ROM is on sata and read-only unless it says
        ({**CD_ROM, "bus": "scsi"}, "cdrom", "scsi", True),
        ({**CD_ROM, "existingPVC": {"name": "isos", "namespace": "lib"}}, "cdrom", "sata", True),
        ({"name": "i", "device": "cdrom", "size": "1Gi", "image": IMAGE}, "cdrom", "sata", True),
    ],
)
def test_the_device_decides_the_default_bus_and_a_cd_rom_is_read_only(
    disk: dict, device: str, bus: str, read_only: bool
) -> None:
    [planned] = plan_one(wukong(disks=[disk])).disks
    assert (planned.device, planned.bus, planned.read_only) == (device, bus, read_only)


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


LOGIN_VM = {
    "instancetype": {"name": "u1.medium"},
    "preference": {"name": "team", "kind": "VirtualMachinePreference"},
    "cloudInit": {"userDataSecret": "init", "networkData": "version: 2\n"},
    "sshKeySecret": "keys",
    "networks": [
        {"name": "default", "network": "pod"},
        {"name": "lab", "network": "lab"},
        {"name": "infra", "network": "infra/storage", "binding": "bridge"},
    ],
    "firmware": "efi-secure",
    "tpm": True,
}


def test_the_machine_around_the_disks_is_planned_with_its_defaults_and_lines() -> None:
    document = wukong("dev", disks=[{"name": "root", "dataSource": {"name": "fedora"}}], **LOGIN_VM)
    del document["spec"]["cpu"], document["spec"]["memory"]
    text = as_yaml(document)
    plan = plan_one(document)
    line = {n: i for i, n in enumerate(text.splitlines(), 1)}
    assert (plan.cpu, plan.memory) == (0, "")  # the instancetype sizes it
    it_line = line["  instancetype:"] + 1  # its name
    assert plan.instancetype == RefPlan("VirtualMachineClusterInstancetype", "u1.medium", it_line)
    assert plan.preference is not None and plan.preference.kind == "VirtualMachinePreference"
    assert plan.cloud_init == CloudInitPlan(None, "init", "version: 2\n", None)
    assert (plan.ssh_key_secret, plan.firmware, plan.tpm) == ("keys", "efi-secure", True)
    assert plan.networks == (
        NetworkPlan("default", "pod", "masquerade", line["  - name: default"] + 1),
        NetworkPlan("lab", "lab", "bridge", line["  - name: lab"] + 1, "vms"),
        NetworkPlan("infra", "infra/storage", "bridge", line["  - name: infra"] + 1, "infra"),
    )
    assert [n.nad_name for n in plan.networks] == ["pod", "lab", "storage"]


def test_networks_left_out_and_an_empty_list_are_not_the_same() -> None:
    assert plan_one(wukong()).networks is None  # KubeVirt's default interface
    assert plan_one(wukong(networks=[])).networks == ()  # none at all


def _varied_plans() -> list[VmPlan]:
    dev = wukong("dev", disks=[{"name": "root", "dataSource": {"name": "f"}}], **LOGIN_VM)
    del dev["spec"]["cpu"], dev["spec"]["memory"]
    return [
        plan_one(dev),
        plan_one(wukong("isolated", networks=[], cloudInit={"userData": "#cloud-config"})),
        plan_one(
            wukong(
                "hybrid",
                disks=[
                    {**SYSTEM_IMAGE, "storageClass": "fast", "accessMode": "ReadWriteMany"},
                    {"name": "data", "existingPVC": {"name": "data", "readOnly": True}},
                    {"name": "copy", "existingPVC": {"name": "b", "namespace": "backups"}},
                    {**BLANK, "bus": "sata", "volumeMode": "Block", "bootOrder": 2},
                    {**CD_ROM, "bus": "scsi", "bootOrder": 3},
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
    assert [p["name"] for p in document] == ["dev", "isolated", "hybrid", "empty"]
    assert list(document[0]) == sorted(document[0])
    assert plans_to_json(_varied_plans()) == text
    assert plans_to_json([]) == "[]\n"


def test_a_plan_of_a_vm_without_the_new_fields_writes_none_of_them() -> None:
    """Left at their defaults, they are left out: such a VM's plan line is what it was."""
    [entry] = json.loads(plans_to_json([plan_one(wukong(disks=[BLANK]))]))
    assert set(entry) == {
        "cpu", "disks", "file", "line", "memory", "name", "namespace", "run_strategy"
    }  # fmt: skip


def test_a_plan_written_before_boot_order_still_loads() -> None:
    # A PreSync Job may run a newer image than the render that wrote its plan.
    old = '[{"cpu":1,"disks":[{"boot":true,"kind":"attach","line":8,"name":"system",'
    old += '"pvc_name":"os","pvc_namespace":"vms"}],"file":"a.yaml","line":1,"memory":"1Gi",'
    old += '"name":"web","namespace":"vms","run_strategy":"Always"}]'
    [plan] = plans_from_json(old)
    assert [(d.name, d.kind, d.pvc_name, d.device, d.bus) for d in plan.disks] == [
        ("system", "attach", "os", "disk", "virtio")
    ]
    # Written before plans kept field lines: its findings point at the disk, as they did.
    assert plan.disks[0].fields == () and plan.disks[0].source_line == 8


def test_a_plan_keeps_the_lines_of_the_fields_findings_point_at() -> None:
    """The PreSync Job's findings point at the field that is wrong, as the CLI's do: the plan
    carries the lines of a disk's fields (those off the disk's own line), compactly."""
    text = as_yaml(wukong(disks=[{"name": "system", **CLONE_FIELDS}, BLANK]))
    lines = {line.strip(): n for n, line in enumerate(text.splitlines(), 1)}
    plan = plan_one(wukong(disks=[{"name": "system", **CLONE_FIELDS}, BLANK]))
    system, blank = plan.disks
    assert system.source_line == lines["name: backup-1"]  # existingPVC.name
    assert system.field_line("existingPVC.namespace") == lines["namespace: backups"]
    assert (system.field_line("size"), system.field_line("storageClass")) == (
        lines["size: 10Gi"],
        lines["storageClass: fast"],
    )
    assert system.field_line("volumeMode") == system.line  # not written: the disk's line
    [entry] = json.loads(plans_to_json([plan]))
    assert entry["disks"][0]["fields"] == {
        "existingPVC.name": lines["name: backup-1"],
        "existingPVC.namespace": lines["namespace: backups"],
        "size": lines["size: 10Gi"],
        "storageClass": lines["storageClass: fast"],
    }
    assert plans_from_json(plans_to_json([plan])) == [plan]
    assert blank.fields == (("size", blank.line + 1),)


CLONE_FIELDS = {
    "existingPVC": {"name": "backup-1", "namespace": "backups"},
    "size": "10Gi",
    "storageClass": "fast",
}


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
        plans_to_json([plan_one(wukong(disks=[CD_ROM]))]).replace('"cdrom"', '"floppy"'),
    ],
)
def test_garbage_plan_json_is_a_value_error(garbage: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"^not a Wukong validation plan: "):
        plans_from_json(garbage)
