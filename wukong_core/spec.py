"""The Wukong API (`vm.novasphere.dev/v1alpha1`, kind `Wukong`) as pydantic models.

Strict on purpose: unknown fields, wrong types, bad quantities and bad names are errors, so a
typo in Git never renders silently. Pure data; no I/O.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .quantity import PATTERN as QUANTITY_PATTERN
from .quantity import parse_quantity

API_VERSION = "vm.novasphere.dev/v1alpha1"
KIND = "Wukong"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExistingPVC(_Strict):
    """An existing PersistentVolumeClaim: attached in its own namespace, cloned otherwise."""

    name: DnsSubdomain
    namespace: DnsLabel | None = Field(
        default=None, description="Default: the VM's namespace. Another namespace means a clone."
    )
    readOnly: bool = False
    clone: bool = Field(
        default=False, description="Copy into a new PVC even in the same namespace."
    )


class Disk(_Strict):
    name: DnsLabel
    size: Quantity | None = Field(
        default=None, description="Required for image and blank disks; optional for clones."
    )
    image: str | None = Field(
        default=None, description="docker://… (registry import) or http(s)://… (HTTP import)."
    )
    existingPVC: ExistingPVC | None = None
    storageClass: DnsSubdomain | None = None
    accessMode: AccessMode | None = Field(
        default=None, description="Unset: the CDI StorageProfile decides."
    )
    volumeMode: VolumeMode | None = None
    bus: Bus = "virtio"
    boot: bool | None = Field(
        default=None, description="The boot disk; default: the disk named `system`."
    )


class Metadata(_Strict):
    name: DnsLabel
    namespace: DnsLabel | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


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
