"""The run's cluster reads: one list per kind and namespace, whoever asks, and a failed read
reported once, where a check first needed it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from tests.checks.test_cluster import attach, check, image, wukong
from tests.kube import FakeApi
from tests.kube_storage import pvc
from wukong_core.checks.reads import Reads, Where
from wukong_core.errors import ClusterError
from wukong_core.objects import Obj

pytest_plugins = ["tests.kube"]


class CountingView:
    """A ClusterView that counts what it is asked for."""

    source = "counting"

    def __init__(self, *objects: Obj) -> None:
        self.objects = objects
        self.asked: Counter[tuple[str, str | None]] = Counter()

    def prefetch(self, keys: Iterable[tuple[str, str | None]]) -> None:
        """Nothing to read ahead."""

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        self.asked[(resource, namespace)] += 1
        if resource == "pods":
            raise ClusterError("pods are forbidden", kind="forbidden", resource="pods")
        return [o for o in self.objects if o["metadata"].get("namespace") == namespace]


def test_every_check_of_a_run_shares_one_read_of_each_list() -> None:
    view = CountingView(pvc("vms", "data"))
    reads = Reads(view)
    where = Where(wukong("db", attach("data")), 10)
    assert set(reads.get("persistentvolumeclaims", "vms")) == {"data"}  # the data-safety side
    assert set(reads.get("persistentvolumeclaims", "vms", where)) == {"data"}  # a cluster check
    assert view.asked == {("persistentvolumeclaims", "vms"): 1}


def test_a_quiet_read_that_fails_is_reported_by_the_first_check_that_needs_it() -> None:
    reads = Reads(CountingView())
    plan = wukong("db", attach("data"))
    assert reads.get("pods", "vms") is None and reads.failures == []  # quiet: not its business
    assert reads.get("pods", "vms", Where(plan, 12)) is None
    assert reads.get("pods", "vms", Where(plan, 14)) is None
    [failure] = reads.failures
    assert (failure.code, failure.line) == ("cluster.forbidden", 12)


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_group_the_api_does_not_serve_is_known_as_such_even_from_a_quiet_read(
    kube_api: FakeApi, make_view: Any
) -> None:
    kube_api.missing_groups.add("cdi.kubevirt.io")
    reads = Reads(make_view())
    assert reads.get("datavolumes", "vms") == {}
    assert reads.cdi_missing and reads.failures == []


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_sized_imports_with_an_access_mode_read_no_storage_profiles(
    kube_api: FakeApi, make_view: Any
) -> None:
    """CDI needs a StorageProfile only to complete an unset access mode, or the volume mode of a
    sized clone: imports that set accessMode need none, so none is listed."""
    disks = [image(accessMode="ReadWriteOnce"), image("data", accessMode="ReadWriteMany")]
    assert check(make_view, wukong("web", *disks)) == []
    assert kube_api.lists("storageprofiles") == []
    assert kube_api.lists("storageclasses")  # the class is still checked
