"""The Wukong API (`vm.novasphere.dev/v1alpha1`, kind `Wukong`) as pydantic models.

Strict on purpose: unknown fields, wrong types, bad quantities and bad names are errors, so a
typo in Git never renders silently. Pure data; no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from wukong_core.errors import quoted
from wukong_core.spec.quantity import PATTERN as QUANTITY_PATTERN
from wukong_core.spec.quantity import parse_quantity

API_VERSION = "vm.novasphere.dev/v1alpha1"
KIND = "Wukong"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_LABEL = re.compile(DNS_LABEL)
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL)]


def is_dns_label(text: str) -> bool:
    """A Kubernetes name of a namespace, a label-like name: DNS-1123, at most 63 characters."""
    return len(text) <= 63 and _DNS_LABEL.match(text) is not None


DnsSubdomain = Annotated[str, StringConstraints(max_length=253, pattern=DNS_SUBDOMAIN)]


def _positive_quantity(value: str | int) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError("must be greater than zero")
    return str(value)


Quantity = Annotated[
    str | int,
    Field(json_schema_extra={"pattern": QUANTITY_PATTERN}),
    AfterValidator(_positive_quantity),
]

RunStrategy = Literal["Always", "RerunOnFailure", "Once", "Manual", "Halted"]
AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
VolumeMode = Literal["Filesystem", "Block"]
Bus = Literal["virtio", "sata", "scsi"]
# `.wukong.yaml protectDisks` / `--protect-disks`: how Argo CD may delete a VM that owns disks.
ProtectDisks = Literal["confirm", "never", "off"]
PROTECT_DISKS: tuple[ProtectDisks, ...] = ("confirm", "never", "off")
Device = Literal["disk", "cdrom"]
# QEMU's bootindex is a signed 32-bit integer; KubeVirt passes bootOrder through to it.
MAX_BOOT_ORDER = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExistingPVC(_Strict):
    """An existing PersistentVolumeClaim: attached in its own namespace, cloned otherwise."""

    name: DnsSubdomain
    namespace: DnsLabel | None = Field(
        default=None, description="Default: the VM's namespace. Another namespace means a clone."
    )
    readOnly: bool | None = Field(
        default=None,
        description="Mount it read-only. Default: false for a disk; a CD-ROM is always read-only.",
    )
    clone: bool = Field(
        default=False, description="Copy into a new PVC even in the same namespace."
    )


class Disk(_Strict):
    name: DnsLabel
    size: Quantity | None = Field(
        default=None, description="Required for image and blank disks; optional for clones."
    )
    image: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="docker://… (registry import) or http(s)://… (HTTP import)."
    )
    existingPVC: ExistingPVC | None = None
    storageClass: DnsSubdomain | None = None
    accessMode: AccessMode | None = Field(
        default=None, description="Unset: the CDI StorageProfile decides."
    )
    volumeMode: VolumeMode | None = None
    device: Device = Field(
        default="disk", description="disk, or cdrom: read-only, from an image or existingPVC."
    )
    bus: Bus | None = Field(
        default=None, description="Default: virtio for a disk, sata for a CD-ROM (sata or scsi)."
    )
    boot: bool | None = Field(
        default=None,
        description="The boot disk (bootOrder 1); default: the disk named `system` when no disk "
        "sets boot or bootOrder.",
    )
    bootOrder: Annotated[int, Field(ge=1, le=MAX_BOOT_ORDER)] | None = Field(
        default=None,
        description="Boot sequence, lowest first; once a disk has one, KubeVirt tries no disk "
        "without one.",
    )


_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_ANNOTATIONS_MAX_BYTES = 256 * 1024  # the API server's limit on all annotations together


def _check_key(key: str, what: str) -> None:
    """A Kubernetes qualified name: [DNS-subdomain prefix "/"] name of at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    valid = 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
    if prefix or "/" in key:
        valid = valid and len(prefix) <= 253 and re.fullmatch(DNS_SUBDOMAIN, prefix) is not None
    if not valid:
        raise ValueError(
            f"{what} key {quoted(key)} is not a valid Kubernetes key: an optional DNS prefix and "
            "'/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
            "letter or digit"
        )


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        _check_key(key, "label")
        if len(text) > 63 or not _LABEL_NAME.fullmatch(text):
            raise ValueError(
                f"label {quoted(key)} has value {quoted(text)}: a label value is at most 63 "
                "letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
    return value


def _annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        _check_key(key, "annotation")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > _ANNOTATIONS_MAX_BYTES:
        raise ValueError(f"annotations total {size} bytes; Kubernetes allows 256 KiB")
    return value


class Metadata(_Strict):
    name: DnsLabel
    namespace: DnsLabel | None = None
    labels: Annotated[dict[str, str], AfterValidator(_labels)] = Field(default_factory=dict)
    annotations: Annotated[dict[str, str], AfterValidator(_annotations)] = Field(
        default_factory=dict
    )


class WukongSpec(_Strict):
    cpu: Annotated[int, Field(ge=1, description="Cores.")]
    memory: Quantity
    runStrategy: RunStrategy = "Always"
    disks: list[Disk] = Field(default_factory=list)


class Wukong(_Strict):
    apiVersion: Literal["vm.novasphere.dev/v1alpha1"]
    kind: Literal["Wukong"]
    metadata: Metadata
    spec: WukongSpec
