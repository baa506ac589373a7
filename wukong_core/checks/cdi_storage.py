"""How CDI completes and fills a DataVolume's storage: pure rules over raw cluster objects.

Each rule is CDI v1.63's own (the Go functions named are CDI's), so that Wukong reports what
CDI will do instead of what a reader might guess:

- which StorageClass a DataVolume that names none gets, and whether that class's StorageProfile
  can fill the access mode it leaves unset (`storage_class_problems`);
- how far a PVC is from filled (`filling`);
- whether a clone asks for less than its source (`clone_too_small`), in the volume mode CDI gives
  it (`target_volume_mode`) and with the filesystem overhead CDIConfig sets
  (`filesystem_overhead`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wukong_core.objects import Obj, dig, obj_name
from wukong_core.plan import DiskPlan
from wukong_core.spec.quantity import parse_quantity

VIRT_DEFAULT = "storageclass.kubevirt.io/is-default-virt-class"
K8S_DEFAULT = "storageclass.kubernetes.io/is-default-class"
K8S_BETA_DEFAULT = "storageclass.beta.kubernetes.io/is-default-class"
# DataVolume phases that wait for a pod to use the PVC before CDI fills it.
WAITING_PHASES = {"WaitForFirstConsumer", "PendingPopulation"}
# CDI's volume populators: a PVC whose dataSourceRef names one is filled by CDI.
CDI_POPULATORS = {"VolumeImportSource", "VolumeUploadSource", "VolumeCloneSource"}
PROGRESS_ANNOTATION = "cdi.kubevirt.io/storage.populator.progress"
# Set by the scheduler on a WaitForFirstConsumer PVC once a pod that uses it has a node.
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# DataVolume phases of an upload: nothing fills the PVC until someone uploads an image.
UPLOAD_PHASES = {"UploadScheduled", "UploadReady"}
# CDI's DefaultGlobalOverhead: how much it grows a Filesystem PVC's request, unless its CDIConfig
# (cluster-scoped, always named `config`) says otherwise.
FILESYSTEM_OVERHEAD = Decimal("0.06")
CDI_CONFIG = "config"
CONTENT_TYPE = "cdi.kubevirt.io/storage.contentType"
# What CDI's size-detection pod measured on a clone source (CDI's own spelling, "Kubervirt").
VIRTUAL_SIZE = "cdi.Kubervirt.io/virtualSize"
SOURCE_CAPACITY = "cdi.Kubervirt.io/sourceCapacity"


# --- which class, and does its profile complete the claim ---------------------------------------


def default_class(classes: dict[str, Obj]) -> Obj | None:
    """The class CDI gives a DataVolume that names none (getFallbackStorageClass): the
    virtualization default, else the Kubernetes default; of several, the newest, then the
    first by name. CDI reads only the GA default annotation, not the beta one."""
    for annotation in (VIRT_DEFAULT, K8S_DEFAULT):
        marked = [c for c in classes.values() if _annotations(c).get(annotation) == "true"]
        if marked:
            newest = max(str(dig(c, "metadata", "creationTimestamp") or "") for c in marked)
            return min(
                (c for c in marked if str(dig(c, "metadata", "creationTimestamp") or "") == newest),
                key=obj_name,
            )
    return None


def chosen_class(name: str | None, classes: dict[str, Obj]) -> Obj | None:
    """The StorageClass CDI gives a DataVolume whose storage names class `name` (GetStorageClass
    ByName): that class, None when it does not exist (CDI does not fall back then); for none
    named, the default (`default_class`)."""
    return classes.get(name) if name else default_class(classes)


def storage_class_problems(
    disk: DiskPlan, vm: str, classes: dict[str, Obj], profiles: dict[str, Obj] | None
) -> list[tuple[str, str]]:
    """(code, message) for a new disk whose StorageClass CDI cannot use as planned. `profiles`
    is None when they were not read (accessMode set, or not recorded, or unreadable)."""
    chosen = chosen_class(disk.storage_class, classes)
    if chosen is None and disk.storage_class:
        known = ", ".join(sorted(classes)[:10]) or "none"
        return [
            (
                "storageclass.not-found",
                f'disk "{disk.name}" names StorageClass "{disk.storage_class}", which does '
                f"not exist (existing: {known}); correct storageClass or leave it unset",
            )
        ]
    if chosen is None:
        if disk.access_mode and any(
            _annotations(c).get(K8S_BETA_DEFAULT) == "true" for c in classes.values()
        ):
            return []  # Kubernetes' admission gives the PVC its (beta) default class
        return [("storageclass.no-default", _no_default(disk, vm))]
    name = obj_name(chosen)
    which = f'StorageClass "{name}"' if disk.storage_class else f'the default StorageClass "{name}"'
    gap = None if profiles is None or disk.access_mode else _profile_gap(profiles, name, disk)
    if gap is None:
        return []
    # The patch replaces the profile's list: one set of the disk's volumeMode, beside the others.
    mode = disk.volume_mode or "Filesystem"
    fix = (
        f"set accessMode on the disk, or give the StorageProfile claimPropertySets (`kubectl "
        f'patch storageprofile {name} --type merge -p \'{{"spec":{{"claimPropertySets":'
        f'[{{"accessModes":["ReadWriteOnce"],"volumeMode":"{mode}"}}]}}}}\'`'
        + (", listing the sets it has beside it)" if disk.volume_mode else ")")
    )
    return [
        (
            "storageclass.incomplete-profile",
            f'disk "{disk.name}" sets no accessMode, and the StorageProfile of {which} {gap}: '
            f"CDI leaves the DataVolume Pending; {fix}",
        )
    ]


def _no_default(disk: DiskPlan, vm: str) -> str:
    return (
        f'disk "{disk.name}" of VM {vm} names no StorageClass, and the cluster has no default: '
        f'no class is annotated {VIRT_DEFAULT}: "true" (the one CDI prefers) or {K8S_DEFAULT}: '
        '"true", so the PVC would wait forever; set storageClass on the disk, or mark a default '
        "class"
    )


def _profile_gap(profiles: dict[str, Obj], name: str, disk: DiskPlan) -> str | None:
    """Why the StorageProfile cannot fill the access mode (`completed_claim` is None). None when
    it can, or the profile is not there yet (CDI makes one per StorageClass)."""
    profile = profiles.get(name)
    if profile is None or completed_claim(disk, profile) is not None:
        return None
    if disk.volume_mode and dig(profile, "status", "claimPropertySets"):
        return f"has no claimPropertySets with volumeMode {disk.volume_mode}"
    if dig(profile, "status", "claimPropertySets"):
        return "lists no accessModes in its first claimPropertySet"
    return "has no claimPropertySets (CDI knows no access mode for its provisioner)"


def completed_claim(disk: DiskPlan, profile: Obj) -> tuple[str, str] | None:
    """The (access mode, volume mode) CDI v1.63 gives a new disk's PVC from the StorageProfile
    of its class (renderPvcSpecVolumeModeAndAccessModesAndStorageClass, as CDI PR #3709 left it
    in v1.59 and later); None when CDI cannot complete it and the DataVolume stays Pending.
    What the disk sets is kept; of the rest:
    - neither set: the first claimPropertySet's, if it lists an access mode
      (getDefaultVolumeAndAccessMode);
    - a volumeMode only: the access modes of the first set of that volume mode; none is an
      error, not another mode's (getDefaultAccessModes);
    - an accessMode only: the volume mode of the first set listing it, else Kubernetes'
      Filesystem (getDefaultVolumeMode)."""
    sets = [s for s in dig(profile, "status", "claimPropertySets") or [] if isinstance(s, dict)]
    if disk.access_mode:
        listing = [s for s in sets if disk.access_mode in (s.get("accessModes") or [])]
        found = listing[0].get("volumeMode") if listing else None
        return disk.access_mode, disk.volume_mode or found or "Filesystem"
    if disk.volume_mode:
        ours = [s for s in sets if s.get("volumeMode") == disk.volume_mode and s.get("accessModes")]
        return (ours[0]["accessModes"][0], disk.volume_mode) if ours else None
    if sets and sets[0].get("accessModes"):
        return sets[0]["accessModes"][0], sets[0].get("volumeMode") or "Filesystem"
    return None


# --- is a PVC filled ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filling:
    """What CDI is doing with a PVC that is not filled yet."""

    waits: bool  # for a pod to use it (WaitForFirstConsumer) before CDI fills it
    state: str  # "DataVolume vms/x is ImportInProgress, 42.0%", for a message
    upload: bool = False  # it waits for an upload (`virtctl image-upload`), not for CDI

    def done(self, namespace: str, claim: str, then: str) -> str:
        """What has to happen before `then` ("the VM starts"): CDI finishing, or an upload."""
        if not self.upload:
            return f"{then} once it is done"
        return (
            f"nothing fills it until an image is uploaded (`virtctl image-upload pvc {claim} "
            f"-n {namespace} --no-create --image-path=...`); {then} after that"
        )


def filling(
    pvc: Obj | None, dv: Obj | None, namespace: str, binds_on_first_use: bool | None = None
) -> Filling | None:
    """CDI is still filling the PVC (or will, once a pod uses it): `dv`, the DataVolume that
    owns or makes it, has not Succeeded (CDI's IsPopulated), or the PVC is Pending with a
    dataSourceRef to a CDI populator. None when CDI is done with it or never had it.
    `binds_on_first_use`: the PVC's StorageClass is WaitForFirstConsumer; CDI's populators then
    start only once the scheduler has picked a node for a pod that uses it (populator-base
    handleStorageClass waits for the selected-node annotation)."""
    if dv is not None:
        phase = dig(dv, "status", "phase") or ""
        if phase == "Succeeded":
            return None
        progress = dig(dv, "status", "progress")
        shown = f", {progress}" if progress and progress != "N/A" else ""
        state = f"DataVolume {namespace}/{obj_name(dv)} is {phase or 'not started'}{shown}"
        return Filling(phase in WAITING_PHASES, state, phase in UPLOAD_PHASES)
    source = dig(pvc or {}, "spec", "dataSourceRef") or {}
    if (
        pvc is not None
        and dig(pvc, "status", "phase") == "Pending"
        and source.get("apiGroup") == "cdi.kubevirt.io"
        and source.get("kind") in CDI_POPULATORS
    ):
        progress = _annotations(pvc).get(PROGRESS_ANNOTATION)
        shown = f" ({progress})" if progress else ""
        waits = bool(binds_on_first_use) and not _annotations(pvc).get(SELECTED_NODE)
        state = f"CDI fills it from {source['kind']} {source.get('name')}{shown}"
        return Filling(waits, state, source["kind"] == "VolumeUploadSource")
    return None


# --- clones -------------------------------------------------------------------------------------


def target_volume_mode(
    disk: DiskPlan, classes: dict[str, Obj], profiles: dict[str, Obj] | None
) -> str | None:
    """The volume mode CDI gives a new disk's PVC (renderPvcSpecVolumeModeAndAccessModesAndStorage
    Class): the disk's own; with an accessMode and no volumeMode, that of the first
    claimPropertySet listing the access mode, else Kubernetes' Filesystem (getDefaultVolumeMode);
    with neither, the first set's
    (getDefaultVolumeAndAccessMode): `completed_claim`. None when that is unknown: the profiles
    were not read, or the class or its profile is not there."""
    if disk.volume_mode:
        return disk.volume_mode
    chosen = chosen_class(disk.storage_class, classes)
    profile = (profiles or {}).get(obj_name(chosen or {}))
    if profile is None:
        return None
    completed = completed_claim(disk, profile)
    return completed[1] if completed else None  # storageclass.incomplete-profile says why


def filesystem_overhead(
    configs: dict[str, Obj] | None, classes: dict[str, Obj], disk: DiskPlan
) -> tuple[Decimal, str]:
    """How much CDI grows a Filesystem PVC of the disk's class, and whose figure that is
    (GetFilesystemOverheadForStorageClass): CDIConfig's status, per class, else its global one;
    CDI's default where no CDIConfig was read (an older snapshot)."""
    config = (configs or {}).get(CDI_CONFIG)
    overhead = dig(config or {}, "status", "filesystemOverhead") or {}
    # For a class that does not exist CDI takes the default's figure (it falls back there).
    chosen = chosen_class(disk.storage_class, classes) or default_class(classes)
    name = obj_name(chosen or {})
    per_class = overhead.get("storageClass") or {}
    for value, whose in (
        (per_class.get(name), f"CDIConfig's for StorageClass {name}"),
        (overhead.get("global"), "CDIConfig's global one"),
    ):
        try:
            return Decimal(str(value)), whose
        except (ArithmeticError, ValueError):
            continue  # unset, or not a number: CDI's own validation refuses such a value
    return FILESYSTEM_OVERHEAD, "CDI's default"


def clone_too_small(
    source: Obj, disk: DiskPlan, volume_mode: str | None, overhead: Decimal = FILESYSTEM_OVERHEAD
) -> tuple[str, str] | None:
    """The least size CDI clones the source into, and what that is, when the disk asks for less
    (ValidateRequestedCloneSize, from ValidateClone and the clone planner); else None. A Block
    source or target is compared with the source's request as written (ValidateClone compares
    the DataVolume's request with a Block source's); a Filesystem target's request is first
    grown by `overhead` (InflateSizeWithOverhead). A VM image on a Filesystem source cloned to a
    Block target is measured instead (detectCloneSize): CDI's size-detection pod reads the
    image's virtual size, and a disk at least that large is cloned regardless of the source's
    request (the clone turns permissive); known here only where CDI recorded a measurement on
    the source. `volume_mode`: the target's (`target_volume_mode`), None when unknown: then taken
    as Filesystem, the lenient reading. Wukong never renders `cdi.kubevirt.io/permissiveClone`,
    the DataVolume annotation that would skip the check."""
    requested = dig(source, "spec", "resources", "requests", "storage")
    if disk.size is None or requested is None:
        return None  # no size: CDI takes the source's
    try:
        have, want = parse_quantity(requested), parse_quantity(disk.size)
    except ValueError:
        return None
    source_block = dig(source, "spec", "volumeMode") == "Block"
    if volume_mode == "Block" and not source_block and _is_vm_image(source):
        virtual = _virtual_size(source)
        if virtual is None or want >= virtual:
            return None  # unmeasured: only CDI's size-detection pod can tell
        return str(int(virtual)), "the virtual size of the image it holds, as CDI measured it"
    floor = have if source_block or volume_mode == "Block" else have * (1 - overhead)
    return None if want >= floor else (str(requested), "its request")


def _is_vm_image(pvc: Obj) -> bool:
    return _annotations(pvc).get(CONTENT_TYPE) == "kubevirt"


def _virtual_size(pvc: Obj) -> Decimal | None:
    """The virtual size CDI's size-detection pod recorded on a clone source, while the source's
    capacity is still the one it was measured at (getSizeFromAnnotations); else None."""
    notes = _annotations(pvc)
    try:
        measured_at = parse_quantity(notes[SOURCE_CAPACITY])
        capacity = parse_quantity(dig(pvc, "status", "capacity", "storage") or "")
        return Decimal(int(notes[VIRTUAL_SIZE])) if measured_at == capacity else None
    except (KeyError, ValueError):
        return None


def _annotations(obj: Obj) -> dict[str, str]:
    return dig(obj, "metadata", "annotations") or {}
