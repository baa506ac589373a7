"""Cluster checks: one test per finding code, each against the live fake API and a snapshot
holding the same objects (the `make_view` fixture runs every test once per view)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube import FakeApi
from tests.kube_objects import hotplug_pod, launcher_pod, namespace, owner, pod_using, vm, vmi
from tests.kube_storage import (
    datasource,
    datavolume,
    populated_pvc,
    pvc,
    storage_class,
    storage_profile,
)
from wukong_core.checks.cluster import check_cluster
from wukong_core.checks.reads import Reads
from wukong_core.findings import Finding
from wukong_core.pipeline import run, validate_presync
from wukong_core.plan import VmPlan, plan_vm, plans_from_json, plans_to_json
from wukong_core.spec.models import API_VERSION, Wukong

pytest_plugins = ["tests.kube"]

FAST = storage_class("fast")
STANDARD = storage_class("standard", "WaitForFirstConsumer", default=True)
BASE = (
    namespace("vms"),
    namespace("backups"),
    FAST,
    STANDARD,
    storage_profile(FAST),
    storage_profile(STANDARD),
)
LOCAL_PATH = storage_class("local", "WaitForFirstConsumer", provisioner="rancher.io/local-path")


# --- plans in the user's terms ------------------------------------------------------------------


# Where `wukong` puts the fields of a spec that findings point at (disk i is on line 10 + i).
SPEC_LINES = {"instancetype.name": 5, "preference.name": 6} | {
    f"networks.{i}.network": 7 + i for i in range(4)
}


def wukong(name: str, *disks: dict[str, Any], ns: str = "vms", **spec: Any) -> VmPlan:
    """The plan of a Wukong spec `ns/name` with `disks` and other `spec` fields (cpu and memory
    unless an instancetype sizes it), on the lines SPEC_LINES says."""
    sizing = {} if "instancetype" in spec else {"cpu": 1, "memory": "1Gi"}
    doc = {
        "apiVersion": API_VERSION,
        "kind": "Wukong",
        "metadata": {"name": name, "namespace": ns},
        "spec": {**sizing, "disks": list(disks), **spec},
    }
    lines = [10 + i for i in range(len(disks))]
    return plan_vm(
        Wukong.model_validate(doc), f"wukong/{name}.yaml", 1, lines, spec_lines=SPEC_LINES
    )


def attach(claim: str, read_only: bool = False, disk: str = "data") -> dict[str, Any]:
    return {"name": disk, "existingPVC": {"name": claim, "readOnly": read_only}}


def clone(claim: str, ns: str, disk: str = "system", **fields: Any) -> dict[str, Any]:
    return {"name": disk, "existingPVC": {"name": claim, "namespace": ns}, **fields}


def image(disk: str = "system", storage_class: str | None = None, **fields: Any) -> dict[str, Any]:
    d = {"name": disk, "size": "10Gi", "image": "docker://quay.io/containerdisks/fedora:41"}
    return d | ({"storageClass": storage_class} if storage_class else {}) | fields


def check(
    make_view: Any,
    plans: list[VmPlan] | VmPlan,
    *objects: dict[str, Any],
    base: tuple[dict[str, Any], ...] = BASE,
) -> list[Finding]:
    view = make_view(*base, *objects)
    return check_cluster(plans if isinstance(plans, list) else [plans], Reads(view))


def is_live(request: pytest.FixtureRequest) -> bool:
    return request.node.callspec.params["make_view"] == "live"


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
    assert found[0].severity.value == "info" and "when the VM starts" in found[0].message


@pytest.mark.parametrize("phase", ["PendingPopulation", "WaitForFirstConsumer"])
def test_a_datavolume_waiting_for_its_first_consumer_needs_the_vm_to_start(
    make_view: Any, phase: str
) -> None:
    """CDI fills a WaitForFirstConsumer PVC only once a pod uses it: the VM must start for it to
    become ready, the opposite of "the VM cannot start before it Succeeded"."""
    dv = datavolume("vms", "data", phase)
    claim = populated_pvc(dv, "Pending", storage_class="standard", modes=("ReadWriteMany",))
    found = check(make_view, wukong("db", attach("data")), dv, claim)
    f = only(found, "pvc.wait-for-first-consumer")
    assert codes(found) == ["pvc.wait-for-first-consumer"] and f.severity.value == "info"
    assert f"DataVolume vms/data is {phase}" in f.message and "when the VM starts" in f.message
    assert "cannot start" not in f.message


def test_a_pvc_cdi_is_filling_is_populating_not_pending(make_view: Any) -> None:
    """Pending with an Immediate class, but CDI's import is under way: that clears by itself."""
    dv = datavolume("vms", "data", "ImportInProgress")
    claim = populated_pvc(dv, "Pending", storage_class="fast", modes=("ReadWriteMany",))
    found = check(make_view, wukong("db", attach("data")), dv, claim)
    assert codes(found) == ["pvc.populating"]
    assert "DataVolume vms/data is ImportInProgress, 42.0%" in found[0].message


@pytest.mark.parametrize("kind", ["VolumeImportSource", "VolumeUploadSource", "VolumeCloneSource"])
def test_a_pvc_a_cdi_populator_fills_is_populating_not_pending(make_view: Any, kind: str) -> None:
    source = {"apiGroup": "cdi.kubevirt.io", "kind": kind, "name": "my-source"}
    claim = pvc(
        "vms", "data", ("ReadWriteMany",), phase="Pending", data_source_ref=source,
        annotations={"cdi.kubevirt.io/storage.populator.progress": "13.5%"},
    )  # fmt: skip
    found = check(make_view, wukong("db", attach("data")), claim)
    assert codes(found) == ["pvc.populating"]
    assert f"CDI fills it from {kind} my-source (13.5%)" in found[0].message


@pytest.mark.parametrize(
    ("annotations", "expected", "says"),
    [
        ({}, "pvc.wait-for-first-consumer", "it binds, and CDI fills it, when the VM starts"),
        # A pod using it was scheduled: the populator runs now.
        ({"volume.kubernetes.io/selected-node": "node-1"}, "pvc.populating", "once it is done"),
    ],
)
def test_a_cdi_populator_pvc_of_a_wait_for_first_consumer_class_waits_for_the_vm(
    make_view: Any, annotations: dict[str, str], expected: str, says: str
) -> None:
    """CDI's populators do nothing for a WaitForFirstConsumer PVC until the scheduler has picked
    a node (populator-base handleStorageClass): the VM has to start first."""
    source = {"apiGroup": "cdi.kubevirt.io", "kind": "VolumeImportSource", "name": "src"}
    claim = pvc(
        "vms", "data", ("ReadWriteMany",), phase="Pending", storage_class="standard",
        data_source_ref=source, annotations=annotations,
    )  # fmt: skip
    found = check(make_view, wukong("db", attach("data")), claim)
    assert codes(found) == [expected]
    assert says in found[0].message


def test_an_upload_pvc_waits_for_an_upload_not_for_cdi(make_view: Any) -> None:
    source = {"apiGroup": "cdi.kubevirt.io", "kind": "VolumeUploadSource", "name": "up"}
    claim = pvc("vms", "iso", ("ReadWriteMany",), phase="Pending", data_source_ref=source)
    f = only(check(make_view, wukong("db", attach("iso")), claim), "pvc.populating")
    assert "nothing fills it until an image is uploaded" in f.message
    assert "virtctl image-upload pvc iso -n vms" in f.message
    assert "once it is done" not in f.message


def test_a_pending_pvc_of_another_populator_is_pending(make_view: Any) -> None:
    source = {"apiGroup": "example.com", "kind": "Backup", "name": "b"}
    claim = pvc("vms", "data", ("ReadWriteMany",), phase="Pending", data_source_ref=source)
    assert codes(check(make_view, wukong("db", attach("data")), claim)) == ["pvc.pending"]


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
    done = pod_using("vms", "job-done", "data", phase="Succeeded")
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), done
    )
    assert found == []


def test_a_finished_vmi_uses_nothing(make_view: Any) -> None:
    """A VMI created on its own (no VM) that has shut down holds no volume."""
    instance = vmi(vm("vms", "batch", rw=("data",), running=True), phase="Succeeded")
    instance["metadata"].pop("ownerReferences")
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), instance
    )
    assert found == []


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"mount": "ro"}, []),  # every container mounts it readOnly: a reader
        ({"mount": "ro", "init_mount": "rw"}, ["pvc.in-use"]),  # the init container writes
        ({"mount": "block"}, ["pvc.in-use"]),  # a block device is never read-only
    ],
)
def test_a_pod_reads_only_when_every_container_mounts_read_only(
    make_view: Any, how: dict[str, Any], expected: list[str]
) -> None:
    user = pod_using("vms", "reporting", "data", **how)
    plan = wukong("db", attach("data", read_only=True))
    assert codes(check(make_view, plan, pvc("vms", "data", ("ReadWriteMany",)), user)) == expected


def test_every_user_of_a_read_only_many_pvc_reads(make_view: Any) -> None:
    """A ReadOnlyMany volume is mounted read-only on every node, whatever a pod asks."""
    user = pod_using("vms", "indexer", "iso")
    plan = wukong("db", attach("iso", read_only=True))
    found = check(make_view, plan, pvc("vms", "iso", ("ReadOnlyMany",)), user)
    assert codes(found) == ["pvc.not-migratable"]


def test_stopped_vm_is_a_user(make_view: Any) -> None:
    stopped = vm("vms", "other", rw=("data",), running=False)
    found = check(
        make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)), stopped
    )
    assert codes(found) == ["pvc.in-use"]


@pytest.mark.parametrize("modes", [("ReadWriteOncePod",), ("ReadWriteMany",)])
def test_own_vm_vmi_launcher_and_hotplug_pods_are_not_other_users(
    make_view: Any, modes: tuple[str, ...]
) -> None:
    mine = vm("vms", "db", rw=("data", "extra"), running=True)  # this very spec's earlier render
    instance = vmi(mine)
    launcher = launcher_pod(instance)
    objects = [
        pvc("vms", "data", modes),
        pvc("vms", "extra", modes),
        mine,
        instance,
        launcher,
        hotplug_pod(launcher, "extra", "disk1"),
    ]
    found = check(make_view, wukong("db", attach("data"), attach("extra", disk="extra")), *objects)
    assert [c for c in codes(found) if c != "pvc.not-migratable"] == []


def test_two_vms_read_one_iso_library_the_other_one_as_a_plain_cd_rom(make_view: Any) -> None:
    """A VM written by hand or in the UI says read-only on its CD-ROM only, not on the volume;
    KubeVirt then gives its virt-launcher pod a read-write mount. Only the VM and its VMI speak
    for that VM: both VMs read the ReadWriteMany ISO library, which is what it is for."""
    other = vm("vms", "other-installer", plain_cdroms=("iso-library",), running=True)
    instance = vmi(other)
    launcher = launcher_pod(instance)
    assert launcher["spec"]["volumes"][2]["persistentVolumeClaim"] == {"claimName": "iso-library"}
    library = pvc("vms", "iso-library", ("ReadWriteMany",), size="8Gi")
    iso = {"name": "iso", "device": "cdrom", "existingPVC": {"name": "iso-library"}}
    plan = wukong("installer", image(bootOrder=2), iso | {"bootOrder": 1})
    assert check(make_view, plan, library, other, instance, launcher) == []


def test_a_vm_that_writes_the_library_still_conflicts_with_a_reader(make_view: Any) -> None:
    writer = vm("vms", "other", rw=("iso-library",), running=True)
    instance = vmi(writer)
    library = pvc("vms", "iso-library", ("ReadWriteMany",))
    iso = {"name": "iso", "device": "cdrom", "existingPVC": {"name": "iso-library"}}
    found = check(
        make_view, wukong("installer", iso), library, writer, instance, launcher_pod(instance)
    )
    f = only(found, "pvc.in-use")
    assert "Pod " not in f.message  # the VM and its VMI say who uses it
    assert "a disk one user writes changes under the others" in f.message
    assert "written by two" not in f.message


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


@pytest.mark.parametrize(
    ("modes", "read_only"),
    [(("ReadWriteOnce",), False), (("ReadWriteOnce",), True), (("ReadOnlyMany",), True)],
)
def test_pvc_not_migratable(make_view: Any, modes: tuple[str, ...], read_only: bool) -> None:
    """KubeVirt live-migrates only a VM whose every PVC is ReadWriteMany, read-only ones too."""
    plan = wukong("db", attach("data", read_only=read_only))
    found = check(make_view, plan, pvc("vms", "data", modes))
    assert codes(found) == ["pvc.not-migratable"]
    assert found[0].severity.value == "warning" and "live-migrate" in found[0].message


def test_a_read_write_many_pvc_migrates(make_view: Any) -> None:
    plan = wukong("db", attach("data", read_only=True))
    assert check(make_view, plan, pvc("vms", "data", ("ReadWriteMany",))) == []


def test_pvc_populating(make_view: Any) -> None:
    """CDI without populators: the PVC is Bound while CDI's importer pod (owned by the PVC, so
    no user of it) writes into it."""
    dv = datavolume("vms", "data", "ImportInProgress")
    claim = populated_pvc(dv, "Bound", modes=("ReadWriteMany",))
    importer = pod_using("vms", "importer-data", "data")
    importer["metadata"]["ownerReferences"] = owner(claim)
    found = check(make_view, wukong("db", attach("data")), dv, claim, importer)
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


# --- new disks: which StorageClass, and does its StorageProfile fill the access mode -------------


@pytest.mark.parametrize(
    ("classes", "disk", "expected"),
    [
        ((storage_class("fast"),), {}, ["storageclass.no-default"]),
        ((storage_class("fast", virt_default=True),), {}, []),
        ((storage_class("fast", default=True),), {}, []),
        # CDI reads only the GA annotation; Kubernetes' admission also the beta one, which
        # names the class of a PVC that has its access mode already.
        ((storage_class("fast", beta_default=True),), {}, ["storageclass.no-default"]),
        ((storage_class("fast", beta_default=True),), {"accessMode": "ReadWriteOnce"}, []),
        ((storage_class("fast"),), {"storageClass": "fast"}, []),
    ],
)
def test_storageclass_no_default(
    make_view: Any, classes: tuple[dict[str, Any], ...], disk: dict[str, Any], expected: list[str]
) -> None:
    base = (namespace("vms"), *classes, *(storage_profile(c) for c in classes))
    found = check(make_view, wukong("web", image(**disk)), base=base)
    assert codes(found) == expected
    if expected:
        assert "names no StorageClass" in found[0].message
        assert "storageclass.kubevirt.io/is-default-virt-class" in found[0].message


LOCAL_PROFILE = storage_profile(LOCAL_PATH, sets=())  # CDI knows no modes for local-path


@pytest.mark.parametrize(
    ("disk", "profile", "expected"),
    [
        ({}, LOCAL_PROFILE, ["storageclass.incomplete-profile"]),
        ({"accessMode": "ReadWriteOnce"}, LOCAL_PROFILE, []),  # CDI needs no profile then
        ({"accessMode": "ReadWriteOnce", "volumeMode": "Block"}, LOCAL_PROFILE, []),
        ({"volumeMode": "Filesystem"}, LOCAL_PROFILE, ["storageclass.incomplete-profile"]),
        # an admin's spec.claimPropertySets complete the profile
        ({}, storage_profile(LOCAL_PATH, spec_sets=(("ReadWriteOnce", "Filesystem"),)), []),
        # no set of its volume mode: CDI v1.59+ (PR #3709) fails, takes no other mode's
        ({"volumeMode": "Block"}, storage_profile(LOCAL_PATH, (("ReadWriteOnce", "Filesystem"),)),
         ["storageclass.incomplete-profile"]),
        ({"volumeMode": "Block"}, storage_profile(LOCAL_PATH), []),
    ],
)  # fmt: skip
def test_storageclass_incomplete_profile(
    make_view: Any, disk: dict[str, Any], profile: dict[str, Any], expected: list[str]
) -> None:
    base = (namespace("vms"), LOCAL_PATH, profile)
    found = check(make_view, wukong("web", image(storage_class="local", **disk)), base=base)
    assert codes(found) == expected
    if expected:
        f = found[0]
        assert 'the StorageProfile of StorageClass "local"' in f.message
        assert "kubectl patch storageprofile local" in f.message


def test_the_default_class_cdi_picks_is_the_one_whose_profile_counts(make_view: Any) -> None:
    """The virtualization default wins over the Kubernetes default (getFallbackStorageClass)."""
    k8s_default = storage_class("standard", default=True)
    virt_default = storage_class("local", "WaitForFirstConsumer", virt_default=True,
                                 provisioner="rancher.io/local-path")  # fmt: skip
    base = (namespace("vms"), k8s_default, virt_default, storage_profile(k8s_default),
            storage_profile(virt_default, sets=()))  # fmt: skip
    found = check(make_view, wukong("web", image()), base=base)
    assert codes(found) == ["storageclass.incomplete-profile"]
    assert 'the default StorageClass "local"' in found[0].message


def test_a_new_disk_of_a_vm_waits_for_its_first_consumer(make_view: Any) -> None:
    mine = vm("vms", "web", dvs=("web-system",))
    dv = datavolume("vms", "web-system", "PendingPopulation", owners=owner(mine))
    claim = populated_pvc(dv, "Pending", storage_class="standard")
    found = check(make_view, wukong("web", image()), mine, dv, claim)
    assert codes(found) == ["pvc.wait-for-first-consumer"]
    assert "CDI fills it when the VM starts" in found[0].message


# --- a cluster without KubeVirt or CDI ----------------------------------------------------------


def test_cluster_kubevirt_missing(make_view: Any, request: pytest.FixtureRequest) -> None:
    """Live: the API answers 404 for kubevirt.io. A snapshot is what kubectl printed, and kubectl
    refuses `get vm,vmi` where they are not served, so a snapshot without VMs just has none."""
    if is_live(request):
        request.getfixturevalue("kube_api").missing_groups.add("kubevirt.io")
    plans = [wukong("db", attach("data")), wukong("web", image())]
    found = check(make_view, plans, pvc("vms", "data", ("ReadWriteMany",)))
    if not is_live(request):
        assert found == []
        return
    f = only(found, "cluster.kubevirt-missing")
    assert codes(found) == ["cluster.kubevirt-missing"] and f.severity.value == "error"
    assert (f.file, f.line) == ("wukong/db.yaml", 1)
    assert "does not serve virtualmachines.kubevirt.io/v1" in f.message


def test_cluster_cdi_missing(make_view: Any, request: pytest.FixtureRequest) -> None:
    if is_live(request):
        request.getfixturevalue("kube_api").missing_groups.add("cdi.kubevirt.io")
    plans = [
        wukong("db", attach("data")),  # needs no DataVolume
        wukong("web", image(), image("data")),
        wukong("restored", clone("backup-1", "backups")),
    ]
    objects = (pvc("vms", "data", ("ReadWriteMany",)), pvc("backups", "backup-1"))
    no_default = (namespace("vms"), namespace("backups"), FAST)  # CDI would pick the class
    found = check(make_view, plans, *objects, base=no_default)
    if not is_live(request):  # CDI is there: how it would complete the new disks is checked
        assert set(codes(found)) == {"storageclass.no-default"}
        return
    f = only(found, "cluster.cdi-missing")
    assert codes(found) == ["cluster.cdi-missing"] and f.severity.value == "error"
    assert (f.file, f.line) == ("wukong/restored.yaml", 10)  # the first disk that needs CDI
    assert "does not serve cdi.kubevirt.io" in f.message and "install CDI" in f.message


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_cluster_without_cdi_passes_plans_that_need_no_datavolume(
    kube_api: FakeApi, make_view: Any
) -> None:
    kube_api.missing_groups.add("cdi.kubevirt.io")
    found = check(make_view, wukong("db", attach("data")), pvc("vms", "data", ("ReadWriteMany",)))
    assert found == []


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
    found = check_cluster([wukong("db", attach("a")), wukong("web", image())], Reads(view))
    assert codes(found) == ["cluster.unreachable"]
    assert "cannot reach the API server" in found[0].message


# --- lines: every finding points at the field that is wrong -------------------------------------

SPEC_WITH_FIELDS = """\
apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata: {name: db, namespace: vms}
spec:
  cpu: 2
  memory: 4Gi
  disks:
  - name: system
    storageClass: nope
    existingPVC:
      name: db-backup
      namespace: backups
    size: 10Gi
  - name: data
    bus: scsi
    existingPVC:
      name: missing
  - name: golden
    dataSource:
      namespace: vms
      name: fedora
"""


def test_each_finding_points_at_the_field_that_is_wrong_in_the_cli_and_the_presync_job(
    make_view: Any,
) -> None:
    view = make_view(*BASE, pvc("backups", "db-backup", size="20Gi"), datasource("vms", "other"))
    outcome = run([("wukong/db.yaml", SPEC_WITH_FIELDS)], cluster=view, render=False)
    line = {text.strip(): n for n, text in enumerate(SPEC_WITH_FIELDS.splitlines(), 1)}
    expected = [
        ("storageclass.not-found", line["storageClass: nope"]),
        ("clone.too-small", line["size: 10Gi"]),
        ("pvc.not-found", line["name: missing"]),
        ("datasource.not-found", line["name: fedora"]),
    ]
    found = [(f.code, f.line) for f in outcome.findings if f.severity.value == "error"]
    assert sorted(found, key=lambda c: c[1]) == expected
    # The PreSync Job reads the plan from its ConfigMap: the same lines.
    plans = plans_from_json(plans_to_json(outcome.plans))
    again = [(f.code, f.line) for f in validate_presync(plans, view) if f.severity.value == "error"]
    assert sorted(again, key=lambda c: c[1]) == expected
