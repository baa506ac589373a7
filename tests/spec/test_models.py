"""The Wukong API is strict: a typo, a wrong type or a bad name is refused, never guessed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.specs import wukong
from wukong_core.spec.models import Wukong


def refusal(document: dict) -> list[tuple[tuple[Any, ...], str]]:
    """(path, pydantic error type) of every reason the document is refused."""
    with pytest.raises(ValidationError) as caught:
        Wukong.model_validate(document)
    return [(e["loc"], e["type"]) for e in caught.value.errors()]


def with_disk(**disk: Any) -> dict:
    return wukong(disks=[{"name": "system", "size": "20Gi", **disk}])


def with_pvc(**pvc: Any) -> dict:
    return wukong(disks=[{"name": "data", "existingPVC": {"name": "data-pvc", **pvc}}])


def test_a_minimal_spec_gets_the_documented_defaults() -> None:
    spec = Wukong.model_validate(wukong(disks=[{"name": "data", "existingPVC": {"name": "p"}}]))
    assert spec.metadata.namespace == "vms"
    assert spec.metadata.labels == {} and spec.metadata.annotations == {}
    assert spec.spec.runStrategy == "Always"
    disk = spec.spec.disks[0]
    # No bus and no readOnly yet: their defaults depend on the device (planned, not stored).
    assert (disk.device, disk.bus, disk.boot, disk.bootOrder) == ("disk", None, None, None)
    assert (disk.size, disk.image) == (None, None)
    assert (disk.existingPVC.readOnly, disk.existingPVC.clone) == (None, False)
    assert disk.existingPVC.namespace is None
    assert Wukong.model_validate(wukong()).spec.disks == []


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({**wukong(), "status": {}}, ("status",)),
        (wukong() | {"metadata": {"name": "web", "namepsace": "vms"}}, ("metadata", "namepsace")),
        (wukong(memroy="1Gi"), ("spec", "memroy")),
        (wukong(running=True), ("spec", "running")),  # deprecated in KubeVirt: runStrategy only
        (with_disk(storageclass="fast"), ("spec", "disks", 0, "storageclass")),
        (with_pvc(readonly=True), ("spec", "disks", 0, "existingPVC", "readonly")),
    ],
)
def test_an_unknown_field_is_refused_at_every_level(document: dict, where: tuple) -> None:
    assert refusal(document) == [(where, "extra_forbidden")]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (wukong(cpu="2"), "cpu"),  # a string is not an int, even one that looks like it
        (wukong(cpu=True), "cpu"),
        (wukong(cpu=1.5), "cpu"),
        (wukong(cpu=0), "cpu"),
        (wukong(cpu=-1), "cpu"),
        (wukong(memory=True), "memory"),
        (wukong(memory=1.5), "memory"),
        (wukong(memory="lots"), "memory"),
        (wukong(memory="4 GB"), "memory"),
        (wukong(memory="0"), "memory"),
        (wukong(memory=0), "memory"),
        (wukong(memory="0Gi"), "memory"),
        (wukong(memory="-1Gi"), "memory"),
        (wukong(memory=-1), "memory"),
        (wukong(runStrategy="always"), "runStrategy"),
        (wukong(runStrategy="Running"), "runStrategy"),
        (wukong(runStrategy=True), "runStrategy"),
        (wukong(disks="system"), "disks"),
    ],
)
def test_a_wrong_type_or_value_in_spec_is_refused(document: dict, field: str) -> None:
    assert {loc[:2] for loc, _ in refusal(document)} == {("spec", field)}


@pytest.mark.parametrize(
    ("disk", "field"),
    [
        ({"size": "0Gi"}, "size"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"size": "-20Gi"}, "size"),
        ({"size": "20GB"}, "size"),
        ({"size": True}, "size"),
        ({"boot": "yes"}, "boot"),
        ({"boot": 1}, "boot"),
        ({"bus": "ide"}, "bus"),
        ({"device": "floppy"}, "device"),
        ({"device": "CD-ROM"}, "device"),
        ({"device": "lun"}, "device"),
        ({"bootOrder": 0}, "bootOrder"),
        ({"bootOrder": -1}, "bootOrder"),
        ({"bootOrder": "1"}, "bootOrder"),
        ({"bootOrder": 1.0}, "bootOrder"),
        ({"bootOrder": True}, "bootOrder"),
        ({"bootOrder": 2**31}, "bootOrder"),  # QEMU's bootindex is a 32-bit integer
        ({"accessMode": "ReadWriteAll"}, "accessMode"),
        ({"volumeMode": "block"}, "volumeMode"),
        ({"image": 42}, "image"),
        ({"storageClass": "Fast_SSD"}, "storageClass"),
    ],
)
def test_a_wrong_disk_field_is_refused(disk: dict, field: str) -> None:
    locs = {loc[:4] for loc, _ in refusal(with_disk(**disk))}
    assert locs == {("spec", "disks", 0, field)}


@pytest.mark.parametrize(
    ("pvc", "field"),
    [
        ({"readOnly": "true"}, "readOnly"),
        ({"clone": "no"}, "clone"),
        ({"namespace": "Backups"}, "namespace"),
        ({"name": "Data_PVC"}, "name"),
        ({"name": "a" * 254}, "name"),
    ],
)
def test_a_wrong_existing_pvc_field_is_refused(pvc: dict, field: str) -> None:
    locs = {loc for loc, _ in refusal(with_pvc(**pvc))}
    assert locs == {("spec", "disks", 0, "existingPVC", field)}


@pytest.mark.parametrize(
    "name", ["Web", "web_1", "-web", "web-", "web.vm", "", "a" * 64, "wëb", "web vm"]
)
def test_a_name_that_is_not_a_dns_label_is_refused(name: str) -> None:
    assert refusal(wukong(name=name)) == [(("metadata", "name"), _name_error(name))]
    assert refusal(wukong(namespace=name)) == [(("metadata", "namespace"), _name_error(name))]
    assert refusal(with_disk(name=name)) == [(("spec", "disks", 0, "name"), _name_error(name))]


def _name_error(name: str) -> str:
    return "string_too_long" if len(name) > 63 else "string_pattern_mismatch"


@pytest.mark.parametrize("name", ["a", "web", "web-1", "1web", "a" * 63])
def test_a_dns_label_of_up_to_63_characters_is_a_name(name: str) -> None:
    spec = Wukong.model_validate(wukong(name=name, namespace=name))
    assert (spec.metadata.name, spec.metadata.namespace) == (name, name)


@pytest.mark.parametrize("name", ["backup.2026-11-01", "a" * 253])
def test_a_pvc_or_storage_class_name_may_be_a_dns_subdomain(name: str) -> None:
    assert Wukong.model_validate(with_pvc(name=name)).spec.disks[0].existingPVC.name == name
    assert Wukong.model_validate(with_disk(storageClass=name)).spec.disks[0].storageClass == name


@pytest.mark.parametrize("strategy", ["Always", "RerunOnFailure", "Once", "Manual", "Halted"])
def test_every_kubevirt_run_strategy_is_accepted(strategy: str) -> None:
    assert Wukong.model_validate(wukong(runStrategy=strategy)).spec.runStrategy == strategy


@pytest.mark.parametrize(
    ("field", "value"),
    [("apiVersion", "vm.novasphere.dev/v1"), ("apiVersion", "kubevirt.io/v1"), ("kind", "wukong")],
)
def test_another_api_version_or_kind_is_refused(field: str, value: str) -> None:
    assert [loc for loc, _ in refusal({**wukong(), field: value})] == [(field,)]


@pytest.mark.parametrize("missing", ["cpu", "memory"])
def test_cpu_and_memory_are_required(missing: str) -> None:
    document = wukong()
    del document["spec"][missing]
    assert refusal(document) == [(("spec", missing), "missing")]


def test_labels_and_annotations_are_strings() -> None:
    assert refusal(wukong() | {"metadata": {"name": "web", "labels": {"tier": 1}}}) == [
        (("metadata", "labels", "tier"), "string_type")
    ]


def test_an_integer_memory_is_bytes() -> None:
    assert Wukong.model_validate(wukong(memory=2**30)).spec.memory == str(2**30)


def test_an_image_url_longer_than_any_registry_accepts_is_refused() -> None:
    url = "docker://quay.io/" + "a" * 2100
    assert refusal(with_disk(image=url)) == [(("spec", "disks", 0, "image"), "string_too_long")]
    Wukong.model_validate(with_disk(image="docker://quay.io/" + "a" * 1000))


@pytest.mark.parametrize(
    "disk",
    [
        {"device": "cdrom", "existingPVC": {"name": "isos"}},
        {"device": "cdrom", "bus": "scsi", "size": "1Gi", "image": "https://x/i.iso"},
        {"device": "disk", "bus": "sata", "bootOrder": 1},
        {"bootOrder": 2**31 - 1},
    ],
)
def test_devices_buses_and_boot_orders_kubevirt_takes_are_accepted(disk: dict) -> None:
    spec = Wukong.model_validate(wukong(disks=[{"name": "d", "size": "1Gi", **disk}]))
    assert spec.spec.disks[0].model_dump(exclude_unset=True) == {"name": "d", "size": "1Gi", **disk}
