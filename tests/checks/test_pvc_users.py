"""Who mounts a PVC, as Wukong reads it from the cluster's VMs, VMIs and pods (objects shaped the
way KubeVirt and Kubernetes build them: tests/kube.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube_objects import hotplug_pod, launcher_pod, owner, pod, pod_using, vm, vmi
from wukong_core.checks.pvc_users import PvcUser, index_users


def by_name(*objects: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


def test_a_vm_uses_its_claims_and_data_volumes_with_the_disk_s_read_only_flag() -> None:
    web = vm("vms", "web", rw=("data",), ro=("logs",), dvs=("web-root",), cdroms=("iso",))
    users = index_users("virtualmachines", "vms", by_name(web), set())
    assert users == {
        "data": [PvcUser("VirtualMachine", "web", False, "web")],
        "logs": [PvcUser("VirtualMachine", "web", True, "web")],
        "web-root": [PvcUser("VirtualMachine", "web", False, "web")],
        "iso": [PvcUser("VirtualMachine", "web", True, "web")],  # a CD-ROM only reads
    }


def test_a_cdrom_that_says_it_writes_writes() -> None:
    web = vm("vms", "web", cdroms=("iso",))
    web["spec"]["template"]["spec"]["domain"]["devices"]["disks"][0]["cdrom"]["readonly"] = False
    web["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"].pop("readOnly")
    users = index_users("virtualmachines", "vms", by_name(web), set())
    assert users["iso"] == [PvcUser("VirtualMachine", "web", False, "web")]


def test_a_vm_that_a_plan_replaces_is_not_a_user_of_its_own() -> None:
    web = vm("vms", "web", rw=("shared",))
    assert index_users("virtualmachines", "vms", by_name(web), {"vms/web"}) == {}


@pytest.mark.parametrize(("phase", "holds"), [("Running", True), ("Scheduling", True),
                                              ("Succeeded", False), ("Failed", False)])  # fmt: skip
def test_a_vmi_holds_its_volumes_until_it_has_finished(phase: str, holds: bool) -> None:
    instance = vmi(vm("vms", "web", rw=("data",), running=True), phase=phase)
    users = index_users("virtualmachineinstances", "vms", by_name(instance), set())
    assert users == (
        {"data": [PvcUser("VirtualMachineInstance", "web", False, "web")]} if holds else {}
    )


def test_launcher_and_hotplug_pods_belong_to_their_vm_other_pods_to_none() -> None:
    instance = vmi(vm("vms", "web", rw=("data",), running=True))
    launcher = launcher_pod(instance)
    hotplug = hotplug_pod(launcher, "extra", "extra-vol")
    stranger = pod_using("vms", "backup-job", "data")
    users = index_users("pods", "vms", by_name(launcher, hotplug, stranger), set())
    assert users["data"] == [
        PvcUser("Pod", "backup-job", False, "", blocks_clone=True),
        PvcUser("Pod", launcher["metadata"]["name"], False, "web", blocks_clone=True),
    ]
    assert users["extra"] == [PvcUser("Pod", hotplug["metadata"]["name"], False, "web", True)]


def test_the_vmi_that_owns_a_launcher_names_its_vm_whatever_its_hostname_label() -> None:
    """KubeVirt sets vm.kubevirt.io/name to the VMI's hostname, which spec.hostname may change;
    the owner reference is the VMI, named after the VM."""
    launcher = launcher_pod(vmi(vm("vms", "web", rw=("data",), running=True)))
    launcher["metadata"]["labels"]["vm.kubevirt.io/name"] = "web-host"
    [user] = index_users("pods", "vms", by_name(launcher), set())["data"]
    assert user.vm == "web"


def test_a_block_volume_of_a_launcher_writes() -> None:
    instance = vmi(vm("vms", "web", rw=("disk",), running=True))
    launcher = launcher_pod(instance, block=("disk",))
    [user] = index_users("pods", "vms", by_name(launcher), set())["disk"]
    assert (user.read_only, user.blocks_clone) == (False, True)


@pytest.mark.parametrize(
    ("how", "read_only", "blocks_clone"),
    [
        ({}, False, True),
        ({"read_only": True}, True, False),  # the pod volume says readOnly
        ({"mount": "ro"}, True, False),  # every container mounts it readOnly
        ({"mount": None}, True, False),  # a volume no container mounts
        ({"mount": "block"}, False, True),  # volumeDevices have no read-only form
        # An init container writes it before the main one starts: a writer; CDI's own rule
        # (GetPodsUsingPVCs) looks at the containers only, so it does not hold up a clone.
        ({"mount": "ro", "init_mount": "rw"}, False, False),
        ({"mount": "ro", "init_mount": "ro"}, True, False),
    ],
)
def test_a_pod_reads_only_when_its_volume_or_every_mount_says_so(
    how: dict[str, Any], read_only: bool, blocks_clone: bool
) -> None:
    users = index_users("pods", "vms", by_name(pod_using("vms", "p", "data", **how)), set())
    assert users["data"] == [PvcUser("Pod", "p", read_only, "", blocks_clone)]


def test_a_second_container_that_writes_makes_the_pod_a_writer() -> None:
    reader = pod_using("vms", "p", "data", mount="ro")
    writer = {
        "name": "sidecar",
        "image": "registry.example.com/sync:1.0",
        "volumeMounts": [{"name": "data", "mountPath": "/out"}],
    }
    reader["spec"]["containers"].append(writer)
    [user] = index_users("pods", "vms", by_name(reader), set())["data"]
    assert (user.read_only, user.blocks_clone) == (False, True)


def test_cdi_s_clone_source_pod_does_not_hold_up_a_clone() -> None:
    """CDI's host-assisted clone reads the source in a pod it labels cdi-clone-source; its own
    in-use rule skips it (some drivers refuse a read-only block mount)."""
    reader = pod_using(
        "backups", "0b3c-source-pod", "backup", mount="block",
        labels={"cdi.kubevirt.io": "cdi-clone-source"},
    )  # fmt: skip
    [user] = index_users("pods", "backups", by_name(reader), set())["backup"]
    assert user.blocks_clone is False


def test_finished_pods_and_cdi_workers_hold_no_claim() -> None:
    done = pod_using("vms", "done", "a", phase="Succeeded")
    failed = pod_using("vms", "failed", "a", phase="Failed")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "a",
             "uid": "0e6f"}}  # fmt: skip
    importer = pod("vms", "importer-a", [{"name": "cdi-data-vol",
                   "persistentVolumeClaim": {"claimName": "a"}}], owners=owner(claim))  # fmt: skip
    assert index_users("pods", "vms", by_name(done, failed, importer), set()) == {}


def test_a_user_describes_itself_for_a_finding() -> None:
    assert PvcUser("Pod", "p", True, "").describe("vms") == "Pod vms/p (read-only)"
