"""Spec -> VmPlan: what each disk becomes. Pure; no I/O.

A plan is also the PreSync Job's input (serialised into a ConfigMap), so it is plain, frozen,
JSON-able data: `plans_to_json` / `plans_from_json` round-trip it exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Annotated, Literal

from pydantic import BeforeValidator

from wukong_core.caches import PassMemo
from wukong_core.spec.models import POD_NETWORK, Device, Disk, Network, ProtectDisks, Wukong

DiskKind = Literal["import", "blank", "attach", "clone", "datasource"]
# Kinds whose content comes from a source that holds an operating system (a golden-image
# DataSource among them); a blank disk holds none, and what an attached PVC holds Wukong cannot
# see: it counts only when the spec marks it to boot.
OS_KINDS: tuple[DiskKind, ...] = ("import", "clone", "datasource")
DEFAULT_BUS: dict[Device, str] = {"disk": "virtio", "cdrom": "sata"}  # no virtio CD-ROM
DEFAULT_NAMESPACE = "default"
MAX_NAME = 63
# The disk and volume that carry cloud-init's NoCloud data. Disk names are DNS labels, so no
# name is out of a user's reach: a user disk of this name, beside cloudInit, is an error.
CLOUD_INIT_DISK = "cloudinitdisk"
# The fields of a disk that findings point at. A plan keeps their lines (where they differ from
# the disk's own), so the PreSync Job's findings point at the same lines as the CLI's.
LINED_FIELDS = (
    "name",
    "size",
    "image",
    "storageClass",
    "accessMode",
    "volumeMode",
    "existingPVC.name",
    "existingPVC.namespace",
    "existingPVC.readOnly",
    "dataSource.name",
    "dataSource.namespace",
)
# The spec fields beside the disks that findings about the cluster point at.
VM_LINED_FIELDS = ("firmware", "tpm", "persistentState")
SOURCE_FIELDS = {"attach": "existingPVC.name", "clone": "existingPVC.name", "import": "image"}
SOURCE_FIELDS["datasource"] = "dataSource.name"


def _field_lines(value: object) -> object:
    """A plan file writes a disk's field lines as {field: line}; the plan holds sorted pairs."""
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


FieldLines = Annotated[tuple[tuple[str, int], ...], BeforeValidator(_field_lines)]


def _line_of(fields: FieldLines, field: str, default: int) -> int:
    """The line `fields` (a plan's (field, line) pairs) gives `field`, else `default`."""
    return next((line for name, line in fields if name == field), default)


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of `n` (≥ 1) no greater than `at_most`: how many sockets (or cores
    per socket) lay `n` vCPUs out evenly."""
    return next(d for d in range(min(at_most, n), 0, -1) if n % d == 0)


@dataclass(frozen=True, slots=True)
class DiskPlan:
    name: str  # the VM disk and volume name (= the Wukong disk name)
    kind: DiskKind
    line: int  # line of this disk in its spec file
    device: Device = "disk"  # KubeVirt's disk target: `disk` or `cdrom`
    bus: str = "virtio"
    boot_order: int = 0  # KubeVirt's bootOrder; 0: none, so not tried once another disk has one
    # New storage (import, blank, clone): the DataVolume template `<vm>-<disk>`.
    dv_name: str = ""
    size: str | None = None
    storage_class: str | None = None
    access_mode: str | None = None
    volume_mode: str | None = None
    image: str | None = None  # import: the URL as written
    # Existing PVC (attach, clone), or the DataSource (datasource): where it lives.
    pvc_name: str = ""
    pvc_namespace: str = ""
    read_only: bool = False  # the VM mounts it read-only (a CD-ROM always does)
    fields: FieldLines = ()  # (field, line) of LINED_FIELDS written off the disk's line, sorted

    def field_line(self, field: str) -> int:
        """The line of one of the disk's LINED_FIELDS, else of the disk."""
        return _line_of(self.fields, field, self.line)

    @property
    def source_line(self) -> int:
        """The line of the field that names what the disk is made from (its PVC, image or
        DataSource), where findings about that source point; a blank disk's own line."""
        return self.field_line(SOURCE_FIELDS.get(self.kind, "name"))

    @property
    def os_source(self) -> bool:
        """Brings an operating system: a CD-ROM, an import, a clone, or an attached PVC that
        the spec marks to boot (the spec's word for what it holds)."""
        if self.device == "cdrom" or self.kind in OS_KINDS:
            return True
        return self.kind == "attach" and self.boot_order > 0

    @property
    def new_storage(self) -> bool:
        """Made as a DataVolume template `<vm>-<disk>`: everything but an attached PVC."""
        return self.kind != "attach"

    @property
    def claim_name(self) -> str:
        """The PVC the running VM mounts: the source PVC when attached, else the new one."""
        return self.pvc_name if self.kind == "attach" else self.dv_name

    @property
    def image_source(self) -> Literal["registry", "http"] | None:
        if self.image is None:
            return None
        return "registry" if self.image.startswith("docker://") else "http"


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """One network and its interface, both named `name`."""

    name: str
    network: str  # "pod", or the Multus NetworkAttachmentDefinition as written: [ns/]name
    binding: str  # masquerade | bridge
    line: int  # line of its `network` field
    nad_namespace: str = ""  # Multus: where the NetworkAttachmentDefinition lives

    @property
    def pod(self) -> bool:
        return self.network == POD_NETWORK

    @property
    def nad_name(self) -> str:
        return self.network.rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class RefPlan:
    """An instancetype or preference: kind, name and the line of its name."""

    kind: str
    name: str
    line: int

    @property
    def cluster_scoped(self) -> bool:
        return self.kind.startswith("VirtualMachineCluster")


@dataclass(frozen=True, slots=True)
class CloudInitPlan:
    """cloud-init NoCloud data, inline or the names of Secrets of the VM's namespace."""

    user_data: str | None = None
    user_data_secret: str | None = None
    network_data: str | None = None
    network_data_secret: str | None = None


@dataclass(frozen=True, slots=True)
class VmPlan:
    namespace: str
    name: str
    file: str  # spec path as the caller names it (repo-relative in Git)
    line: int  # line of the document's start
    cpu: int  # 0 and "": sized by the instancetype
    memory: str
    run_strategy: str
    disks: tuple[DiskPlan, ...]
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    protect_disks: ProtectDisks = "confirm"
    instancetype: RefPlan | None = None
    preference: RefPlan | None = None
    firmware: str | None = None  # bios | efi | efi-secure; None: KubeVirt's or the preference's
    tpm: bool = False  # False: KubeVirt's or the preference's
    persistent_state: bool = False  # the TPM's state and UEFI variables kept across restarts
    cores_per_socket: int = 1  # cpu makes cpu / cores_per_socket sockets
    fields: FieldLines = ()  # (field, line) of VM_LINED_FIELDS the spec writes, sorted
    cloud_init: CloudInitPlan | None = None
    ssh_key_secret: str | None = None
    networks: tuple[NetworkPlan, ...] | None = None  # None: KubeVirt's default; (): no NIC

    def __hash__(self) -> int:
        # Plans key the memos of every render (caches). Equal plans hash equal on these fields
        # alone, whose strings cache their hashes; hashing every disk again on each lookup
        # was a tenth of a warm 10,000-spec render.
        return hash((self.namespace, self.name, self.file, self.line))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def topology(self) -> dict[str, int]:
        """`cpu` vCPUs as sockets of `cores_per_socket` cores, one thread each: sockets are
        what KubeVirt gives a VM that names no topology (SetDefaultGuestCPUTopology), what CPU
        hotplug changes live, and what a preference counts by default when it checks its
        required vCPUs. All three are written: one left out counts 0 in those checks
        (CheckPreferenceRequirements)."""
        per_socket = self.cores_per_socket
        return {"sockets": self.cpu // per_socket, "cores": per_socket, "threads": 1}

    def field_line(self, field: str) -> int:
        """The line of one of the VM_LINED_FIELDS, else of the document."""
        return _line_of(self.fields, field, self.line)

    @property
    def boot_sequence(self) -> tuple[DiskPlan, ...]:
        """The disks KubeVirt tries to boot, in turn: those with a bootOrder, lowest first;
        when none has one, every disk in the order listed."""
        ordered = sorted((d for d in self.disks if d.boot_order), key=attrgetter("boot_order"))
        return tuple(ordered) or self.disks

    @property
    def empty(self) -> bool:
        """No disk KubeVirt tries to boot brings an operating system."""
        return not any(d.os_source for d in self.boot_sequence)


def boot_orders(disks: list[Disk]) -> list[int]:
    """Each disk's bootOrder (0: none): its own, 1 for `boot: true`; when no disk sets either,
    1 for the disk named system (unless it says `boot: false`)."""
    orders = [d.bootOrder or (1 if d.boot else 0) for d in disks]
    if any(orders):
        return orders
    return [1 if d.name == "system" and d.boot is None else 0 for d in disks]


def plan_disk(
    disk: Disk,
    vm: str,
    namespace: str,
    boot_order: int,
    line: int,
    field_lines: Mapping[str, int] | None = None,
) -> DiskPlan:
    """One disk; the spec checks have passed (one source, a size where one is needed).
    `field_lines`: where the disk's fields are written (`LoadedSpec.disk_fields`)."""
    cdrom = disk.device == "cdrom"
    lines = field_lines or {}
    common = {
        "name": disk.name,
        "line": line,
        "fields": tuple((f, lines[f]) for f in sorted(LINED_FIELDS) if lines.get(f, line) != line),
        "device": disk.device,
        "bus": disk.bus or DEFAULT_BUS[disk.device],
        "boot_order": boot_order,
        "dv_name": f"{vm}-{disk.name}",
        "size": None if disk.size is None else str(disk.size),
        "storage_class": disk.storageClass,
        "access_mode": disk.accessMode,
        "volume_mode": disk.volumeMode,
    }
    pvc = disk.existingPVC
    if pvc is not None:
        source_ns = pvc.namespace or namespace
        kind: DiskKind = "clone" if (pvc.clone or source_ns != namespace) else "attach"
        if kind == "attach":
            common.update(dv_name="", size=None)
        read_only = cdrom or bool(pvc.readOnly)
        return DiskPlan(
            kind=kind, pvc_name=pvc.name, pvc_namespace=source_ns, read_only=read_only, **common
        )
    if disk.image is not None:
        return DiskPlan(kind="import", image=disk.image, read_only=cdrom, **common)
    if disk.dataSource is not None:
        source = disk.dataSource
        return DiskPlan(
            kind="datasource",
            pvc_name=source.name,
            pvc_namespace=source.namespace or namespace,
            read_only=cdrom,
            **common,
        )
    return DiskPlan(kind="blank", **common)


def plan_network(network: Network, namespace: str, line: int) -> NetworkPlan:
    if network.network == POD_NETWORK:
        return NetworkPlan(network.name, POD_NETWORK, network.binding or "masquerade", line)
    nad_namespace = network.network.rpartition("/")[0] or namespace
    binding = network.binding or "bridge"
    return NetworkPlan(network.name, network.network, binding, line, nad_namespace)


def plan_vm(
    spec: Wukong,
    file: str,
    line: int,
    disk_lines: Sequence[int],
    default_namespace: str = DEFAULT_NAMESPACE,
    protect_disks: ProtectDisks = "confirm",
    spec_lines: Mapping[str, int] | None = None,
    disk_fields: Sequence[Mapping[str, int]] = (),
) -> VmPlan:
    """Plan one VM. The spec must have passed the spec checks (one source per disk, one boot).
    `spec_lines`: the lines of spec fields (`LoadedSpec.spec_fields`), else the document's;
    `disk_fields`: each disk's (`LoadedSpec.disk_fields`), else the disk's."""
    meta, body = spec.metadata, spec.spec
    namespace = meta.namespace or default_namespace or DEFAULT_NAMESPACE
    lines = spec_lines or {}
    orders = boot_orders(body.disks)
    disks = tuple(
        plan_disk(
            d,
            meta.name,
            namespace,
            orders[i],
            disk_lines[i],
            disk_fields[i] if disk_fields else None,
        )
        for i, d in enumerate(body.disks)
    )
    networks = None
    if body.networks is not None:
        networks = tuple(
            plan_network(n, namespace, lines.get(f"networks.{i}.network", line))
            for i, n in enumerate(body.networks)
        )
    refs = {
        field: RefPlan(ref.kind, ref.name, lines.get(f"{field}.name", line))
        for field, ref in (("instancetype", body.instancetype), ("preference", body.preference))
        if ref is not None
    }
    cloud = body.cloudInit
    return VmPlan(
        namespace=namespace,
        name=meta.name,
        file=file,
        line=line,
        cpu=body.cpu or 0,
        memory="" if body.memory is None else str(body.memory),
        run_strategy=body.runStrategy,
        disks=disks,
        labels=tuple(sorted(meta.labels.items())),
        annotations=tuple(sorted(meta.annotations.items())),
        protect_disks=protect_disks,
        firmware=body.firmware,
        tpm=body.tpm,
        persistent_state=body.persistentState,
        cores_per_socket=body.coresPerSocket or 1,
        fields=tuple(sorted((f, lines[f]) for f in VM_LINED_FIELDS if f in lines)),
        cloud_init=None
        if cloud is None
        else CloudInitPlan(
            cloud.userData, cloud.userDataSecret, cloud.networkData, cloud.networkDataSecret
        ),
        ssh_key_secret=body.sshKeySecret,
        networks=networks,
        **refs,
    )


class _Compact:
    """A plan -> {field: value} without the fields left at their defaults.

    Shallow on purpose: every field is a str, int, bool, None or a tuple of them (the disks,
    networks and other nested plans are compacted one by one), so `dataclasses.asdict`, a
    recursive deep copy, gave the same JSON at ~15 % of the time of an offline render of 10,000
    specs (bench P2).
    """

    def __init__(self, cls: type) -> None:
        self.defaults = [(f.name, f.default) for f in fields(cls)]
        self.values = attrgetter(*(name for name, _ in self.defaults))

    def __call__(self, plan: object) -> dict[str, object]:
        pairs = zip(self.defaults, self.values(plan), strict=True)
        return {name: value for (name, default), value in pairs if value != default}


_compact_disk = _Compact(DiskPlan)
_compact_vm = _Compact(VmPlan)
_compact_nested = {
    "instancetype": _Compact(RefPlan),
    "preference": _Compact(RefPlan),
    "cloud_init": _Compact(CloudInitPlan),
}
_compact_network = _Compact(NetworkPlan)


def plans_to_json(plans: list[VmPlan], memo: PassMemo[VmPlan, str] | None = None) -> str:
    """One VM per line, default values left out: small enough for a ConfigMap of a large
    namespace, and a Git diff shows which VMs changed."""
    lines = [plan_line(plan, memo) for plan in plans]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def plan_line(plan: VmPlan, memo: PassMemo[VmPlan, str] | None = None) -> str:
    """One VM's line of `plans_to_json`. Remembered (`Caches.plan_lines`): the render stamp of
    the VM's file and the PreSync hook, which measures each line before it writes them all,
    both need it."""
    line = memo.get(plan) if memo is not None else None
    if line is None:
        entry = _compact_vm(plan)
        entry["disks"] = [_compact_disk(d) for d in plan.disks]
        for item in (entry, *entry["disks"]):
            if "fields" in item:  # {field: line}: what a reader expects, and shorter
                item["fields"] = dict(item["fields"])  # type: ignore[call-overload]
        if plan.networks is not None:
            entry["networks"] = [_compact_network(n) for n in plan.networks]
        for name, compact in _compact_nested.items():
            if name in entry:
                entry[name] = compact(entry[name])
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        if memo is not None:
            memo.put(plan, line)
    return line


def plans_from_json(text: str | bytes) -> list[VmPlan]:
    """Read plans written by `plans_to_json`; ValueError when the document is not one."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(list[VmPlan]).validate_json(text)
    except ValidationError as e:
        raise ValueError(f"not a Wukong validation plan: {e.errors()[0]['msg']}") from e
