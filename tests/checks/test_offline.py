"""Every offline finding of the README, 4: its code, severity, file, line and a message that
names the object and the fix."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import pytest

from tests.conftest import EXAMPLES
from tests.specs import offline_findings
from wukong_core.findings import CODES, Finding, Severity, exit_code, has_errors

HEAD = "apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\n"
IMAGE = "docker://quay.io/containerdisks/ubuntu:22.04"


def spec_file(name: str, namespace: str | None, *disks: dict, cpu: str = "1") -> str:
    """A spec whose first disk is on line 8, the next on line 9, and so on."""
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    text = HEAD + f"metadata: {meta}\nspec:\n  cpu: {cpu}\n  memory: 1Gi\n"
    if disks:
        text += "  disks:\n" + "".join(f"  - {json.dumps(d)}\n" for d in disks)
    return text


def block_file(disks: str, name: str = "web") -> str:
    """A spec whose disks are written in block style as given; its first disk is on line 8."""
    head = HEAD + f"metadata: {{name: {name}, namespace: vms}}\nspec:\n  cpu: 1\n  memory: 1Gi\n"
    return head + "  disks:\n" + textwrap.indent(textwrap.dedent(disks).lstrip("\n"), "  ")


def marked(text: str, mark: str = "# <-") -> int:
    """The line a finding must point at: the one carrying `mark` (the field that is wrong)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.endswith(mark))


SIZED_ATTACH = block_file(
    """
    - name: system
      size: 20Gi  # <-
      existingPVC: {name: os}
""",
)
BAD_IMAGES = block_file(
    """
    - name: system
      size: 1Gi
      image: quay.io/os:1  # <-1
    - name: iso
      size: 1Gi
      image: ftp://x/i.iso  # <-2
""",
)
READ_ONLY_SATA = block_file(
    f"""
    - name: system
      size: 20Gi
      image: {IMAGE}
    - name: iso
      bus: sata  # <-
      existingPVC:
        name: isos
        readOnly: true
""",
)
BAD_CD_ROMS = block_file(
    f"""
    - name: system
      size: 20Gi
      image: {IMAGE}
    - name: nothing
      device: cdrom  # <-1
    - name: virtio-iso
      device: cdrom
      bus: virtio  # <-2
      existingPVC: {{name: isos}}
    - name: writable-iso
      device: cdrom
      existingPVC:
        name: isos
        readOnly: false  # <-3
""",
)


def machine_file(body: str, name: str = "web") -> str:
    """A spec of VM vms/`name` whose `spec:` is `body` as given (its first line is line 5)."""
    head = HEAD + f"metadata: {{name: {name}, namespace: vms}}\nspec:\n"
    return head + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  ")


LARGE_USER_DATA = machine_file(
    "cpu: 1\nmemory: 1Gi\ncloudInit:\n  userData: |  # <-\n"
    + "".join(f"    #cloud-config line {i:04d} {'x' * 80}\n" for i in range(24))
)
WINDOWS_SOCKETS = machine_file(
    """
    cpu: 6  # <-
    memory: 8Gi
    preference:
      name: windows.11.virtio
"""
)
SIZED_TWICE = machine_file(
    """
    instancetype:
      name: u1.medium
    memory: 4Gi  # <-
"""
)
BLANK_FIRST = block_file(
    f"""
    - name: scratch
      size: 1Gi
    - name: root  # <-
      size: 20Gi
      image: {IMAGE}
""",
)


@dataclass
class Expected:
    code: str
    severity: str
    file: str
    line: int
    object: str
    says: tuple[str, ...]  # fragments of the message: the object and the fix


CASES: dict[str, tuple[dict[str, str], list[Expected]]] = {
    "spec.invalid": (
        {"vms/web.yaml": spec_file("web", "vms", cpu='"2"')},
        [Expected("spec.invalid", "error", "vms/web.yaml", 5, "vms/web",
                  ("spec.cpu", "valid integer", "'2'"))],
    ),
    "spec.duplicate-vm": (
        {
            "a/web.yaml": spec_file("web", "vms"),
            "b/web.yaml": "# again\n" + spec_file("web", "vms"),
        },
        [Expected("spec.duplicate-vm", "error", "b/web.yaml", 2, "vms/web",
                  ("VM vms/web is defined twice", "here and at a/web.yaml:1",
                   "rename or remove one"))],
    ),
    "disk.duplicate-name": (
        {"vms/web.yaml": spec_file("web", "vms", {"name": "data", "size": "1Gi"},
                                   {"name": "data", "size": "2Gi"})},
        [Expected("disk.duplicate-name", "error", "vms/web.yaml", 9, "vms/web",
                  ("disk 'data' of VM vms/web", "rename one"))],
    ),
    "disk.conflicting-source": (
        {"vms/web.yaml": spec_file("web", "vms", {"name": "system", "size": "1Gi",
                                                  "image": IMAGE, "existingPVC": {"name": "os"}})},
        [Expected("disk.conflicting-source", "error", "vms/web.yaml", 8, "vms/web",
                  ("disk 'system' of VM vms/web", "both image and existingPVC",
                   "keep exactly one source"))],
    ),
    "disk.size-required": (
        {"vms/web.yaml": spec_file("web", "vms", {"name": "system", "image": IMAGE},
                                   {"name": "scratch"})},
        [
            Expected("disk.size-required", "error", "vms/web.yaml", 8, "vms/web",
                     ("disk 'system' of VM vms/web", "an image disk", "needs size (e.g. 20Gi)")),
            Expected("disk.size-required", "error", "vms/web.yaml", 9, "vms/web",
                     ("disk 'scratch' of VM vms/web", "a blank disk", "needs size")),
        ],
    ),
    "disk.size-not-allowed": (
        {"vms/web.yaml": SIZED_ATTACH},
        [Expected("disk.size-not-allowed", "error", "vms/web.yaml", marked(SIZED_ATTACH),
                  "vms/web", ("disk 'system' of VM vms/web", "PVC 'os'", "remove size",
                              "existingPVC.clone: true"))],
    ),
    "disk.unsupported-image": (
        {"vms/web.yaml": BAD_IMAGES},
        [
            Expected("disk.unsupported-image", "error", "vms/web.yaml",
                     marked(BAD_IMAGES, "# <-1"), "vms/web",
                     ("disk 'system' of VM vms/web", "'quay.io/os:1'", "start with docker://",
                      "http:// / https://")),
            Expected("disk.unsupported-image", "error", "vms/web.yaml",
                     marked(BAD_IMAGES, "# <-2"), "vms/web",
                     ("disk 'iso' of VM vms/web", "'ftp://x/i.iso'")),
        ],
    ),
    "disk.readonly-bus": (
        {"vms/web.yaml": READ_ONLY_SATA},
        [Expected("disk.readonly-bus", "error", "vms/web.yaml", marked(READ_ONLY_SATA),
                  "vms/web", ("disk 'iso' of VM vms/web", "read-only on the sata bus",
                              "KubeVirt refuses", "use bus: virtio or scsi", "device: cdrom"))],
    ),
    "disk.cdrom-invalid": (
        {"vms/web.yaml": BAD_CD_ROMS},
        [
            Expected("disk.cdrom-invalid", "error", "vms/web.yaml",
                     marked(BAD_CD_ROMS, "# <-1"), "vms/web",
                     ("disk 'nothing' of VM vms/web", "CD-ROM with nothing in it",
                      "give it an image, an existingPVC or a dataSource", "device: disk")),
            Expected("disk.cdrom-invalid", "error", "vms/web.yaml",
                     marked(BAD_CD_ROMS, "# <-2"), "vms/web",
                     ("disk 'virtio-iso' of VM vms/web", "CD-ROM on the virtio bus",
                      "KubeVirt refuses", "use bus: sata", "or scsi")),
            Expected("disk.cdrom-invalid", "error", "vms/web.yaml",
                     marked(BAD_CD_ROMS, "# <-3"), "vms/web",
                     ("disk 'writable-iso' of VM vms/web", "always read-only",
                      "remove readOnly: false", "device: disk")),
        ],
    ),
    "boot.missing": (
        {"vms/web.yaml": BLANK_FIRST},
        [Expected("boot.missing", "warning", "vms/web.yaml", marked(BLANK_FIRST), "vms/web",
                  ("VM vms/web marks no disk to boot", "in the order listed",
                   "first 'scratch', which is blank", f"before 'root', which imports {IMAGE}",
                   "mark 'root' boot: true", "bootOrder"))],
    ),
    "boot.multiple": (
        {"vms/web.yaml": spec_file("web", "vms",
                                   {"name": "system", "size": "1Gi", "image": IMAGE, "boot": True},
                                   {"name": "data", "size": "1Gi"},
                                   {"name": "rescue", "size": "1Gi", "image": IMAGE,
                                    "boot": True})},
        [Expected("boot.multiple", "error", "vms/web.yaml", 10, "vms/web",
                  ("VM vms/web", "boot: true on system, rescue", "keep one"))],
    ),
    "vm.empty": (
        {"vms/web.yaml": "# no OS\n" + spec_file("web", "vms", {"name": "data", "size": "1Gi"})},
        [Expected("vm.empty", "info", "vms/web.yaml", 2, "vms/web",
                  ("VM vms/web", "starts without", "boot: true", "name it system"))],
    ),
    "name.too-long": (
        {"vms/web.yaml": spec_file("a" * 40, "vms",
                                   {"name": "system", "size": "1Gi", "image": IMAGE},
                                   {"name": "d" * 30, "size": "1Gi"})},
        [Expected("name.too-long", "error", "vms/web.yaml", 9, "vms/" + "a" * 40,
                  (f"'{'a' * 40}-{'d' * 30}'", f"VM '{'a' * 40}'", f"disk '{'d' * 30}'",
                   "71 characters, over 63", "shorten either name"))],
    ),
    "name.collision": (
        {
            "vms/a-b.yaml": spec_file("a-b", "vms", {"name": "c", "size": "1Gi"}),
            "vms/a.yaml": spec_file("a", "vms", {"name": "b-c", "size": "1Gi"}),
        },
        [Expected("name.collision", "error", "vms/a.yaml", 8, "vms/a",
                  ("generated name vms/a-b-c", "VM a-b disk c (vms/a-b.yaml:8)",
                   "VM a disk b-c (vms/a.yaml:8)", "rename one of the disks or VMs"))],
    ),
    "pvc.shared-in-repo": (
        {
            "vms/one.yaml": spec_file("one", "vms", {"name": "data", "existingPVC": {
                "name": "shared"}}),
            "vms/two.yaml": spec_file("two", "vms", {"name": "system", "size": "1Gi",
                                                     "image": IMAGE},
                                      {"name": "data", "existingPVC": {"name": "shared",
                                                                       "readOnly": True}}),
        },
        [
            Expected("pvc.shared-in-repo", "error", "vms/one.yaml", 8, "vms/one",
                     ("PVC vms/shared", "attached by vms/one and vms/two", "vms/one writes",
                      "readOnly everywhere", "existingPVC.clone: true")),
            Expected("pvc.shared-in-repo", "error", "vms/two.yaml", 9, "vms/two",
                     ("PVC vms/shared", "attached by vms/two and vms/one", "vms/one writes")),
        ],
    ),
    "clone.cross-namespace": (
        {"vms/web.yaml": spec_file("web", "vms", {"name": "system", "existingPVC": {
            "name": "web-backup", "namespace": "backups"}}, {"name": "golden", "dataSource": {
            "name": "fedora", "namespace": "kubevirt-os-images"}})},
        [Expected("clone.cross-namespace", "info", "vms/web.yaml", 8, "vms/web",
                  ("disk 'system' of VM vms/web", "backups/web-backup", "vms/web-system",
                   "datavolumes/source in 'backups'", "'default' of 'vms'")),
         Expected("clone.cross-namespace", "info", "vms/web.yaml", 9, "vms/web",
                  ("disk 'golden' of VM vms/web", "DataSource kubevirt-os-images/fedora",
                   "vms/web-golden", "datavolumes/source in 'kubevirt-os-images'",
                   "golden-image namespaces"))],
    ),
    "cloudinit.too-large": (
        {"vms/web.yaml": LARGE_USER_DATA},
        [Expected("cloudinit.too-large", "error", "vms/web.yaml", marked(LARGE_USER_DATA),
                  "vms/web", ("cloudInit of VM vms/web", "userData is 2520 bytes",
                              "over the 2048 bytes", "move it into a Secret",
                              "key userdata", "userDataSecret"))],
    ),
    "instancetype.conflict": (
        {"vms/web.yaml": SIZED_TWICE},
        [Expected("instancetype.conflict", "error", "vms/web.yaml", marked(SIZED_TWICE),
                  "vms/web", ("VM vms/web sets memory and instancetype 'u1.medium'",
                              "KubeVirt refuses", "remove memory"))],
    ),
    "cpu.sockets-unused": (
        {"vms/web.yaml": WINDOWS_SOCKETS},
        [Expected("cpu.sockets-unused", "warning", "vms/web.yaml", marked(WINDOWS_SOCKETS),
                  "vms/web", ("cpu 6 as 6 sockets", "'windows.11.virtio'",
                              "at most 2 sockets", "set coresPerSocket: 3 (2 sockets)"))],
    ),
}  # fmt: skip


def _without(findings: list[Finding], code: str) -> list[Finding]:
    """Drop the incidental info a case cannot avoid (an image-less VM is also empty)."""
    return [f for f in findings if f.code == code or f.code != "vm.empty"]


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_offline_finding_has_its_code_severity_place_and_fix(code: str) -> None:
    files, expected = CASES[code]
    found = _without(offline_findings(files), code)
    assert [(f.code, f.severity.value, f.file, f.line, f.object) for f in found] == [
        (e.code, e.severity, e.file, e.line, e.object) for e in expected
    ]
    for finding, wanted in zip(found, expected, strict=True):
        for fragment in wanted.says:
            assert fragment in finding.message
    assert exit_code(found) == (1 if CODES[code] is Severity.ERROR else 0)


def test_every_offline_code_of_the_design_is_covered() -> None:
    cluster = ("pvc.", "storageclass.", "namespace.", "cluster.", "clone.source-", "clone.too-")
    cluster += ("network.", "instancetype.not-", "preference.", "datasource.")
    # What a render does to data compares two renders (tests/checks/test_safety.py), not one spec.
    data_safety = {"vm.removed", "vm.renamed", "disk.change-ignored"}
    offline = {code for code in CODES if not code.startswith(cluster)} - data_safety
    assert offline | {"pvc.shared-in-repo"} == set(CASES)


@pytest.mark.parametrize(
    ("code", "severity"),
    [
        ("spec.invalid", "error"), ("spec.duplicate-vm", "error"),
        ("disk.duplicate-name", "error"), ("disk.conflicting-source", "error"),
        ("disk.size-required", "error"), ("disk.size-not-allowed", "error"),
        ("disk.unsupported-image", "error"), ("disk.readonly-bus", "error"),
        ("disk.cdrom-invalid", "error"), ("boot.multiple", "error"), ("boot.missing", "warning"),
        ("vm.empty", "info"),
        ("name.too-long", "error"), ("name.collision", "error"),
        ("pvc.shared-in-repo", "error"), ("clone.cross-namespace", "info"),
        ("cloudinit.too-large", "error"), ("instancetype.conflict", "error"),
        ("cpu.sockets-unused", "warning"),
        ("network.not-found", "error"), ("instancetype.not-found", "error"),
        ("preference.not-found", "error"), ("datasource.not-found", "error"),
        ("datasource.not-ready", "warning"),
    ],
)  # fmt: skip
def test_the_public_codes_keep_their_severities(code: str, severity: str) -> None:
    assert CODES[code].value == severity


def test_an_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"unknown finding code 'disk\.typo'"):
        Finding("disk.typo", "x")


@pytest.mark.parametrize(
    "files",
    [
        # Read-only everywhere: sharing is allowed.
        {
            "vms/one.yaml": spec_file("one", "vms", {"name": "iso", "existingPVC": {
                "name": "iso", "readOnly": True}}),
            "vms/two.yaml": spec_file("two", "vms", {"name": "iso", "existingPVC": {
                "name": "iso", "readOnly": True}}),
        },
        # A CD-ROM is read-only: one ISO library PVC serves many VMs.
        {
            "vms/one.yaml": spec_file("one", "vms", {"name": "iso", "device": "cdrom",
                                                     "existingPVC": {"name": "isos"}}),
            "vms/two.yaml": spec_file("two", "vms", {"name": "iso", "device": "cdrom",
                                                     "existingPVC": {"name": "isos"}}),
        },
        # The same PVC name in two namespaces is two PVCs.
        {
            "a.yaml": spec_file("one", "team-a", {"name": "data", "existingPVC": {"name": "d"}}),
            "b.yaml": spec_file("two", "team-b", {"name": "data", "existingPVC": {"name": "d"}}),
        },
        # A clone copies the PVC; it does not mount it.
        {
            "a.yaml": spec_file("one", "vms", {"name": "data", "existingPVC": {"name": "d"}}),
            "b.yaml": spec_file("two", "vms", {"name": "data", "existingPVC": {
                "name": "d", "clone": True}}),
        },
        # The same VM name in two namespaces is two VMs; a-b-c in two namespaces is two PVCs.
        {
            "a.yaml": spec_file("a-b", "team-a", {"name": "c", "size": "1Gi"}),
            "b.yaml": spec_file("a-b", "team-b", {"name": "c", "size": "1Gi"}),
            "c.yaml": spec_file("a", "team-b-c", {"name": "b-c", "size": "1Gi"}),
        },
        # A clone in its own namespace needs no cross-namespace permission; its size is allowed.
        {"a.yaml": spec_file("one", "vms", {"name": "system", "size": "40Gi", "existingPVC": {
            "name": "golden", "namespace": "vms", "clone": True}})},
        # A name of exactly 63 characters is fine.
        {"a.yaml": spec_file("a" * 56, "vms", {"name": "system", "size": "1Gi", "image": IMAGE})},
        # Images from all three schemes; boot: false on system with another boot disk.
        {"a.yaml": spec_file("one", "vms",
                             {"name": "system", "size": "1Gi", "image": IMAGE, "boot": False},
                             {"name": "os", "size": "1Gi", "image": "https://x/os.img",
                              "boot": True},
                             {"name": "iso", "size": "1Gi", "image": "http://x/i.iso"})},
    ],
)  # fmt: skip
def test_what_is_allowed_is_not_reported(files: dict[str, str]) -> None:
    assert [f for f in offline_findings(files) if f.code != "vm.empty"] == []


def test_a_vm_defined_twice_is_one_finding_not_one_per_disk() -> None:
    disk = {"name": "system", "size": "1Gi", "image": IMAGE}
    files = {"a.yaml": spec_file("web", None, disk), "b.yaml": spec_file("web", "default", disk)}
    assert [(f.code, f.file, f.object) for f in offline_findings(files)] == [
        ("spec.duplicate-vm", "b.yaml", "default/web")
    ]


def test_a_spec_with_errors_is_not_planned_so_repo_checks_ignore_it() -> None:
    files = {
        "a.yaml": spec_file("a-b", "vms", {"name": "c"}),  # size missing: not planned
        "b.yaml": spec_file("a", "vms", {"name": "b-c", "size": "1Gi"}),
    }
    assert [f.code for f in offline_findings(files)] == ["disk.size-required", "vm.empty"]


@pytest.mark.parametrize(
    ("example", "codes"),
    [
        ("empty-vm.yaml", ["vm.empty"]),
        ("hybrid-vm.yaml", []),
        ("iso-install-vm.yaml", []),
        ("restored-vm.yaml", ["clone.cross-namespace"]),
        ("vm-from-pvc.yaml", []),
    ],
)
def test_the_seed_examples_are_clean_apart_from_their_info(example: str, codes: list[str]) -> None:
    path = EXAMPLES / "specs" / example
    found = offline_findings({f"examples/specs/{example}": path.read_text()})
    assert [f.code for f in found] == codes
    assert not has_errors(found)


def test_two_disks_named_system_are_a_duplicate_name_not_two_boot_disks() -> None:
    disk = {"name": "system", "size": "1Gi", "image": IMAGE}
    found = offline_findings({"a.yaml": spec_file("web", "vms", disk, disk)})
    assert [(f.code, f.line) for f in found] == [("disk.duplicate-name", 9)]


def test_boot_multiple_points_at_the_second_disk_that_sets_boot_true() -> None:
    disk = {"name": "os", "size": "1Gi", "image": IMAGE, "boot": True}
    found = offline_findings({"a.yaml": spec_file("web", "vms", disk, disk)})
    assert [(f.code, f.line) for f in found] == [
        ("boot.multiple", 9),
        ("disk.duplicate-name", 9),
    ]
    assert "boot: true on os, os" in found[0].message


def test_storage_settings_on_an_attached_pvc_are_refused_not_ignored() -> None:
    disk = {"name": "data", "existingPVC": {"name": "d"}, "storageClass": "fast"}
    [finding] = _without(
        offline_findings({"a.yaml": spec_file("web", "vms", disk)}), "spec.invalid"
    )
    assert (finding.code, finding.line) == ("spec.invalid", 8)
    assert "whose storageClass are its own; remove them" in finding.message
    cloned = {**disk, "existingPVC": {"name": "d", "clone": True}}
    assert (
        _without(offline_findings({"a.yaml": spec_file("web", "vms", cloned)}), "spec.invalid")
        == []
    )


def test_labels_wukong_sets_itself_are_refused() -> None:
    text = spec_file("web", "vms").replace(
        "metadata: {name: web, namespace: vms}",
        "metadata: {name: web, namespace: vms, labels: {app.kubernetes.io/name: other}}",
    )
    [finding] = _without(offline_findings({"a.yaml": text}), "spec.invalid")
    assert finding.code == "spec.invalid"
    assert finding.message.startswith("metadata.labels: app.kubernetes.io/name is set by Wukong")


# -- boot order: what KubeVirt boots, and whether anything holds an operating system -----------

SCRATCH = {"name": "scratch", "size": "1Gi"}
ROOT = {"name": "root", "size": "20Gi", "image": IMAGE}
ISO = {"name": "installer", "device": "cdrom", "existingPVC": {"name": "isos"}}
DATA = {"name": "data", "existingPVC": {"name": "d"}}
RESTORED = {"name": "restored", "existingPVC": {"name": "b", "namespace": "backups"}}


@pytest.mark.parametrize(
    ("disks", "code", "says"),
    [
        # Nothing marked, the first disk brings an OS: KubeVirt boots it. Not empty, no warning.
        ([ROOT, SCRATCH], None, ()),
        ([ISO, SCRATCH], None, ()),
        # Nothing marked, the first disk brings none while a later one does.
        ([SCRATCH, ROOT], "boot.missing", ("first 'scratch', which is blank", "mark 'root'")),
        ([SCRATCH, ISO], "boot.missing", ("before 'installer', a CD-ROM", "mark 'installer'")),
        ([SCRATCH, RESTORED], "boot.missing",
         ("before 'restored', a clone of PVC backups/b", "mark 'restored' boot: true")),
        ([DATA, ROOT], "boot.missing", ("first 'data', which attaches PVC 'd'", "mark 'root'")),
        # Marked disks are the only ones KubeVirt tries.
        ([SCRATCH, {**ROOT, "boot": True}], None, ()),
        ([SCRATCH, {**ROOT, "bootOrder": 4}], None, ()),
        ([{**SCRATCH, "bootOrder": 1}, {**ISO, "bootOrder": 2}], None, ()),  # an ISO install
        ([{**DATA, "name": "system"}], None, ()),  # an attached system disk: the spec's word
        ([{**DATA, "boot": True}], None, ()),
        # Disks with a bootOrder are the only ones KubeVirt tries: an OS disk without one is
        # never booted (not an empty VM: it has an OS, on a disk that is not tried).
        ([ROOT, {**SCRATCH, "bootOrder": 2}], "boot.missing",
         ("boots only from the disks with a bootOrder: 'scratch' (bootOrder 2)",
          "'root', which imports", "give 'root' a bootOrder")),
        ([{**SCRATCH, "name": "system"}, ROOT], "boot.missing",
         ("'system' (bootOrder 1)", "give 'root' a bootOrder")),
        ([{**SCRATCH, "boot": True}, ISO], "boot.missing",
         ("KubeVirt never tries it", "give 'installer' a bootOrder")),
        # Empty VMs: no disk brings an OS.
        ([], "vm.empty", ("VM vms/web has no boot disk", "boot: true", "name it system")),
        ([SCRATCH], "vm.empty", ("starts without one", "mark a disk boot: true")),
        ([{**SCRATCH, "bootOrder": 1}, {**SCRATCH, "name": "data"}], "vm.empty", ()),
        ([DATA, SCRATCH], "vm.empty",
         ("unless PVC vms/d of disk 'data' holds one", "mark that disk boot: true")),
    ],
)  # fmt: skip
def test_boot_missing_and_empty_say_what_kubevirt_will_boot(
    disks: list[dict], code: str | None, says: tuple[str, ...]
) -> None:
    text = spec_file("web", "vms", *disks)  # disk i on line 8 + i
    found = offline_findings({"vms/web.yaml": text})
    found = [f for f in found if f.code != "clone.cross-namespace"]
    assert [f.code for f in found] == ([code] if code else [])
    for fragment in says:
        assert fragment in found[0].message
    if code == "boot.missing":  # it points at the disk to mark, which it names
        to_mark = found[0].message.split("mark '" if "mark '" in found[0].message else "give '")
        to_mark = to_mark[1].split("'")[0]
        assert found[0].line == 8 + [d["name"] for d in disks].index(to_mark)


@pytest.mark.parametrize(
    ("disks", "code", "says"),
    [
        (
            """
            - name: os
              size: 1Gi
              image: docker://quay.io/os:1
              boot: true
            - name: iso
              device: cdrom
              existingPVC: {name: isos}
              bootOrder: 1  # <-
            """,
            "boot.multiple",
            ("VM vms/web has bootOrder 1 on os (boot: true), iso (bootOrder: 1)",
             "give each disk its own bootOrder (boot: true is bootOrder 1)"),
        ),
        (
            """
            - name: a
              size: 1Gi
              bootOrder: 2
            - name: b
              size: 1Gi
              image: docker://quay.io/os:1
              bootOrder: 2  # <-
            """,
            "boot.multiple",
            ("has bootOrder 2 on a (bootOrder: 2), b (bootOrder: 2)",),
        ),
        (
            """
            - name: a
              size: 1Gi
              image: docker://quay.io/os:1
              boot: true
            - name: b
              size: 1Gi
              image: docker://quay.io/os:1
              boot: true  # <-
            """,
            "boot.multiple",
            ("VM vms/web has boot: true on a, b; keep one",),
        ),
        (
            """
            - name: a
              size: 1Gi
              image: docker://quay.io/os:1
              boot: true
              bootOrder: 2  # <-
            """,
            "spec.invalid",
            ("disk 'a' of VM vms/web sets boot: true (bootOrder 1) and bootOrder 2",
             "keep bootOrder alone"),
        ),
        (
            """
            - name: a
              size: 1Gi
              image: docker://quay.io/os:1
              boot: false
              bootOrder: 1  # <-
            """,
            "spec.invalid",
            ("sets boot: false and bootOrder 1",),
        ),
        (
            """
            - name: a
              size: 1Gi
            - name: a  # <-
              size: 2Gi
            """,
            "disk.duplicate-name",
            ("disk 'a' of VM vms/web", "rename one"),
        ),
        (
            """
            - name: system
              image: docker://quay.io/os:1
              size: 1Gi
              existingPVC: {name: os}  # <-
            """,
            "disk.conflicting-source",
            ("both image and existingPVC",),
        ),
        (
            """
            - name: system
              existingPVC: {name: os}
              volumeMode: Block  # <-
              storageClass: fast
            """,
            "spec.invalid",
            ("whose storageClass, volumeMode are its own",),
        ),
        (
            """
            - &iso
              name: iso
              device: cdrom
              bus: virtio  # <-
              existingPVC: {name: isos}
            - <<: *iso
              name: iso2
            """,
            "disk.cdrom-invalid",
            ("disk 'iso' of VM vms/web is a CD-ROM on the virtio bus",),
        ),
    ],
)  # fmt: skip
def test_each_disk_finding_points_at_the_field_that_is_wrong(
    disks: str, code: str, says: tuple[str, ...]
) -> None:
    text = block_file(disks)
    found = [f for f in offline_findings({"vms/web.yaml": text}) if f.code != "vm.empty"]
    assert [(f.code, f.line) for f in found][:1] == [(code, marked(text))]
    for fragment in says:
        assert fragment in found[0].message


@pytest.mark.parametrize(
    "disk",
    [
        {"name": "iso", "bus": "scsi", "existingPVC": {"name": "i", "readOnly": True}},
        {"name": "iso", "existingPVC": {"name": "i", "readOnly": True}},  # virtio
        {"name": "data", "bus": "sata", "existingPVC": {"name": "d"}},  # read-write sata
        {"name": "data", "bus": "sata", "existingPVC": {"name": "d", "readOnly": False}},
        {"name": "iso", "device": "cdrom", "existingPVC": {"name": "i", "readOnly": True}},
        {"name": "iso", "device": "cdrom", "bus": "scsi", "existingPVC": {"name": "i"}},
        {"name": "iso", "device": "cdrom", "existingPVC": {"name": "i", "namespace": "lib"}},
        {"name": "iso", "device": "cdrom", "existingPVC": {"name": "i", "clone": True}},
        {"name": "iso", "device": "cdrom", "size": "1Gi", "image": "https://x/i.iso"},
        {"name": "os", "size": "1Gi", "image": IMAGE, "boot": True, "bootOrder": 1},
    ],
)
def test_disks_kubevirt_takes_are_not_reported(disk: dict) -> None:
    found = offline_findings({"a.yaml": spec_file("web", "vms", disk)})
    assert [f for f in found if f.code not in ("vm.empty", "clone.cross-namespace")] == []
