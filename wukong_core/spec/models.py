"""The Wukong API (`vm.novasphere.dev/v1alpha1`, kind `Wukong`) as pydantic models.

Strict on purpose: unknown fields, wrong types, bad quantities and bad names are errors, so a
typo in Git never renders silently. Pure data; no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from wukong_core.errors import quoted
from wukong_core.names import DNS_LABEL, DNS_SUBDOMAIN
from wukong_core.spec.quantity import PATTERN as QUANTITY_PATTERN
from wukong_core.spec.quantity import parse_quantity

API_VERSION = "vm.novasphere.dev/v1alpha1"
KIND = "Wukong"

DnsLabel = Annotated[str, StringConstraints(max_length=63, pattern=DNS_LABEL)]
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
Firmware = Literal["bios", "efi", "efi-secure"]
Binding = Literal["masquerade", "bridge"]
InstancetypeKind = Literal["VirtualMachineClusterInstancetype", "VirtualMachineInstancetype"]
PreferenceKind = Literal["VirtualMachineClusterPreference", "VirtualMachinePreference"]
POD_NETWORK = "pod"
# KubeVirt's admission refuses inline cloud-init user or network data over 2048 bytes (UTF-8
# bytes, Go's len): larger data belongs in a Secret (vmi-create-admitter.go, cloudInit*MaxLen).
CLOUD_INIT_INLINE_MAX = 2048
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


class DataSourceRef(_Strict):
    """A CDI DataSource (a golden image, usually kept fresh by a DataImportCron)."""

    name: DnsSubdomain
    namespace: DnsLabel | None = Field(
        default=None, description="Default: the VM's namespace. Another namespace means a clone."
    )


class Disk(_Strict):
    name: DnsLabel
    size: Quantity | None = Field(
        default=None,
        description="Required for image and blank disks; optional for clones and DataSources.",
    )
    image: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="docker://… (registry import) or http(s)://… (HTTP import)."
    )
    existingPVC: ExistingPVC | None = None
    dataSource: DataSourceRef | None = Field(
        default=None,
        description="A golden image: a new disk cloned from this CDI DataSource.",
    )
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


class Instancetype(_Strict):
    name: DnsSubdomain
    kind: InstancetypeKind = "VirtualMachineClusterInstancetype"


class Preference(_Strict):
    name: DnsSubdomain
    kind: PreferenceKind = "VirtualMachineClusterPreference"


class CloudInit(_Strict):
    """cloud-init NoCloud data: inline (2048 bytes at most), or a Secret of the VM's namespace."""

    userData: str | None = None
    userDataSecret: DnsSubdomain | None = Field(
        default=None, description="A Secret holding the user data under key userdata (or userData)."
    )
    networkData: str | None = None
    networkDataSecret: DnsSubdomain | None = Field(
        default=None,
        description="A Secret holding the network data under key networkdata (or networkData).",
    )


# A Multus network: [namespace/]name. The schemas say it with plain groups (editors read
# ECMAScript, the API server RE2); the lengths are checked here.
_NAD_PATTERN = f"({DNS_LABEL[1:-1]}/)?{DNS_SUBDOMAIN[1:-1]}"
NETWORK_PATTERN = f"^({POD_NETWORK}|{_NAD_PATTERN})$"


def _network_source(value: str) -> str:
    namespace, _, name = value.rpartition("/")
    if not re.fullmatch(NETWORK_PATTERN, value) or len(namespace) > 63 or len(name) > 253:
        raise ValueError(
            f"network {quoted(value)} is neither pod nor a Multus NetworkAttachmentDefinition "
            "name (name or namespace/name, lowercase letters, digits, '-' and '.')"
        )
    return value


class Network(_Strict):
    name: DnsLabel
    network: Annotated[str, AfterValidator(_network_source)] = Field(
        description="pod, or a Multus NetworkAttachmentDefinition: name (in the VM's namespace) "
        "or namespace/name.",
        json_schema_extra={"pattern": NETWORK_PATTERN},
    )
    binding: Binding | None = Field(
        default=None, description="Default: masquerade on the pod network, bridge on Multus."
    )


def _missing(loc: str) -> InitErrorDetails:
    return InitErrorDetails(type="missing", loc=(loc,), input=None)


class WukongSpec(_Strict):
    cpu: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="vCPUs, as sockets of coresPerSocket cores; required without an "
        "instancetype, refused with one.",
    )
    coresPerSocket: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Cores per socket; cpu must be a multiple. Default 1: one socket per vCPU, "
        "KubeVirt's own topology, which CPU hotplug grows live. For guests that use only a few "
        "sockets (Windows 10/11: 2) or a preference that counts cores.",
    )
    memory: Quantity | None = Field(
        default=None, description="Required without an instancetype, refused with one."
    )
    runStrategy: RunStrategy = "Always"
    instancetype: Instancetype | None = Field(
        default=None, description="Size the VM by a KubeVirt instancetype (then no cpu, memory)."
    )
    preference: Preference | None = None
    firmware: Firmware | None = Field(
        default=None,
        description="bios, efi (Secure Boot off) or efi-secure (Secure Boot, with SMM). "
        "Unset: KubeVirt's default (BIOS) or the preference's.",
    )
    tpm: bool = Field(
        default=False,
        description="A virtual TPM (the Windows 11 installer needs one). Unset: none, or the "
        "preference's.",
    )
    persistentState: bool = Field(
        default=False,
        description="Keep the TPM's state and the UEFI variables across restarts (BitLocker "
        "needs both): KubeVirt's backend storage, which needs its VMPersistentState feature "
        "gate. Needs tpm or firmware efi/efi-secure.",
    )
    cloudInit: CloudInit | None = None
    sshKeySecret: DnsSubdomain | None = Field(
        default=None,
        description="A Secret of public SSH keys, propagated through cloud-init (needs cloudInit).",
    )
    networks: list[Network] | None = Field(
        default=None,
        description="Unset: KubeVirt's default network interface. An empty list: none at all.",
    )
    disks: list[Disk] = Field(default_factory=list)

    # In the CRD and the editors' schema: sized by cpu and memory, or by an instancetype.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["cpu", "memory"]}, {"required": ["instancetype"]}]
        }
    )

    @model_validator(mode="wrap")
    @classmethod
    def _sized(cls, data: Any, handler: ModelWrapValidatorHandler[WukongSpec]) -> WukongSpec:
        """Without an instancetype nothing else says how large the VM is: cpu and memory are
        required fields then, reported as missing beside any other problem of the spec."""
        missing = []
        if isinstance(data, dict) and data.get("instancetype") is None:
            missing = [_missing(f) for f in ("cpu", "memory") if data.get(f) is None]
        try:
            spec = handler(data)
        except ValidationError as e:
            if not missing:
                raise
            others = cast(list[InitErrorDetails], e.errors(include_url=False))
            raise ValidationError.from_exception_data(cls.__name__, missing + others) from None
        if missing:
            raise ValidationError.from_exception_data(cls.__name__, missing)
        return spec


class Wukong(_Strict):
    apiVersion: Literal["vm.novasphere.dev/v1alpha1"]
    kind: Literal["Wukong"]
    metadata: Metadata
    spec: WukongSpec
