"""Who mounts a PVC, as Wukong reads it from the cluster's VMs, VMIs and pods."""

from __future__ import annotations

from wukong_core.pvc_users import PvcUser, index_users


def vm(name: str, volumes: list[dict], disks: list[dict] | None = None) -> dict:
    spec = {"domain": {"devices": {"disks": disks or []}}, "volumes": volumes}
    return {"metadata": {"name": name}, "spec": {"template": {"spec": spec}}}


def pod(name: str, claim: str, **metadata: object) -> dict:
    volume = {"name": "d", "persistentVolumeClaim": {"claimName": claim}}
    return {"metadata": {"name": name, **metadata}, "spec": {"volumes": [volume]}}


def test_a_vm_uses_its_claims_and_data_volumes_with_the_disk_s_read_only_flag() -> None:
    volumes = [
        {"name": "root", "dataVolume": {"name": "web-root"}},
        {"name": "iso", "persistentVolumeClaim": {"claimName": "iso"}},
        {"name": "cfg", "configMap": {"name": "x"}},
    ]
    disks = [{"name": "root", "disk": {}}, {"name": "iso", "cdrom": {}}]
    users = index_users("virtualmachines", "vms", {"web": vm("web", volumes, disks)}, set())
    assert users == {
        "web-root": [PvcUser("VirtualMachine", "web", False, "web")],
        "iso": [PvcUser("VirtualMachine", "web", True, "web")],  # a CD-ROM only reads
    }


def test_a_vm_that_a_plan_replaces_is_not_a_user_of_its_own() -> None:
    volumes = [{"name": "root", "persistentVolumeClaim": {"claimName": "shared"}}]
    assert index_users("virtualmachines", "vms", {"web": vm("web", volumes)}, {"vms/web"}) == {}


def test_launcher_and_hotplug_pods_belong_to_their_vm_other_pods_to_none() -> None:
    launcher = pod("virt-launcher-web-x", "a", labels={"vm.kubevirt.io/name": "web"})
    hotplug = pod(
        "hp-volume-1", "b", ownerReferences=[{"kind": "Pod", "name": launcher["metadata"]["name"]}]
    )
    stranger = pod("backup-job", "a")
    pods = {p["metadata"]["name"]: p for p in (launcher, hotplug, stranger)}
    users = index_users("pods", "vms", pods, set())
    assert users["a"] == [
        PvcUser("Pod", "backup-job", False, ""),
        PvcUser("Pod", "virt-launcher-web-x", False, "web"),
    ]
    assert users["b"] == [PvcUser("Pod", "hp-volume-1", False, "web")]


def test_finished_pods_and_cdi_workers_hold_no_claim() -> None:
    done = pod("done", "a")
    done["status"] = {"phase": "Succeeded"}
    importer = pod(
        "importer-a", "a", ownerReferences=[{"kind": "PersistentVolumeClaim", "name": "a"}]
    )
    assert index_users("pods", "vms", {"done": done, "importer-a": importer}, set()) == {}


def test_a_user_describes_itself_for_a_finding() -> None:
    assert PvcUser("Pod", "p", True, "").describe("vms") == "Pod vms/p (read-only)"
