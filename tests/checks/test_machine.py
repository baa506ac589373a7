"""The offline rules for what surrounds the disks (README, Spec reference): sizing by an
instancetype, cloud-init, SSH keys, networks, golden-image disks. Each finding points at the
line of the field that is wrong (marked `# <-` in the specs below) and says the fix."""

from __future__ import annotations

import pytest

from tests.checks.test_offline import machine_file, marked
from tests.specs import offline_findings

FIXES = {
    "sshKeySecret": "add cloudInit",
    "both": "keep one",
    "empty": "give it userData or userDataSecret",
    "empty-data": "give it userData or userDataSecret",
    "network-name": "a name of its own",
    "pod-twice": "KubeVirt allows one",
    "masquerade": "use binding: bridge",
    "cloud-init-disk": "rename this disk",
    "cpu": "remove cpu",
    "coresPerSocket": "remove coresPerSocket",
    "divisible": "make cpu a multiple of 4 (e.g. 8) or set coresPerSocket: 3",
    "persistentState": "add tpm: true or firmware: efi-secure",
    "windows-sockets": "set coresPerSocket: 4 (2 sockets)",
}


def findings_of(text: str) -> list[tuple[str, int, str]]:
    return [(f.code, f.line, f.message) for f in offline_findings({"vms/web.yaml": text})]


@pytest.mark.parametrize(
    ("case", "code", "body"),
    [
        ("sshKeySecret", "spec.invalid", "cpu: 1\nmemory: 1Gi\nsshKeySecret: keys  # <-\n"),
        (
            "windows-sockets",
            "cpu.sockets-unused",
            "cpu: 8\ncoresPerSocket: 2  # <-\nmemory: 8Gi\npreference: {name: windows.10}\n",
        ),
        (
            "both",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\ncloudInit:\n  userData: '#cloud-config'\n"
            "  userDataSecret: init  # <-\n",
        ),
        (
            "both",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\ncloudInit:\n  userDataSecret: init\n  networkData: 'version: 2'\n"
            "  networkDataSecret: net  # <-\n",
        ),
        ("empty", "spec.invalid", "cpu: 1\nmemory: 1Gi\ncloudInit: {}  # <-\n"),
        ("empty-data", "spec.invalid", "cpu: 1\nmemory: 1Gi\ncloudInit:  # <-\n  userData: ''\n"),
        (
            "network-name",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\nnetworks:\n- {name: lab, network: pod}\n"
            "- name: lab  # <-\n  network: lab-vlan\n",
        ),
        (
            "pod-twice",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\nnetworks:\n- {name: a, network: pod}\n- name: b\n"
            "  network: pod  # <-\n",
        ),
        (
            "masquerade",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\nnetworks:\n- name: lab\n  network: infra/lab\n"
            "  binding: masquerade  # <-\n",
        ),
        (
            "cloud-init-disk",
            "disk.duplicate-name",
            "cpu: 1\nmemory: 1Gi\ncloudInit: {userData: '#cloud-config'}\ndisks:\n"
            "- name: cloudinitdisk  # <-\n  size: 1Gi\n",
        ),
        (
            "cpu",
            "instancetype.conflict",
            "instancetype: {name: u1.medium}\ncpu: 2  # <-\n",
        ),
        (
            "coresPerSocket",
            "instancetype.conflict",
            "instancetype: {name: u1.medium}\ncoresPerSocket: 2  # <-\n",
        ),
        ("divisible", "spec.invalid", "cpu: 6\nmemory: 1Gi\ncoresPerSocket: 4  # <-\n"),
        (
            "persistentState",
            "spec.invalid",
            "cpu: 1\nmemory: 1Gi\nfirmware: bios\npersistentState: true  # <-\n",
        ),
    ],
)
def test_each_rule_points_at_the_field_and_says_the_fix(case: str, code: str, body: str) -> None:
    text = machine_file(body)
    [(found_code, line, message)] = [f for f in findings_of(text) if f[0] != "vm.empty"]
    assert (found_code, line) == (code, marked(text))
    assert "vms/web" in message and FIXES[case] in message


@pytest.mark.parametrize(
    "cloud",
    [
        "cloudInit: {networkDataSecret: net}",  # KubeVirt writes an empty user-data beside it
        "cloudInit: {networkData: 'version: 2'}",
        "cloudInit: {userData: '', userDataSecret: init}",  # empty inline data is no source
        "cloudInit: {userDataSecret: init, networkData: '', networkDataSecret: net}",
    ],
)
def test_what_kubevirt_admits_of_cloud_init_passes(cloud: str) -> None:
    text = machine_file(f"cpu: 1\nmemory: 1Gi\n{cloud}\n")
    assert [c for c, _, _ in findings_of(text) if c != "vm.empty"] == []


def test_cpu_and_memory_beside_an_instancetype_are_two_findings() -> None:
    text = machine_file("cpu: 2  # <-1\nmemory: 4Gi  # <-2\ninstancetype:\n  name: u1.large\n")
    assert [(c, line) for c, line, _ in findings_of(text) if c != "vm.empty"] == [
        ("instancetype.conflict", marked(text, "# <-1")),
        ("instancetype.conflict", marked(text, "# <-2")),
    ]


@pytest.mark.parametrize(
    ("text", "size", "too_large"),
    [
        ("a" * 2048, 2048, False),  # KubeVirt refuses only more than 2048 bytes
        ("a" * 2049, 2049, True),
        ("ü" * 1024, 2048, False),  # counted in UTF-8 bytes, as Go's len() counts
        ("ü" * 1024 + "a", 2049, True),
    ],
)
def test_inline_cloud_init_data_is_limited_to_2048_utf8_bytes(
    text: str, size: int, too_large: bool
) -> None:
    for field, secret in (("userData", "userDataSecret"), ("networkData", "networkDataSecret")):
        cloud = {"userData": "#cloud-config", field: text}
        body = f"cpu: 1\nmemory: 1Gi\ncloudInit: {cloud}\n".replace("'", '"')
        found = [m for c, _, m in findings_of(machine_file(body)) if c == "cloudinit.too-large"]
        assert len(found) == too_large
        if too_large:
            assert f"{field} is {size} bytes" in found[0] and secret in found[0]


def test_a_vm_a_person_can_log_into_passes() -> None:
    text = machine_file(
        """
        instancetype: {name: u1.medium}
        preference: {name: fedora}
        cloudInit:
          userDataSecret: dev-cloud-init
          networkData: |
            version: 2
            ethernets: {enp1s0: {dhcp4: true}}
        sshKeySecret: dev-ssh-keys
        networks:
        - {name: default, network: pod}
        - {name: lab, network: infra/lab-vlan100, binding: bridge}
        firmware: efi-secure
        tpm: true
        disks:
        - name: root
          dataSource: {name: fedora, namespace: kubevirt-os-images}
        """
    )
    assert [c for c, _, _ in findings_of(text)] == ["clone.cross-namespace"]


# --- golden-image disks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disk", "named"),
    [
        ("  image: docker://quay.io/containerdisks/fedora:41\n", "both image and dataSource"),
        ("  existingPVC: {name: os}\n", "both existingPVC and dataSource"),
        (
            "  image: docker://quay.io/containerdisks/fedora:41\n  existingPVC: {name: os}\n",
            "image, existingPVC and dataSource",
        ),
    ],
)
def test_a_data_source_is_one_source_of_a_disk(disk: str, named: str) -> None:
    body = f"cpu: 1\nmemory: 1Gi\ndisks:\n- name: root\n{disk}  dataSource: {{name: f}}  # <-\n"
    text = machine_file(body)
    [(code, line, message)] = findings_of(text)
    assert (code, line) == ("disk.conflicting-source", marked(text))
    assert named in message and "keep exactly one source" in message


def test_a_data_source_disk_needs_no_size_and_may_be_a_cd_rom() -> None:
    body = (
        "cpu: 1\nmemory: 1Gi\ndisks:\n- {name: root, dataSource: {name: fedora}}\n"
        "- {name: iso, device: cdrom, dataSource: {name: virtio-win}}\n"
    )
    assert findings_of(machine_file(body)) == []


def test_a_golden_image_brings_an_operating_system_to_boot() -> None:
    body = (
        "cpu: 1\nmemory: 1Gi\ndisks:\n- {name: scratch, size: 1Gi}\n"
        "- name: root  # <-\n  dataSource: {name: fedora}\n"
    )
    text = machine_file(body)
    [(code, line, message)] = findings_of(text)
    assert (code, line) == ("boot.missing", marked(text))
    assert "before 'root', a clone of DataSource vms/fedora" in message


@pytest.mark.parametrize(
    "sizing",
    [
        "cpu: 4\ncoresPerSocket: 2\nmemory: 8Gi\npreference: {name: windows.11.virtio}\n",
        "cpu: 2\nmemory: 8Gi\npreference: {name: windows.11}\n",
        "cpu: 8\nmemory: 8Gi\npreference: {name: windows.2k22.virtio}\n",  # Server: 64 sockets
        "cpu: 8\nmemory: 8Gi\npreference: {name: fedora}\n",
    ],
)
def test_windows_client_vms_with_two_sockets_or_fewer_and_other_guests_pass(sizing: str) -> None:
    assert [code for code, _, _ in findings_of(machine_file(sizing))] == ["vm.empty"]
