"""Clone sources, checked as CDI checks them before it clones: one test per finding, each
against the live fake API and a snapshot holding the same objects (`make_view`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.checks.test_cluster import check, clone, codes, only, wukong
from tests.kube_objects import launcher_pod, pod_using, vm, vmi
from tests.kube_storage import datavolume, populated_pvc, pvc
from wukong_core.render.manifests import render_datavolume_template

pytest_plugins = ["tests.kube"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, "pvc.not-found"),
        ({"phase": "Lost"}, "pvc.lost"),
        ({"deleting": True}, "pvc.terminating"),
    ],
)
def test_clone_source_must_exist(
    make_view: Any, source: dict[str, Any] | None, expected: str
) -> None:
    objects = [] if source is None else [pvc("backups", "backup-1", **source)]
    found = check(make_view, wukong("restored", clone("backup-1", "backups")), *objects)
    assert codes(found) == [expected]
    assert "backups/backup-1" in found[0].message


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (pvc("backups", "backup-1", phase="Pending", storage_class="fast"), "kubectl describe"),
        (
            pvc("backups", "backup-1", phase="Pending", storage_class="standard"),
            "binds on first use",
        ),
    ],
)
def test_clone_source_not_ready(make_view: Any, source: dict[str, Any], why: str) -> None:
    found = check(make_view, wukong("restored", clone("backup-1", "backups")), source)
    f = only(found, "clone.source-not-ready")
    assert codes(found) == ["clone.source-not-ready"] and f.severity.value == "error"
    assert "backups/backup-1, which is Pending, not Bound" in f.message and why in f.message


def test_a_clone_source_waiting_for_its_first_consumer_is_not_ready(make_view: Any) -> None:
    """CDI clones only a Bound source, and nothing will consume this one."""
    dv = datavolume("backups", "golden", "PendingPopulation")
    source = populated_pvc(dv, "Pending", storage_class="standard")
    found = check(make_view, wukong("restored", clone("golden", "backups")), dv, source)
    assert codes(found) == ["clone.source-not-ready"]
    assert "DataVolume backups/golden is PendingPopulation" in found[0].message


def test_a_clone_source_cdi_is_filling_is_populating(make_view: Any) -> None:
    dv = datavolume("backups", "golden", "ImportInProgress")
    source = populated_pvc(dv, "Pending")
    found = check(make_view, wukong("restored", clone("golden", "backups")), dv, source)
    assert codes(found) == ["pvc.populating"]
    assert "CDI clones it once it is done" in found[0].message


def test_clone_source_in_use_by_a_running_vm(make_view: Any) -> None:
    """The source's VM runs: its virt-launcher pod mounts the PVC read-write, and CDI waits."""
    machine = vm("backups", "web", rw=("web-disk",), running=True)
    instance = vmi(machine)
    launcher = launcher_pod(instance)
    objects = [pvc("backups", "web-disk"), machine, instance, launcher]
    found = check(make_view, wukong("restored", clone("web-disk", "backups")), *objects)
    f = only(found, "clone.source-in-use")
    assert codes(found) == ["clone.source-in-use"] and f.severity.value == "warning"
    assert f"Pod backups/{launcher['metadata']['name']} of VM backups/web" in f.message


def test_clone_source_in_use_by_a_block_consumer(make_view: Any) -> None:
    writer = pod_using("backups", "db-0", "web-disk", mount="block")
    found = check(
        make_view, wukong("restored", clone("web-disk", "backups")), pvc("backups", "web-disk"),
        writer,
    )  # fmt: skip
    assert "Pod backups/db-0 writes" in only(found, "clone.source-in-use").message


def test_a_clone_source_that_is_only_read_or_not_running_is_free(make_view: Any) -> None:
    """CDI's rule: only pods that are not Succeeded or Failed and whose containers mount the
    PVC without readOnly hold a clone up; a stopped VM holds nothing."""
    objects = [
        pvc("backups", "iso", ("ReadWriteMany",)),
        vm("backups", "installer", cdroms=("iso",)),  # stopped
        pod_using("backups", "reader", "iso", mount="ro"),
        pod_using("backups", "volume-ro", "iso", read_only=True),
        pod_using("backups", "done", "iso", phase="Succeeded"),
        pod_using("backups", "seed", "iso", mount="ro", init_mount="rw"),  # init containers done
    ]
    assert check(make_view, wukong("restored", clone("iso", "backups")), *objects) == []


@pytest.mark.parametrize(
    ("source_mode", "disk", "expected"),
    [
        ("Filesystem", {"size": "10Gi"}, ["clone.too-small"]),
        ("Filesystem", {"size": "19.5Gi"}, []),  # CDI adds 6 % filesystem overhead first
        ("Filesystem", {"size": "19.5Gi", "volumeMode": "Block"}, ["clone.too-small"]),
        ("Block", {"size": "19.5Gi"}, ["clone.too-small"]),  # compared as written
        ("Block", {"size": "20Gi"}, []),
        ("Block", {}, []),  # no size: the source's
    ],
)
def test_clone_too_small(
    make_view: Any, source_mode: str, disk: dict[str, Any], expected: list[str]
) -> None:
    source = pvc("backups", "backup-1", size="20Gi", volume_mode=source_mode)
    found = check(make_view, wukong("restored", clone("backup-1", "backups", **disk)), source)
    assert codes(found) == expected
    if expected:
        assert found[0].severity.value == "error" and "at least 20Gi" in found[0].message


def test_wukong_never_asks_cdi_for_a_permissive_clone() -> None:
    """`cdi.kubevirt.io/permissiveClone` on the DataVolume would skip CDI's size check."""
    plan = wukong("restored", clone("backup-1", "backups", size="10Gi"))
    template = render_datavolume_template(plan.disks[0], plan.name)
    assert "annotations" not in template["metadata"]


def test_a_running_vm_reading_a_plain_cd_rom_still_holds_a_clone_up(make_view: Any) -> None:
    """CDI looks at pods only: the virt-launcher pod mounts a CD-ROM's volume read-write unless
    the volume says readOnly, so CDI waits for it (GetPodsUsingPVCs), whatever the disk says."""
    machine = vm("backups", "installer", plain_cdroms=("iso",), running=True)
    instance = vmi(machine)
    objects = [pvc("backups", "iso", ("ReadWriteMany",)), machine, instance, launcher_pod(instance)]
    found = check(make_view, wukong("restored", clone("iso", "backups")), *objects)
    assert codes(found) == ["clone.source-in-use"]
