"""Cluster checks: one test per finding code, each against the live fake API and a snapshot
holding the same objects (the `make_view` fixture runs every test once per view)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube import (
    FakeApi,
    datavolume,
    launcher_pod,
    namespace,
    owner,
    pod,
    pod_using,
    pvc,
    storage_class,
    vm,
    vmi,
)
from wukong_core.cluster_checks import check_cluster
from wukong_core.findings import Finding
from wukong_core.plan import VmPlan, plan_vm
from wukong_core.spec import API_VERSION, Wukong

pytest_plugins = ["tests.kube"]

BASE = (
    namespace("vms"),
    namespace("backups"),
    storage_class("fast"),
    storage_class("standard", "WaitForFirstConsumer", default=True),
)


# --- plans in the user's terms ------------------------------------------------------------------


def wukong(name: str, *disks: dict[str, Any], ns: str = "vms") -> VmPlan:
    """The plan of a Wukong spec `ns/name` with `disks`; disk i is on line 10 + i."""
    doc = {
        "apiVersion": API_VERSION,
        "kind": "Wukong",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"cpu": 1, "memory": "1Gi", "disks": list(disks)},
    }
    lines = [10 + i for i in range(len(disks))]
    return plan_vm(Wukong.model_validate(doc), f"wukong/{name}.yaml", 1, lines)


def attach(claim: str, read_only: bool = False, disk: str = "data") -> dict[str, Any]:
    return {"name": disk, "existingPVC": {"name": claim, "readOnly": read_only}}


def clone(claim: str, ns: str, disk: str = "system") -> dict[str, Any]:
    return {"name": disk, "existingPVC": {"name": claim, "namespace": ns}}


def image(disk: str = "system", storage_class: str | None = None) -> dict[str, Any]:
    d = {"name": disk, "size": "10Gi", "image": "docker://quay.io/containerdisks/fedora:41"}
    return d | ({"storageClass": storage_class} if storage_class else {})


def check(make_view: Any, plans: list[VmPlan] | VmPlan, *objects: dict[str, Any]) -> list[Finding]:
    view = make_view(*BASE, *objects)
    return check_cluster(plans if isinstance(plans, list) else [plans], view)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, findings
    return hits[0]


# --- one test per code --------------------------------------------------------------------------


def test_clean_attach_reports_nothing(make_view: Any) -> None:
    plan = wukong("db", attach("data", read_only=True))
    assert check(make_view, plan, pvc("vms", "data", ("ReadWriteMany",))) == []


def test_pvc_not_found(make_view: Any) -> None:
    found = check(make_view, wukong("db", attach("missing")))
    f = only(found, "pvc.not-found")
    assert (f.file, f.line, f.object) == ("wukong/db.yaml", 10, "vms/db")
    assert "PersistentVolumeClaim vms/missing" in f.message and "does not exist" in f.message
    assert codes(found) == ["pvc.not-found"]


def test_pvc_lost(make_view: Any) -> None:
    found = check(make_view, wukong("db", attach("data")), pvc("vms", "data", phase="Lost"))
    assert codes(found) == ["pvc.lost"]
    assert "vms/data" in found[0].message and "Lost" in found[0].message


def test_pvc_terminating(make_view: Any) -> None:
    found = check(make_view, wukong("db", attach("data")), pvc("vms", "data", deleting=True))
    assert codes(found) == ["pvc.terminating"]
    assert "being deleted" in found[0].message


def test_pvc_pending_with_immediate_binding(make_view: Any) -> None:
    pending = pvc("vms", "data", ("ReadWriteMany",), phase="Pending", storage_class="fast")
    found = check(make_view, wukong("db", attach("data")), pending)
    assert codes(found) == ["pvc.pending"]
    assert '"fast" binds immediately' in found[0].message


@pytest.mark.parametrize("storage_class", [None, "gone"])
def test_pvc_pending_without_a_storage_class(make_view: Any, storage_class: str | None) -> None:
    pending = pvc("vms", "data", ("ReadWriteMany",), phase="Pending", storage_class=storage_class)
    found = check(make_view, wukong("db", attach("data")), pending)
    assert codes(found) == ["pvc.pending"]


def test_pvc_wait_for_first_consumer(make_view: Any) -> None:
    pending = pvc("vms", "data", ("ReadWriteMany",), phase="Pending", storage_class="standard")
    found = check(make_view, wukong("db", attach("data")), pending)
    assert codes(found) == ["pvc.wait-for-first-consumer"]
    assert found[0].severity.value == "info"


def test_pvc_access_mode_read_only_many_attached_read_write(make_view: Any) -> None:
    found = check(make_view, wukong("db", attach("iso")), pvc("vms", "iso", ("ReadOnlyMany",)))
    assert codes(found) == ["pvc.access-mode"]
    assert "readOnly: true" in found[0].message


def test_pvc_access_mode_read_write_once_pod_in_use(make_view: Any) -> None:
    other = vm("vms", "other", rw=("data",))
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteOncePod",)), other
    )
    assert "pvc.access-mode" in codes(found) and "pvc.in-use" not in codes(found)
    assert "VirtualMachine vms/other" in only(found, "pvc.access-mode").message


def test_pvc_in_use_by_another_vm(make_view: Any) -> None:
    other = vm("vms", "other", rw=("data",))
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), other
    )
    f = only(found, "pvc.in-use")
    assert "VirtualMachine vms/other (read-write)" in f.message and "clone" in f.message
    assert f.line == 10


def test_pvc_in_use_two_vms_on_read_write_once(make_view: Any) -> None:
    other = vm("vms", "other", rw=("data",), running=True)
    found = check(make_view, wukong("db", attach("data")), pvc("vms", "data"), other, vmi(other))
    f = only(found, "pvc.in-use")
    assert (
        "VirtualMachine vms/other" in f.message and "VirtualMachineInstance vms/other" in f.message
    )


def test_pvc_in_use_by_a_plain_pod(make_view: Any) -> None:
    user = pod_using("vms", "backup-job-x", "data")
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), user
    )
    assert "Pod vms/backup-job-x (read-write)" in only(found, "pvc.in-use").message


def test_finished_pod_is_not_a_user(make_view: Any) -> None:
    done = pod(
        "vms",
        "job-done",
        [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        phase="Succeeded",
    )
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), done
    )
    assert found == []


def test_stopped_vm_is_a_user(make_view: Any) -> None:
    stopped = vm("vms", "other", rw=("data",), running=False)
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), stopped
    )
    assert codes(found) == ["pvc.in-use"]


@pytest.mark.parametrize("modes", [("ReadWriteOncePod",), ("ReadWriteMany",)])
def test_own_vm_vmi_and_launcher_pod_are_not_other_users(
    make_view: Any, modes: tuple[str, ...]
) -> None:
    mine = vm("vms", "db", rw=("data",), running=True)  # the earlier render of this very spec
    instance = vmi(mine)
    objects = [pvc("vms", "data", modes), mine, instance, launcher_pod(instance)]
    found = check(make_view, wukong("db", attach("data")), *objects)
    assert [c for c in codes(found) if c != "pvc.not-migratable"] == []


def test_a_cluster_vm_is_replaced_by_its_own_plan_but_its_running_instance_is_not(
    make_view: Any,
) -> None:
    """Moving a PVC from VM a to VM b in one commit: a's new plan no longer uses it, so the
    stored VM a is no user; while a still runs, its VMI and launcher pod are."""
    moved = [wukong("a", image()), wukong("b", attach("data"))]
    a = vm("vms", "a", rw=("data",), running=True)
    data = pvc("vms", "data", ("ReadWriteMany",))
    assert check(make_view, moved, data, a) == []


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_running_instance_of_a_replaced_vm_still_uses_the_pvc(make_view: Any) -> None:
    moved = [wukong("a", image()), wukong("b", attach("data"))]
    a = vm("vms", "a", rw=("data",), running=True)
    found = check(make_view, moved, pvc("vms", "data", ("ReadWriteMany",)), a, vmi(a))
    f = only(found, "pvc.in-use")
    assert "VirtualMachineInstance vms/a" in f.message and "VirtualMachine vms/a " not in f.message


@pytest.mark.parametrize(
    ("modes", "mine_ro", "theirs_ro", "expected"),
    [
        (("ReadOnlyMany",), True, True, []),
        (("ReadWriteMany",), True, True, []),
        (("ReadWriteMany",), True, False, ["pvc.in-use"]),
        (("ReadWriteMany",), False, True, ["pvc.in-use"]),
        (("ReadWriteOnce",), True, True, ["pvc.in-use"]),
    ],
)
def test_read_only_sharing_depends_on_the_access_mode(
    make_view: Any, modes: tuple[str, ...], mine_ro: bool, theirs_ro: bool, expected: list[str]
) -> None:
    other = vm("vms", "other", **({"ro": ("iso",)} if theirs_ro else {"rw": ("iso",)}))
    found = check(
        make_view, wukong("db", attach("iso", read_only=mine_ro)), pvc("vms", "iso", modes), other
    )
    assert [c for c in codes(found) if c != "pvc.not-migratable"] == expected


def test_pvc_not_migratable(make_view: Any) -> None:
    found = check(make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteOnce",)))
    assert codes(found) == ["pvc.not-migratable"]
    assert found[0].severity.value == "warning" and "live-migrate" in found[0].message


def test_pvc_populating(make_view: Any) -> None:
    objects = [
        pvc("vms", "data", ("ReadWriteMany",)),
        datavolume("vms", "data", "ImportInProgress"),
    ]
    found = check(make_view, wukong("db", attach("data")), *objects)
    assert codes(found) == ["pvc.populating"]
    assert "ImportInProgress, 42.0%" in found[0].message


def test_pvc_name_taken(make_view: Any) -> None:
    found = check(make_view, wukong("web", image("system")), pvc("vms", "web-system"))
    f = only(found, "pvc.name-taken")
    assert "vms/web-system" in f.message and "VM vms/web" in f.message


def test_name_taken_by_a_datavolume_of_another_vm(make_view: Any) -> None:
    stranger = vm("vms", "other")
    dv = datavolume("vms", "web-system", owners=owner(stranger))  # not yet bound to a PVC
    found = check(make_view, wukong("web", image("system")), stranger, dv)
    assert "a DataVolume of that name" in only(found, "pvc.name-taken").message


def test_own_earlier_render_does_not_take_the_name(make_view: Any) -> None:
    mine = vm("vms", "web", dvs=("web-system",))
    dv = datavolume("vms", "web-system", owners=owner(mine))
    made_by_dv = pvc("vms", "web-system", owners=owner(dv))
    adopted = pvc("vms", "web-data", owners=owner(mine))  # CDI moved the owner to the PVC
    labelled = pvc(
        "vms",
        "web-logs",
        labels={"app.kubernetes.io/managed-by": "wukong", "app.kubernetes.io/name": "web"},
    )
    plan = wukong("web", image("system"), image("data"), image("logs"))
    assert check(make_view, plan, mine, dv, made_by_dv, adopted, labelled) == []


def test_storageclass_not_found(make_view: Any) -> None:
    found = check(make_view, wukong("web", image("system", storage_class="fastest")))
    f = only(found, "storageclass.not-found")
    assert '"fastest"' in f.message and "fast, standard" in f.message


def test_namespace_not_found(make_view: Any) -> None:
    found = check(make_view, wukong("web", image("system"), ns="new-team"))
    f = only(found, "namespace.not-found")
    assert (f.severity.value, f.line, f.object) == ("warning", 1, "new-team/web")


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


def test_clone_needs_no_write_access(make_view: Any) -> None:
    source = pvc("backups", "iso", ("ReadOnlyMany",))
    user = vm("backups", "reader", rw=("iso",))
    assert check(make_view, wukong("restored", clone("iso", "backups")), source, user) == []


def test_findings_are_in_a_stable_order(make_view: Any) -> None:
    plans = [wukong("b", attach("x"), attach("y", disk="other")), wukong("a", attach("z"))]
    found = check(make_view, plans)
    assert [(f.file, f.line) for f in found] == [
        ("wukong/a.yaml", 10),
        ("wukong/b.yaml", 10),
        ("wukong/b.yaml", 11),
    ]


# --- failed reads: live only (a snapshot cannot be forbidden or unreachable) --------------------


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_cluster_forbidden_reports_the_read_and_nothing_that_depends_on_it(
    kube_api: FakeApi, make_view: Any
) -> None:
    kube_api.forbid("persistentvolumeclaims", "vms")
    plans = [wukong("db", attach("missing"), attach("other", disk="more")), wukong("web", image())]
    found = check(make_view, plans)
    assert codes(found) == ["cluster.forbidden"]
    assert (
        'grant "list" on persistentvolumeclaims (apiGroup "") in namespace vms' in found[0].message
    )
    assert (found[0].file, found[0].line) == ("wukong/db.yaml", 10)


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_list_read_ahead_but_never_needed_reports_nothing_even_when_forbidden(
    kube_api: FakeApi, make_view: Any
) -> None:
    # Lists are read ahead in parallel; only what a check asks for may turn into a finding.
    kube_api.forbid("pods", "vms")
    assert check(make_view, [wukong("web", image())]) == []


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_cluster_unreachable_is_reported_once(kube_api: FakeApi, make_view: Any) -> None:
    view = make_view()
    kube_api.stop()  # the server goes away between opening and reading
    view.retry = type(view.retry)(attempts=2, backoff=0.01)
    found = check_cluster([wukong("db", attach("a")), wukong("web", image())], view)
    assert codes(found) == ["cluster.unreachable"]
    assert "cannot reach the API server" in found[0].message
