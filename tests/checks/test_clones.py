"""Clone sources, checked as CDI checks them before it clones: one test per finding, each
against the live fake API and a snapshot holding the same objects (`make_view`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.checks.test_cluster import check, clone, codes, only, wukong
from tests.kube_objects import launcher_pod, namespace, pod_using, vm, vmi
from tests.kube_storage import (
    cdi_config,
    datavolume,
    populated_pvc,
    pvc,
    storage_class,
    storage_profile,
)
from wukong_core.render.manifests import render_datavolume_template
from wukong_core.spec.quantity import parse_quantity

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


# How CDI completes the clone's PVC: the StorageProfile of `ceph` (rbd: Block first) and of
# `nfs` (Filesystem only), and the filesystem overhead its CDIConfig sets for each.
CEPH = storage_class("ceph", default=True)
NFS = storage_class("nfs", provisioner="nfs.csi.k8s.io")
SIZING = (
    namespace("vms"),
    namespace("backups"),
    CEPH,
    NFS,
    storage_profile(CEPH),
    storage_profile(NFS, (("ReadWriteMany", "Filesystem"),)),
)


@pytest.mark.parametrize(
    ("source_mode", "disk", "overheads", "expected"),
    [
        ("Filesystem", {"size": "10Gi"}, {}, ["clone.too-small"]),
        # 20Gi less 6 %, CDI's default overhead, is 18.8Gi: it grows a Filesystem target first.
        ("Filesystem", {"size": "19.5Gi", "storageClass": "nfs"}, {}, []),
        ("Filesystem", {"size": "18.5Gi", "storageClass": "nfs"}, {}, ["clone.too-small"]),
        ("Filesystem", {"size": "18.5Gi", "storageClass": "nfs"}, {"nfs": "0.1"}, []),
        ("Filesystem", {"size": "19.5Gi", "storageClass": "nfs"}, {"nfs": "0"},
         ["clone.too-small"]),
        # No volumeMode: the profile's first set decides, Block for rbd (compared as written).
        ("Filesystem", {"size": "19.5Gi"}, {}, ["clone.too-small"]),
        ("Filesystem", {"size": "19.5Gi", "accessMode": "ReadWriteOnce"}, {}, ["clone.too-small"]),
        # An access mode no set lists: Kubernetes' Filesystem, not the first set's Block (CDI
        # PR #3709, getDefaultVolumeMode), so the overhead applies.
        ("Filesystem", {"size": "19.5Gi", "accessMode": "ReadOnlyMany"}, {}, []),
        ("Filesystem", {"size": "19.5Gi", "volumeMode": "Filesystem"}, {}, []),
        ("Filesystem", {"size": "19.5Gi", "storageClass": "nfs", "volumeMode": "Block",
                        "accessMode": "ReadWriteMany"}, {}, ["clone.too-small"]),
        ("Block", {"size": "19.5Gi", "storageClass": "nfs"}, {}, ["clone.too-small"]),
        # A class that does not exist is not the default (CDI does not fall back): its volume
        # mode is unknown, taken as Filesystem, and storageclass.not-found says what is wrong.
        ("Filesystem", {"size": "19.5Gi", "storageClass": "gone"}, {},
         ["storageclass.not-found"]),
        ("Block", {"size": "20Gi"}, {}, []),
        ("Block", {}, {}, []),  # no size: the source's
    ],
)  # fmt: skip
def test_clone_too_small(
    make_view: Any,
    source_mode: str,
    disk: dict[str, Any],
    overheads: dict[str, str],
    expected: list[str],
) -> None:
    source = pvc("backups", "backup-1", size="20Gi", volume_mode=source_mode)
    config = cdi_config((CEPH, NFS), per_class=overheads)
    plan = wukong("restored", clone("backup-1", "backups", **disk))
    found = check(make_view, plan, source, config, base=SIZING)
    assert codes(found) == expected
    if "clone.too-small" in expected:
        f = only(found, "clone.too-small")
        assert f.severity.value == "error" and "at least 20Gi" in f.message


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (
            cdi_config((CEPH, NFS), "0.08"),
            "8.0% filesystem overhead (CDIConfig's for StorageClass nfs)",
        ),
        # A snapshot of an older command holds no CDIConfig: CDI's default, and it says so.
        (None, "6.0% filesystem overhead (CDI's default)"),
    ],
)
def test_the_overhead_a_message_names_is_cdi_s(
    make_view: Any, config: dict[str, Any] | None, says: str
) -> None:
    source = pvc("backups", "backup-1", size="20Gi")
    plan = wukong("restored", clone("backup-1", "backups", size="18Gi", storageClass="nfs"))
    found = check(make_view, plan, source, *([config] if config else []), base=SIZING)
    assert says in only(found, "clone.too-small").message


@pytest.mark.parametrize(
    ("measured", "size", "expected"),
    [
        (None, "12Gi", []),  # not measured yet: only CDI's size-detection pod can tell
        ("15Gi", "16Gi", []),  # holds the image: CDI turns the clone permissive
        ("15Gi", "12Gi", ["clone.too-small"]),
        ("15Gi@25Gi", "12Gi", []),  # measured at another capacity: CDI measures again
    ],
)
def test_a_vm_image_cloned_to_block_needs_only_its_virtual_size(
    make_view: Any, measured: str | None, size: str, expected: list[str]
) -> None:
    """detectCloneSize: a VM image on a Filesystem PVC cloned into Block is measured with
    qemu-img, and a target at least the image's virtual size is cloned whatever the source
    requests; CDI keeps the measurement on the source with the capacity it was taken at."""
    notes = {"cdi.kubevirt.io/storage.contentType": "kubevirt"}
    if measured:
        virtual, _, at = measured.partition("@")
        notes["cdi.Kubervirt.io/virtualSize"] = str(parse_quantity(virtual))
        notes["cdi.Kubervirt.io/sourceCapacity"] = at or "20Gi"
    source = pvc("backups", "image", size="20Gi", annotations=notes)
    plan = wukong("restored", clone("image", "backups", size=size, volumeMode="Block"))
    found = check(make_view, plan, source, base=SIZING)
    assert codes(found) == expected
    if expected:
        assert f"at least {parse_quantity('15Gi')}" in found[0].message
        assert "virtual size of the image" in found[0].message


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
