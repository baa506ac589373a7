"""CDI's own rules for a DataVolume's storage, as Wukong applies them (the cluster-facing
behaviour of each is proven live and against snapshots in tests/checks/test_cluster.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube_storage import datavolume, populated_pvc, pvc, storage_class, storage_profile
from wukong_core.checks.cdi_storage import (
    clone_too_small,
    completed_claim,
    default_class,
    filling,
)
from wukong_core.plan import DiskPlan


def classes(*objs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs}


def test_cdi_prefers_the_virtualization_default() -> None:
    found = default_class(
        classes(storage_class("k8s", default=True), storage_class("virt", virt_default=True))
    )
    assert found is not None and found["metadata"]["name"] == "virt"


def test_of_several_defaults_the_newest_wins_then_the_first_by_name() -> None:
    """getFallbackStorageClass sorts as Kubernetes does: newest first, then by name."""
    old = storage_class("a-old", default=True, created="2026-01-01T00:00:00Z")
    new = storage_class("z-new", default=True, created="2026-06-01T00:00:00Z")
    twin = storage_class("m-new", default=True, created="2026-06-01T00:00:00Z")
    found = default_class(classes(old, new, twin))
    assert found is not None and found["metadata"]["name"] == "m-new"


def test_cdi_ignores_the_beta_default_annotation() -> None:
    assert default_class(classes(storage_class("old", beta_default=True))) is None


@pytest.mark.parametrize(
    ("phase", "waits"),
    [("ImportInProgress", False), ("PendingPopulation", True), ("WaitForFirstConsumer", True)],
)
def test_a_datavolume_that_has_not_succeeded_is_filling(phase: str, waits: bool) -> None:
    dv = datavolume("vms", "root", phase)
    found = filling(populated_pvc(dv, "Pending"), dv, "vms")
    assert found is not None and found.waits is waits
    assert found.state.startswith(f"DataVolume vms/root is {phase}")


def test_a_succeeded_datavolume_or_a_bound_populated_pvc_is_done() -> None:
    dv = datavolume("vms", "root")
    assert filling(populated_pvc(dv), dv, "vms") is None
    assert filling(populated_pvc(dv), None, "vms") is None  # DataVolume garbage-collected


def disk(size: str | None, volume_mode: str | None = None) -> DiskPlan:
    return DiskPlan("system", "clone", 10, size=size, volume_mode=volume_mode)


@pytest.mark.parametrize(
    ("size", "too_small"),
    [("18.8Gi", False), ("18.7Gi", True), ("20Gi", False), (None, False)],
)
def test_a_filesystem_clone_may_ask_for_the_source_size_less_cdi_s_overhead(
    size: str | None, too_small: bool
) -> None:
    """20Gi less 6 % is 18.8Gi: CDI grows a Filesystem request by that before it compares."""
    source = pvc("backups", "b", size="20Gi")
    assert (clone_too_small(source, disk(size), "Filesystem") is not None) is too_small


RBD = storage_profile(storage_class("ceph"))  # RWX Block, RWO Block, RWO Filesystem
LOCAL = storage_profile(storage_class("local"), ())  # CDI knows no modes for its provisioner
ONLY_BLOCK = storage_profile(storage_class("b"), (("ReadWriteMany", "Block"),))


# CDI v1.63 (PR #3709, in v1.59 and later): no access mode of another volume mode, and no
# volume mode of a set that does not list the disk's access mode.
@pytest.mark.parametrize(
    ("access", "volume", "profile", "expected"),
    [
        (None, None, RBD, ("ReadWriteMany", "Block")),  # the first set
        (None, None, LOCAL, None),  # nothing to complete it with: Pending
        (None, "Filesystem", RBD, ("ReadWriteOnce", "Filesystem")),  # the first of its mode
        (None, "Filesystem", ONLY_BLOCK, None),  # none of its mode: an error
        ("ReadWriteOnce", None, RBD, ("ReadWriteOnce", "Block")),  # the first set listing it
        ("ReadOnlyMany", None, RBD, ("ReadOnlyMany", "Filesystem")),  # none does: Kubernetes'
        ("ReadWriteOnce", None, LOCAL, ("ReadWriteOnce", "Filesystem")),
        ("ReadWriteOnce", "Block", LOCAL, ("ReadWriteOnce", "Block")),  # set on the disk: kept
    ],
)  # fmt: skip
def test_cdi_completes_a_claim_from_the_storage_profile(
    access: str | None, volume: str | None, profile: dict[str, Any], expected: Any
) -> None:
    """renderPvcSpecVolumeModeAndAccessModes, CDI v1.63."""
    new = DiskPlan("root", "import", 10, access_mode=access, volume_mode=volume)
    assert completed_claim(new, profile) == expected
