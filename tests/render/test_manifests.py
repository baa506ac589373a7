"""Plans -> VirtualMachine manifests as the README, 3 says: valid, byte-stable, buildable."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import schemas
from tests.conftest import EXAMPLES
from tests.specs import plan_all, plan_one, wukong
from wukong_core.caches import Caches
from wukong_core.plan import VmPlan
from wukong_core.render import manifests as render
from wukong_core.render.manifests import (
    GENERATED_MARK,
    KUSTOMIZATION,
    SOURCE_ANNOTATION,
    SYNC_OPTIONS,
    render_datavolume_template,
    render_tree,
    render_vm,
)
from wukong_core.render.presync import presync_hooks

IMAGE = "docker://quay.io/containerdisks/ubuntu:22.04"
HTTP_IMAGE = "https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img"
ISO = "https://dl-cdn.alpinelinux.org/alpine/v3.20/releases/x86_64/alpine-virt-3.20.3-x86_64.iso"


ONE_CPU = {"cores": 1, "sockets": 1, "threads": 1}  # what `cpu: 1` renders


def render_one(*disks: dict, **spec: Any) -> dict[str, Any]:
    return render_vm(plan_one(wukong("web", "vms", disks=disks, **spec)))


def templates(vm: dict) -> dict[str, dict]:
    return {t["metadata"]["name"]: t["spec"] for t in vm["spec"].get("dataVolumeTemplates", [])}


def volumes(vm: dict) -> dict[str, dict]:
    return {v.pop("name"): v for v in vm["spec"]["template"]["spec"].get("volumes", [])}


def devices(vm: dict) -> dict[str, dict]:
    disks = vm["spec"]["template"]["spec"]["domain"]["devices"].get("disks", [])
    return {d.pop("name"): d for d in disks}


# -- each kind of disk -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disk", "template", "volume"),
    [
        (
            {"name": "system", "size": "20Gi", "image": IMAGE},
            {"source": {"registry": {"url": IMAGE}},
             "storage": {"resources": {"requests": {"storage": "20Gi"}}}},
            {"dataVolume": {"name": "web-system"}},
        ),
        (
            {"name": "system", "size": "20Gi", "image": HTTP_IMAGE},
            {"source": {"http": {"url": HTTP_IMAGE}},
             "storage": {"resources": {"requests": {"storage": "20Gi"}}}},
            {"dataVolume": {"name": "web-system"}},
        ),
        (
            {"name": "system", "size": "50Gi"},
            {"source": {"blank": {}}, "storage": {"resources": {"requests": {"storage": "50Gi"}}}},
            {"dataVolume": {"name": "web-system"}},
        ),
        (
            {"name": "system", "existingPVC": {"name": "backup", "namespace": "backups"}},
            {"source": {"pvc": {"name": "backup", "namespace": "backups"}}, "storage": {}},
            {"dataVolume": {"name": "web-system"}},
        ),
        (
            {"name": "system", "size": "40Gi",
             "existingPVC": {"name": "golden", "clone": True}},
            {"source": {"pvc": {"name": "golden", "namespace": "vms"}},
             "storage": {"resources": {"requests": {"storage": "40Gi"}}}},
            {"dataVolume": {"name": "web-system"}},
        ),
        (
            {"name": "system", "existingPVC": {"name": "os-disk"}},
            None,
            {"persistentVolumeClaim": {"claimName": "os-disk"}},
        ),
    ],
)  # fmt: skip
def test_each_kind_of_disk_renders_as_the_design_says(
    disk: dict, template: dict | None, volume: dict
) -> None:
    vm = render_one(disk)
    assert templates(vm) == ({"web-system": template} if template else {})
    assert (
        "dataVolumeTemplates" in vm["spec"] if template else "dataVolumeTemplates" not in vm["spec"]
    )
    assert volumes(vm) == {"system": volume}
    assert devices(vm) == {"system": {"bootOrder": 1, "disk": {"bus": "virtio"}}}


def test_a_read_only_attached_pvc_is_read_only_on_the_volume_and_the_disk() -> None:
    vm = render_one({"name": "data", "bus": "scsi", "existingPVC": {"name": "d", "readOnly": True}})
    assert volumes(vm) == {"data": {"persistentVolumeClaim": {"claimName": "d", "readOnly": True}}}
    assert devices(vm) == {"data": {"disk": {"bus": "scsi", "readonly": True}}}


def test_a_read_only_clone_is_mounted_read_only_too() -> None:
    disk = {"name": "data", "existingPVC": {"name": "d", "namespace": "b", "readOnly": True}}
    assert devices(render_one(disk)) == {"data": {"disk": {"bus": "virtio", "readonly": True}}}


@pytest.mark.parametrize(
    ("disk", "device", "volume"),
    [
        (  # an ISO library PVC of the VM's namespace: attached, read-only on the volume too
            {"name": "iso", "device": "cdrom", "existingPVC": {"name": "isos"}},
            {"cdrom": {"bus": "sata"}},
            {"persistentVolumeClaim": {"claimName": "isos", "readOnly": True}},
        ),
        (  # readOnly: true says what a CD-ROM is anyway
            {"name": "iso", "device": "cdrom", "bus": "scsi",
             "existingPVC": {"name": "isos", "readOnly": True}},
            {"cdrom": {"bus": "scsi"}},
            {"persistentVolumeClaim": {"claimName": "isos", "readOnly": True}},
        ),
        (  # an ISO of another namespace is cloned, as any PVC is
            {"name": "iso", "device": "cdrom", "existingPVC": {"name": "isos", "namespace": "lib"}},
            {"cdrom": {"bus": "sata"}},
            {"dataVolume": {"name": "web-iso"}},
        ),
        (  # an ISO downloaded by CDI
            {"name": "iso", "device": "cdrom", "size": "1Gi", "image": ISO},
            {"cdrom": {"bus": "sata"}},
            {"dataVolume": {"name": "web-iso"}},
        ),
    ],
)  # fmt: skip
def test_a_cd_rom_is_a_read_only_cdrom_device_on_sata_unless_it_says_scsi(
    disk: dict, device: dict, volume: dict, reference_dir: Path
) -> None:
    vm = render_one(disk)
    assert schemas.errors(reference_dir, schemas.VIRTUAL_MACHINE, vm) == []
    # KubeVirt defaults a CD-ROM's readonly to true (SetDefaults_CDRomTarget); writing it out
    # would say nothing more.
    assert devices(vm) == {"iso": device}
    assert volumes(vm) == {"iso": volume}


def test_an_iso_install_boots_the_blank_disk_first_then_the_cd_rom(reference_dir: Path) -> None:
    vm = render_one(
        {"name": "root", "size": "20Gi", "bootOrder": 1},
        {"name": "installer", "device": "cdrom", "size": "1Gi", "image": ISO, "bootOrder": 2},
    )
    assert schemas.errors(reference_dir, schemas.VIRTUAL_MACHINE, vm) == []
    assert devices(vm) == {
        "root": {"bootOrder": 1, "disk": {"bus": "virtio"}},
        "installer": {"bootOrder": 2, "cdrom": {"bus": "sata"}},
    }
    assert templates(vm) == {
        "web-root": {"source": {"blank": {}},
                     "storage": {"resources": {"requests": {"storage": "20Gi"}}}},
        "web-installer": {"source": {"http": {"url": ISO}},
                          "storage": {"resources": {"requests": {"storage": "1Gi"}}}},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("disks", "orders"),
    [
        # boot: true is bootOrder 1; nothing else gets one, so KubeVirt tries nothing else.
        ([{"boot": True}, {}, {}], [1, None, None]),
        # bootOrder gives the whole sequence, and the list order does not matter.
        ([{"bootOrder": 3}, {"bootOrder": 1}, {"bootOrder": 2}], [3, 1, 2]),
        ([{"boot": True}, {"bootOrder": 2}, {}], [1, 2, None]),
        ([{"bootOrder": 5}, {}, {}], [5, None, None]),
        # Nothing marked: KubeVirt tries the disks in the order listed.
        ([{}, {}, {}], [None, None, None]),
    ],
)
def test_boot_order_is_rendered_as_the_spec_gives_it(disks: list[dict], orders: list) -> None:
    names = ["a", "b", "c"]
    vm = render_one(
        *(
            {"name": n, "size": "1Gi", "image": IMAGE, **d}
            for n, d in zip(names, disks, strict=True)
        )
    )
    rendered = devices(vm)
    assert [rendered[n].get("bootOrder") for n in names] == orders


@pytest.mark.parametrize(
    ("options", "storage"),
    [
        ({}, {}),
        ({"storageClass": "fast"}, {"storageClassName": "fast"}),
        ({"accessMode": "ReadWriteMany"}, {"accessModes": ["ReadWriteMany"]}),
        ({"volumeMode": "Block"}, {"volumeMode": "Block"}),
        (
            {"storageClass": "fast", "accessMode": "ReadWriteOnce", "volumeMode": "Filesystem"},
            {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
             "volumeMode": "Filesystem"},
        ),
    ],
)  # fmt: skip
def test_storage_settings_are_written_only_when_the_spec_sets_them(
    options: dict, storage: dict
) -> None:
    vm = render_one({"name": "scratch", "size": "1Gi", **options})
    assert templates(vm)["web-scratch"]["storage"] == {
        "resources": {"requests": {"storage": "1Gi"}},
        **storage,
    }


def test_only_the_boot_disk_has_a_boot_order() -> None:
    vm = render_one(
        {"name": "data", "size": "1Gi"},
        {"name": "os", "size": "20Gi", "image": IMAGE, "boot": True},
        {"name": "system", "size": "20Gi", "image": IMAGE},
    )
    assert {name: d.get("bootOrder") for name, d in devices(vm).items()} == {
        "data": None,
        "os": 1,
        "system": None,
    }


def test_a_vm_without_a_boot_disk_has_no_boot_order_and_no_placeholder() -> None:
    vm = render_one({"name": "data", "size": "1Gi"})
    assert devices(vm) == {"data": {"disk": {"bus": "virtio"}}}
    assert list(templates(vm)) == ["web-data"]


def test_a_vm_without_disks_has_no_disks_and_no_volumes() -> None:
    vm = render_one()
    assert vm["spec"]["template"]["spec"] == {
        "domain": {"cpu": ONE_CPU, "memory": {"guest": "1Gi"}, "devices": {}}
    }
    assert "dataVolumeTemplates" not in vm["spec"]


def test_each_wukong_disk_is_one_vm_disk_and_one_volume_of_its_name_in_order() -> None:
    names = ["system", "data", "iso", "scratch"]
    vm = render_one(
        {"name": "system", "size": "1Gi", "image": IMAGE},
        {"name": "data", "existingPVC": {"name": "d"}},
        {"name": "iso", "existingPVC": {"name": "i", "namespace": "isos"}},
        {"name": "scratch", "size": "1Gi"},
    )
    assert list(devices(vm)) == names
    assert list(volumes(vm)) == names


def test_metadata_labels_annotations_and_run_strategy() -> None:
    plan = plan_one(
        wukong("web", "vms", memory="4Gi", cpu=2)
        | {
            "metadata": {
                "name": "web",
                "namespace": "vms",
                "labels": {"team": "data", "app.kubernetes.io/managed-by": "someone"},
                "annotations": {"owner": "ops"},
            }
        }
    )
    vm = render_vm(plan)
    assert (vm["apiVersion"], vm["kind"]) == ("kubevirt.io/v1", "VirtualMachine")
    assert vm["metadata"] == {
        "name": "web",
        "namespace": "vms",
        "labels": {
            "team": "data",
            "app.kubernetes.io/managed-by": "wukong",
            "app.kubernetes.io/name": "web",
        },
        "annotations": {"owner": "ops", SOURCE_ANNOTATION: "vms/web.yaml"},
    }
    assert vm["spec"]["runStrategy"] == "Always"  # the default is written out
    assert vm["spec"]["template"]["metadata"] == {
        "labels": {"app.kubernetes.io/managed-by": "wukong", "app.kubernetes.io/name": "web"}
    }
    assert vm["spec"]["template"]["spec"]["domain"]["cpu"] == {
        "sockets": 2,
        "cores": 1,
        "threads": 1,
    }
    assert vm["spec"]["template"]["spec"]["domain"]["memory"] == {"guest": "4Gi"}
    assert "running" not in vm["spec"]


# -- what surrounds the disks: sizing, cloud-init, SSH keys, networks, firmware -----------------


def template_spec(vm: dict) -> dict[str, Any]:
    return vm["spec"]["template"]["spec"]


def test_a_golden_image_is_a_data_volume_template_with_a_source_ref() -> None:
    vm = render_one({"name": "root", "dataSource": {"name": "fedora", "namespace": "os-images"}})
    ref = {"kind": "DataSource", "name": "fedora", "namespace": "os-images"}
    assert templates(vm) == {"web-root": {"sourceRef": ref, "storage": {}}}  # the source's size
    assert volumes(vm) == {"root": {"dataVolume": {"name": "web-root"}}}
    sized = render_one({"name": "root", "size": "40Gi", "dataSource": {"name": "fedora"}})
    assert templates(sized)["web-root"] == {
        "sourceRef": {"kind": "DataSource", "name": "fedora", "namespace": "vms"},
        "storage": {"resources": {"requests": {"storage": "40Gi"}}},
    }


def test_cloud_init_is_a_no_cloud_volume_with_a_virtio_disk_of_the_same_name() -> None:
    vm = render_one(
        {"name": "root", "dataSource": {"name": "fedora"}},
        cloudInit={"userData": "#cloud-config\n", "networkDataSecret": "net"},
    )
    assert devices(vm)["cloudinitdisk"] == {"disk": {"bus": "virtio"}}
    assert list(devices(render_one(cloudInit={"userData": "x"}))) == ["cloudinitdisk"]
    assert volumes(vm)["cloudinitdisk"] == {
        "cloudInitNoCloud": {"userData": "#cloud-config\n", "networkDataSecretRef": {"name": "net"}}
    }


def test_user_data_from_a_secret_is_kubevirt_s_secret_ref() -> None:
    """KubeVirt's Go field is UserDataSecretRef, its JSON name `secretRef`: the strict schema
    refuses `userDataSecretRef`."""
    vm = render_one(cloudInit={"userDataSecret": "init", "networkData": "version: 2"})
    assert volumes(vm)["cloudinitdisk"] == {
        "cloudInitNoCloud": {"secretRef": {"name": "init"}, "networkData": "version: 2"}
    }


def test_empty_inline_cloud_init_data_is_not_written() -> None:
    """KubeVirt counts inline data only when it is not empty: `userData: ''` beside a Secret is
    no second source, and is left out of the manifest."""
    vm = render_one(cloudInit={"userData": "", "userDataSecret": "init", "networkData": ""})
    assert volumes(vm)["cloudinitdisk"] == {"cloudInitNoCloud": {"secretRef": {"name": "init"}}}
    network_only = render_one(cloudInit={"networkDataSecret": "net"})
    assert volumes(network_only)["cloudinitdisk"] == {
        "cloudInitNoCloud": {"networkDataSecretRef": {"name": "net"}}
    }


def test_ssh_keys_are_access_credentials_propagated_through_no_cloud() -> None:
    vm = render_one(cloudInit={"userData": "#cloud-config"}, sshKeySecret="team-keys")
    assert template_spec(vm)["accessCredentials"] == [
        {
            "sshPublicKey": {
                "source": {"secret": {"secretName": "team-keys"}},
                "propagationMethod": {"noCloud": {}},
            }
        }
    ]


def test_networks_and_interfaces_name_each_other_with_their_default_bindings() -> None:
    vm = render_one(
        networks=[
            {"name": "default", "network": "pod"},
            {"name": "lab", "network": "lab-vlan100"},
            {"name": "storage", "network": "infra/storage-net", "binding": "bridge"},
        ]
    )
    assert template_spec(vm)["networks"] == [
        {"name": "default", "pod": {}},
        {"name": "lab", "multus": {"networkName": "lab-vlan100"}},
        {"name": "storage", "multus": {"networkName": "infra/storage-net"}},
    ]
    assert template_spec(vm)["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}},
        {"name": "lab", "bridge": {}},
        {"name": "storage", "bridge": {}},
    ]


def test_without_networks_kubevirt_s_default_stays_and_an_empty_list_means_none() -> None:
    default = template_spec(render_one())
    assert "networks" not in default and "interfaces" not in default["domain"]["devices"]
    isolated = template_spec(render_one(networks=[]))
    assert "networks" not in isolated
    assert isolated["domain"]["devices"] == {"interfaces": [], "autoattachPodInterface": False}


def test_an_instancetype_sizes_the_vm_and_both_kinds_are_always_written() -> None:
    """KubeVirt v1.6 refuses cpu or memory beside an instancetype; a kind left out would be
    filled in by its webhook in lowercase, a difference from Git that Argo CD would show."""
    document = wukong("web", "vms", instancetype={"name": "u1.medium"})
    del document["spec"]["cpu"], document["spec"]["memory"]
    document["spec"]["preference"] = {"name": "fedora"}
    vm = render_vm(plan_one(document))
    assert vm["spec"]["instancetype"] == {
        "kind": "VirtualMachineClusterInstancetype",
        "name": "u1.medium",
    }
    assert vm["spec"]["preference"] == {"kind": "VirtualMachineClusterPreference", "name": "fedora"}
    assert template_spec(vm)["domain"] == {"devices": {}}
    sized = render_one(preference={"name": "team", "kind": "VirtualMachinePreference"})
    assert template_spec(sized)["domain"]["cpu"] == ONE_CPU
    assert sized["spec"]["preference"]["kind"] == "VirtualMachinePreference"


@pytest.mark.parametrize(
    ("firmware", "domain"),
    [
        ("bios", {"firmware": {"bootloader": {"bios": {}}}}),
        # KubeVirt's secureBoot defaults to true, which needs SMM: plain EFI says false.
        ("efi", {"firmware": {"bootloader": {"efi": {"secureBoot": False}}}}),
        (
            "efi-secure",
            {
                "firmware": {"bootloader": {"efi": {"secureBoot": True}}},
                "features": {"smm": {"enabled": True}},
            },
        ),
    ],
)
def test_firmware(firmware: str, domain: dict[str, Any]) -> None:
    rendered = template_spec(render_one(firmware=firmware))["domain"]
    assert {k: v for k, v in rendered.items() if k in ("firmware", "features")} == domain


def test_no_firmware_is_kubevirt_s_default_and_tpm_is_a_device() -> None:
    domain = template_spec(render_one())["domain"]
    assert "firmware" not in domain and "features" not in domain
    assert "tpm" not in domain["devices"]
    assert template_spec(render_one(tpm=True))["domain"]["devices"]["tpm"] == {}


def test_persistent_state_keeps_the_tpm_and_the_uefi_variables() -> None:
    """KubeVirt keeps a TPM's state and the UEFI variables in backend storage only when the
    VM says `persistent` on each (both needed by BitLocker on recent Windows 11)."""
    domain = template_spec(render_one(firmware="efi-secure", tpm=True, persistentState=True))
    assert domain["domain"]["devices"]["tpm"] == {"persistent": True}
    efi = {"secureBoot": True, "persistent": True}
    assert domain["domain"]["firmware"] == {"bootloader": {"efi": efi}}
    bios = template_spec(render_one(firmware="bios", tpm=True, persistentState=True))["domain"]
    assert bios["firmware"] == {"bootloader": {"bios": {}}}  # BIOS keeps no variables


@pytest.mark.parametrize(
    ("cpu", "topology"),
    [
        # KubeVirt's own layout for a VM that names none (SetDefaultGuestCPUTopology), and the
        # one CPU hotplug grows live: sockets.
        ({"cpu": 4}, {"sockets": 4, "cores": 1, "threads": 1}),
        ({"cpu": 8, "coresPerSocket": 4}, {"sockets": 2, "cores": 4, "threads": 1}),
        ({"cpu": 3, "coresPerSocket": 3}, {"sockets": 1, "cores": 3, "threads": 1}),
    ],
)
def test_cpu_is_sockets_of_cores_per_socket_cores(
    cpu: dict[str, int], topology: dict[str, int]
) -> None:
    assert template_spec(render_one(memory="1Gi", **cpu))["domain"]["cpu"] == topology


def test_every_volume_has_its_disk_and_every_network_its_interface() -> None:
    """KubeVirt refuses a VM whose disks and volumes, or interfaces and networks, do not name
    each other exactly (and a name used twice)."""
    for plan in ALL_PLANS:
        spec = template_spec(render_vm(plan))
        devices_ = spec["domain"]["devices"]
        disks = [d["name"] for d in devices_.get("disks", [])]
        assert disks == [v["name"] for v in spec.get("volumes", [])], plan.key
        assert len(set(disks)) == len(disks), plan.key
        interfaces = [i["name"] for i in devices_.get("interfaces", [])]
        assert interfaces == [n["name"] for n in spec.get("networks", [])], plan.key
        assert len(set(interfaces)) == len(interfaces), plan.key


# -- what Argo CD may do to a VM that owns disks ------------------------------------------------


OWNED = {"name": "system", "size": "20Gi", "image": IMAGE}
ATTACHED = {"name": "data", "existingPVC": {"name": "attached"}}


def _options(*disks: dict, protect: str = "confirm", own: str | None = None) -> str | None:
    plan = plan_one(wukong("web", "vms", disks=disks))
    if own is not None:
        plan = replace(plan, annotations=((SYNC_OPTIONS, own),))
    plan = replace(plan, protect_disks=protect)
    return render_vm(plan)["metadata"]["annotations"].get(SYNC_OPTIONS)


@pytest.mark.parametrize(
    ("disks", "protect", "options"),
    [
        ((OWNED, ATTACHED), "confirm", "Prune=confirm,Delete=confirm"),
        ((OWNED,), "never", "Prune=false,Delete=false"),
        ((OWNED,), "off", None),
        ((ATTACHED,), "confirm", None),  # deleting it deletes no data
        ((), "confirm", None),
        (({"name": "c", "existingPVC": {"name": "x", "namespace": "backups"}},), "confirm",
         "Prune=confirm,Delete=confirm"),  # a clone is a new disk the VM owns
    ],
)  # fmt: skip
def test_a_vm_that_owns_disks_asks_argo_cd_before_deleting_them(
    disks: tuple, protect: str, options: str | None
) -> None:
    assert _options(*disks, protect=protect) == options


@pytest.mark.parametrize(
    ("own", "protect", "options"),
    [
        ("ServerSideApply=true", "confirm", "ServerSideApply=true,Prune=confirm,Delete=confirm"),
        (" ServerSideApply=true , Prune=false", "confirm",
         "ServerSideApply=true,Prune=false,Delete=confirm"),  # the spec's own Prune stays alone
        ("Delete=false,Prune=confirm", "never", "Delete=false,Prune=confirm"),
        ("Validate=false", "off", "Validate=false"),
        (" Validate=false ", "off", " Validate=false "),  # nothing added: kept as written
    ],
)  # fmt: skip
def test_the_spec_s_own_sync_options_are_merged_not_overwritten(
    own: str, protect: str, options: str
) -> None:
    assert _options(OWNED, protect=protect, own=own) == options
    assert _options(ATTACHED, protect=protect, own=own) == own


@pytest.mark.parametrize("strategy", ["Always", "RerunOnFailure", "Once", "Manual", "Halted"])
def test_the_run_strategy_is_always_written(strategy: str) -> None:
    assert render_one(runStrategy=strategy)["spec"]["runStrategy"] == strategy


# -- a matrix of specs -------------------------------------------------------------------

DISK_KINDS = [
    {"size": "20Gi", "image": IMAGE},
    {"size": "20Gi", "image": HTTP_IMAGE},
    {"size": "10Gi"},
    {"existingPVC": {"name": "attached"}},
    {"existingPVC": {"name": "attached", "readOnly": True}},
    {"existingPVC": {"name": "backup.2026-11-01", "namespace": "backups"}},
    {"size": "30Gi", "existingPVC": {"name": "golden", "clone": True}},
    {"existingPVC": {"name": "golden", "namespace": "vms", "clone": True, "readOnly": True}},
    {"device": "cdrom", "size": "1Gi", "image": ISO},
    {"device": "cdrom", "existingPVC": {"name": "isos"}},
    {"device": "cdrom", "existingPVC": {"name": "isos", "namespace": "library"}},
    {"dataSource": {"name": "fedora", "namespace": "kubevirt-os-images"}},
    {"size": "40Gi", "dataSource": {"name": "fedora"}},
    {"device": "cdrom", "dataSource": {"name": "virtio-win", "namespace": "kubevirt-os-images"}},
]
# What surrounds the disks, each VM of the matrix one way (all optional, all combinable).
MACHINES = [
    {"cloudInit": {"userData": "#cloud-config\npackages: [qemu-guest-agent]\n",
                   "networkData": "version: 2\nethernets:\n  enp1s0: {dhcp4: true}\n"}},
    {"cloudInit": {"userDataSecret": "init", "networkDataSecret": "net"}, "sshKeySecret": "keys"},
    {"networks": [{"name": "default", "network": "pod"}]},
    {"networks": [{"name": "default", "network": "pod", "binding": "bridge"},
                  {"name": "lab", "network": "lab-vlan100"},
                  {"name": "storage", "network": "infra/storage-net"}]},
    {"networks": [{"name": "lab", "network": "lab-vlan100"}]},  # Multus only: no pod network
    {"networks": []},  # no interface at all
    {"instancetype": {"name": "u1.medium"}, "preference": {"name": "fedora"}},
    {"instancetype": {"name": "big", "kind": "VirtualMachineInstancetype"},
     "preference": {"name": "team", "kind": "VirtualMachinePreference"}},
    {"preference": {"name": "windows.11"}},  # a preference beside cpu and memory
    {"firmware": "bios"},
    {"firmware": "efi"},
    {"firmware": "efi-secure", "tpm": True},
    {"tpm": True},
    {"firmware": "efi", "tpm": True, "persistentState": True},
    {"cpu": 4, "coresPerSocket": 2},
]  # fmt: skip
OPTIONS = [
    {},
    {"storageClass": "fast", "bus": "sata"},
    {"accessMode": "ReadWriteMany", "volumeMode": "Block", "bus": "scsi"},
    {"accessMode": "ReadOnlyMany", "volumeMode": "Filesystem", "storageClass": "a.b-c"},
]


def matrix() -> list[VmPlan]:
    """Every disk kind with every storage option, alone and all together, as boot disk or not."""
    documents = []
    for i, (kind, options) in enumerate(itertools.product(DISK_KINDS, OPTIONS)):
        attach = "existingPVC" in kind and "namespace" not in kind["existingPVC"]
        attach = attach and not kind["existingPVC"].get("clone")
        if kind.get("existingPVC", {}).get("readOnly") and options.get("bus") == "sata":
            options = {**options, "bus": "scsi"}  # KubeVirt refuses a read-only sata hard disk
        disk = {"name": "system" if i % 2 else "data", **kind, **({} if attach else options)}
        if attach:  # each VM attaches a PVC of its own: sharing is another test's business
            disk["existingPVC"] = {**kind["existingPVC"], "name": f"attached-{i}"}
        documents.append(wukong(f"vm-{i}", "vms", disks=[disk], runStrategy="Manual"))
    everything = [{"name": f"d{i}", **kind} for i, kind in enumerate(DISK_KINDS)]
    documents.append(wukong("all", "vms", disks=[*everything[:2], {**everything[2], "boot": True},
                                                 *everything[3:]]))  # fmt: skip
    for i, machine in enumerate(MACHINES):
        document = wukong(f"machine-{i}", "vms", disks=[{"name": "system", "size": "1Gi"}])
        if "instancetype" in machine:
            del document["spec"]["cpu"], document["spec"]["memory"]
        documents.append(document | {"spec": {**document["spec"], **machine}})
    documents.append(wukong("nothing", "other", runStrategy="Halted"))
    documents.append(
        wukong("labelled", None, disks=[{"name": "system", "size": "1Gi", "image": IMAGE}])
        | {"metadata": {"name": "labelled", "labels": {"a": "b"}, "annotations": {"c": "d"}}}
    )
    files = {f"specs/{d['metadata']['name']}.yaml": yaml.safe_dump(d) for d in documents}
    plans, findings = plan_all(files)
    assert [f for f in findings if f.severity.value == "error"] == []
    assert len(plans) == len(documents)
    return plans


def seed_plans() -> list[VmPlan]:
    files = {
        f"examples/specs/{p.name}": p.read_text() for p in sorted((EXAMPLES / "specs").glob("*"))
    }
    plans, _ = plan_all(files)
    assert len(plans) == len(files)
    return plans


ALL_PLANS = [*seed_plans(), *matrix()]


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{path}/{i}")]
    return []


def test_no_rendered_file_holds_a_null() -> None:
    for name, data in render_tree(ALL_PLANS, presync_hooks()).items():
        for document in yaml.safe_load_all(data):
            assert _nulls(document) == [], name


def test_every_rendered_vm_and_data_volume_passes_the_strict_official_schemas(
    reference_dir: Path,
) -> None:
    checked = 0
    for plan in ALL_PLANS:
        vm = yaml.safe_load(yaml.safe_dump(render_vm(plan)))  # exactly what the file holds
        assert schemas.errors(reference_dir, schemas.VIRTUAL_MACHINE, vm) == [], plan.key
        for template in vm["spec"].get("dataVolumeTemplates", []):
            volume = {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", **template}
            assert schemas.errors(reference_dir, schemas.DATA_VOLUME, volume) == [], plan.key
            checked += 1
    assert checked == sum(d.kind != "attach" for p in ALL_PLANS for d in p.disks) > 30


def test_the_strict_schemas_would_catch_a_misspelt_or_null_field(reference_dir: Path) -> None:
    vm = render_vm(ALL_PLANS[0])
    vm["spec"]["runstrategy"] = vm["spec"].pop("runStrategy")
    assert schemas.errors(reference_dir, schemas.VIRTUAL_MACHINE, vm) != []
    volume = {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": "x"},
        "spec": {"source": {"pvc": {"name": "a", "namespace": "b"}}, "storage": None},
    }  # CDI's own clone example: `storage:` with no value
    assert schemas.errors(reference_dir, schemas.DATA_VOLUME, volume) != []


def test_a_data_volume_template_is_a_data_volume_without_kind() -> None:
    plan = plan_one(wukong(disks=[{"name": "system", "size": "1Gi"}]))
    assert render_datavolume_template(plan.disks[0], plan.name) == {
        "metadata": {
            "name": "web-system",
            "labels": {"app.kubernetes.io/managed-by": "wukong", "app.kubernetes.io/name": "web"},
        },
        "spec": {
            "source": {"blank": {}},
            "storage": {"resources": {"requests": {"storage": "1Gi"}}},
        },
    }


# -- files, layout, determinism ----------------------------------------------------------


def test_the_layout_is_one_directory_per_namespace_with_kustomizations() -> None:
    files = render_tree(seed_plans())
    assert sorted(files) == [
        "kustomization.yaml",
        "vms/db-vm.yaml",
        "vms/empty-vm.yaml",
        "vms/fedora-dev.yaml",
        "vms/hybrid-vm.yaml",
        "vms/install-vm.yaml",
        "vms/kustomization.yaml",
        "vms/restored-vm.yaml",
        "vms/win11.yaml",
    ]
    assert yaml.safe_load(files["kustomization.yaml"]) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["vms"],
    }
    assert yaml.safe_load(files["vms/kustomization.yaml"])["resources"] == [
        "db-vm.yaml",
        "empty-vm.yaml",
        "fedora-dev.yaml",
        "hybrid-vm.yaml",
        "install-vm.yaml",
        "restored-vm.yaml",
        "win11.yaml",
    ]


def test_namespace_extras_are_written_and_listed_in_their_namespace_only() -> None:
    plans = [plan_one(wukong("web", "a")), plan_one(wukong("db", "b")), plan_one(wukong("x", "b"))]

    def extras(namespace: str, members: list[VmPlan], caches: Caches) -> dict[str, dict]:
        return {
            "hook.yaml": {"kind": "ConfigMap", "data": {"vms": ",".join(p.name for p in members)}}
        }

    files = render_tree(plans, extras)
    assert yaml.safe_load(files["b/hook.yaml"]) == {"kind": "ConfigMap", "data": {"vms": "db,x"}}
    assert yaml.safe_load(files["b/kustomization.yaml"])["resources"] == [
        "db.yaml",
        "hook.yaml",
        "x.yaml",
    ]
    assert yaml.safe_load(files["kustomization.yaml"])["resources"] == ["a", "b"]
    assert files["b/hook.yaml"].startswith(GENERATED_MARK.encode())


def test_every_file_starts_with_the_generated_header() -> None:
    files = render_tree(seed_plans(), presync_hooks())
    first_line = files["vms/hybrid-vm.yaml"].split(b"\n", 1)[0]
    source = b"# generated by wukong from examples/specs/hybrid-vm.yaml; do not edit"
    assert re.fullmatch(re.escape(source) + rb"; render [0-9a-f]{16}", first_line)
    for name, data in files.items():
        assert data.startswith(b"# generated by wukong"), name
        assert data.endswith(b"\n"), name


def test_the_same_plans_render_the_same_bytes_in_any_order() -> None:
    first = render_tree(ALL_PLANS, presync_hooks())
    shuffled = list(ALL_PLANS)
    for seed in range(3):
        random.Random(seed).shuffle(shuffled)
        assert render_tree(shuffled, presync_hooks()) == first
    again = [*seed_plans(), *matrix()]  # planned afresh from the same specs
    assert render_tree(again, presync_hooks()) == first


# -- files already in the output directory ---------------------------------------------------------

# What Wukong writes for ALL_PLANS (VM files, their stamps left out), per RENDER_FORMAT.
WRITTEN = {
    1: "4569629eb6fda6ff",
    2: "8cc1f6ff1ad03a90",
    3: "1cda2efe9126ce8a",
    4: "52ce1695fced8a38",
    5: "52ce1695fced8a38",  # the same bodies; the plans, and so the stamps, carry field lines
    6: "3cf45dda5c3de319",
}


def _vm_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: d for p, d in files.items() if "/" in p and not p.endswith(KUSTOMIZATION)}


def test_a_change_to_what_wukong_writes_comes_with_a_new_render_format() -> None:
    # Commit-back keeps a VM file whose stamp still holds, and stamps change only with the format:
    # output written differently under the same format would never reach repositories.
    digest = hashlib.sha256()
    for path, data in sorted(_vm_files(render_tree(ALL_PLANS)).items()):
        first, _, body = data.partition(b"\n")
        digest.update(path.encode() + first.rpartition(b"; render ")[0] + body)
    written, format_ = digest.hexdigest()[:16], render.RENDER_FORMAT
    assert WRITTEN.get(format_) == written, (
        f"the rendered VMs changed: raise render.RENDER_FORMAT to {format_ + 1} and add "
        f"{format_ + 1}: {written!r} to WRITTEN"
    )


def test_the_output_directory_never_changes_what_is_written() -> None:
    fresh = render_tree(ALL_PLANS, presync_hooks())
    vms = sorted(_vm_files(fresh))
    first, second = vms[0], vms[1]
    header, _, body = fresh[first].partition(b"\n")
    previous = {
        first: header + b"\n" + body.replace(b"runStrategy:", b"runStrategy: Always #", 1),
        second: fresh[first],  # another VM's file, stamp and all
        vms[2]: fresh[vms[2]].split(b"; render ")[0] + b"\n" + fresh[vms[2]].partition(b"\n")[2],
        vms[3]: b"",
        vms[4]: b"\xff\xfe not yaml",
        vms[5]: fresh[vms[5]],
        vms[6]: b"# edited by hand; render " + fresh[vms[6]].split(b"; render ")[1],
        vms[7]: fresh[vms[7]].split(b"; render ")[1],  # the stamp alone on the first line
    }
    assert render_tree(ALL_PLANS, presync_hooks(), previous) == fresh


def test_a_vm_file_whose_stamp_holds_is_kept_as_it_is() -> None:
    # What spares a fresh instance from writing 2,000 unchanged VMs again on every push.
    plan = ALL_PLANS[0]
    path = f"{plan.namespace}/{plan.name}.yaml"
    body = render_tree([plan])[path].partition(b"\n")[2] + b"# kept, not written again\n"
    kept = render.header(plan.file, render.stamp_for(plan, body)).encode() + body
    assert render_tree([plan], previous={path: kept})[path] == kept
    moved = replace(plan, name="moved")  # the same file, but for another plan: written afresh
    written = render_tree([moved], previous={f"{plan.namespace}/moved.yaml": kept})
    assert written[f"{plan.namespace}/moved.yaml"] != kept


def test_an_empty_tree_is_still_a_kustomization() -> None:
    assert yaml.safe_load(render_tree([])["kustomization.yaml"])["resources"] == []


# -- kustomize ---------------------------------------------------------------------------


def _kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: cannot check that `kubectl kustomize` builds")
    built = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


def test_kubectl_kustomize_builds_the_output_and_each_namespace(tmp_path: Path) -> None:
    plans = [*seed_plans(), plan_one(wukong("solo", "other"))]
    for name, data in render_tree(plans, presync_hooks()).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)

    def vms(objects: list[dict]) -> list[str]:
        return sorted(
            f"{o['metadata']['namespace']}/{o['metadata']['name']}"
            for o in objects
            if o["kind"] == "VirtualMachine"
        )

    everything = _kustomize(tmp_path)
    assert vms(everything) == sorted(p.key for p in plans)
    assert {o["kind"] for o in everything} >= {"VirtualMachine", "ConfigMap", "Job"}
    assert vms(_kustomize(tmp_path / "vms")) == [
        "vms/db-vm",
        "vms/empty-vm",
        "vms/fedora-dev",
        "vms/hybrid-vm",
        "vms/install-vm",
        "vms/restored-vm",
        "vms/win11",
    ]
    assert vms(_kustomize(tmp_path / "other")) == ["other/solo"]
