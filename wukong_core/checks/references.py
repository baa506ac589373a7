"""Cluster checks of what a spec names besides PVCs: Multus networks, instancetypes and
preferences, golden-image DataSources. Pure: every read goes through `reads.Reads`.

None of these is caught where a user would expect it (README, Cluster validation): KubeVirt v1.6
admits a VM whose instancetype, preference or NetworkAttachmentDefinition is missing and the VM
then never starts; only a missing DataSource is refused at admission, and one that is not ready
yet leaves the disk waiting. Secrets (cloud-init data, SSH keys) are never read.
"""

from __future__ import annotations

from math import prod

from wukong_core.checks.clones import check_clone_size
from wukong_core.checks.permissions import cross_namespace_clone
from wukong_core.checks.reads import NADS, Context, Where, finding, matcher_list
from wukong_core.findings import Finding
from wukong_core.objects import Obj, dig
from wukong_core.plan import DiskPlan, NetworkPlan, RefPlan, VmPlan, largest_divisor
from wukong_core.spec.quantity import parse_quantity

# KubeVirt's names of the topologies a preference asks vCPUs in (the deprecated ones normalised).
_TOPOLOGIES = {"preferSockets": "sockets", "preferCores": "cores", "preferThreads": "threads"}
_TOPOLOGIES |= {"preferSpread": "spread", "preferAny": "any"}
# spreadOptions.across -> the topology fields whose product counts (GetSpreadOptions' default
# is SocketsCores).
_SPREAD = {
    "SocketsCores": ("sockets", "cores"),
    "CoresThreads": ("cores", "threads"),
    "SocketsCoresThreads": ("sockets", "cores", "threads"),
}


def check_references(ctx: Context, plan: VmPlan) -> list[Finding]:
    out: list[Finding] = []
    for field, ref in (("instancetype", plan.instancetype), ("preference", plan.preference)):
        if ref is not None:
            out += _check_matcher(ctx, plan, field, ref)
    if plan.preference is not None:
        out += _check_requirements(ctx, plan, plan.preference)
        out += _check_shadowed(ctx, plan, plan.preference)
    for network in plan.networks or ():
        if not network.pod:
            out += _check_network(ctx, plan, network)
    for disk in plan.disks:
        if disk.kind == "datasource":
            out += _check_datasource(ctx, plan, disk)
    return out


def _check_matcher(ctx: Context, plan: VmPlan, field: str, ref: RefPlan) -> list[Finding]:
    resource, namespace = matcher_list(ref, plan.namespace)
    found = ctx.reads.get(resource, namespace, Where(plan, ref.line))
    if found is None or ctx.reads.kubevirt_missing:
        return []  # the failed read, or cluster.kubevirt-missing, says why
    what = f"{ref.kind} {ref.name!r} (the {field} of VM {plan.key})"
    consequence = "KubeVirt accepts the VM but never starts it"
    if resource in ctx.reads.not_served:
        message = (
            f"{what} cannot exist: the API server serves no {resource}.instancetype.kubevirt.io/"
            f"v1beta1 (a KubeVirt older than v1.0?); {consequence}: upgrade KubeVirt, or "
            + ("size the VM with cpu and memory" if field == "instancetype" else "remove it")
        )
    elif ref.name in found:
        return []
    else:
        where = "cluster-wide" if namespace is None else f"in namespace {namespace}"
        message = (
            f"{what} does not exist {where}: {consequence}; correct {field}.name or "
            f"{field}.kind (`kubectl get {resource}"
            + ("" if namespace is None else f" -n {namespace}")
            + "` lists those there are)"
        )
    return [finding(f"{field}.not-found", message, plan, ref.line)]


def _check_requirements(ctx: Context, plan: VmPlan, ref: RefPlan) -> list[Finding]:
    """KubeVirt's VM admission refuses a VM below its preference's spec.requirements
    (CheckPreferenceRequirements, "failure checking preference requirements"), also since v1.6,
    which admits a missing preference: an instancetype's cpu.guest and memory.guest are
    compared, else the VM's own after defaulting. Its vCPUs count only in the topology the
    preference prefers (sockets by default): Wukong writes sockets of `coresPerSocket` cores
    and one thread each, so a preference that counts cores or threads may find too few."""
    preference = _named(ctx, plan, ref)
    needs = dig(preference or {}, "spec", "requirements") or {}
    if not needs:
        return []
    cpu_needed, memory_needed = dig(needs, "cpu", "guest"), dig(needs, "memory", "guest")
    fixes: list[str] = []
    if plan.instancetype is not None:
        instancetype = _named(ctx, plan, plan.instancetype)
        if instancetype is None:
            return []  # instancetype.not-found says why
        vcpus, memory = (
            dig(instancetype, "spec", "cpu", "guest"),
            dig(instancetype, "spec", "memory", "guest"),
        )
        provider, counted = f"{plan.instancetype.kind} {plan.instancetype.name!r}", "vCPU"
    else:
        counts = _counted(preference or {})
        if not counts:
            cpu_needed = None  # a topology KubeVirt does not know: it checks no CPU
        vcpus, counted = _vm_vcpus(plan, counts), f"vCPU as {' x '.join(counts)}"
        memory, provider = plan.memory or None, "the VM's cpu and memory"
    gaps = []
    if cpu_needed and (vcpus or 0) < cpu_needed:
        gaps.append(f"{cpu_needed} vCPU and gets {vcpus or 0} {counted}")
        if plan.instancetype is None:
            fixes.append(_cpu_fix(plan, counts, cpu_needed))
    try:
        if memory_needed and memory and parse_quantity(memory) < parse_quantity(memory_needed):
            gaps.append(f"{memory_needed} of memory and gets {memory}")
            if plan.instancetype is None:
                fixes.append(f"set memory: {memory_needed}")
    except ValueError:
        pass  # KubeVirt refuses a malformed quantity on its own
    if not gaps:
        return []
    fix = " and ".join(fixes) if fixes else "choose a larger instancetype"
    message = (
        f"{ref.kind} {ref.name!r} (the preference of VM {plan.key}) requires "
        + "; and ".join(gaps)
        + f" from {provider}: KubeVirt refuses the VM (failure checking preference "
        f"requirements), so Argo CD cannot apply it; {fix}, or choose another preference"
    )
    return [finding("preference.requirements-unmet", message, plan, ref.line)]


def _named(ctx: Context, plan: VmPlan, ref: RefPlan) -> Obj | None:
    resource, namespace = matcher_list(ref, plan.namespace)
    return (ctx.reads.get(resource, namespace, Where(plan, ref.line)) or {}).get(ref.name)


def _counted(preference: Obj) -> tuple[str, ...]:
    """The topology fields whose product KubeVirt counts as a VM's vCPUs for a preference's
    requirements (checkCPU): its preferredCPUTopology, sockets by default; none for a topology
    KubeVirt does not know (checkCPU's switch has no default: it checks no CPU then)."""
    preferred = dig(preference, "spec", "cpu", "preferredCPUTopology") or "sockets"
    preferred = _TOPOLOGIES.get(preferred, preferred)
    if preferred == "spread":
        across = dig(preference, "spec", "cpu", "spreadOptions", "across") or "SocketsCores"
        return _SPREAD.get(across, _SPREAD["SocketsCores"])
    if preferred == "any":
        return ("sockets", "cores", "threads")
    return (preferred,) if preferred in ("sockets", "cores", "threads") else ()


def _vm_vcpus(plan: VmPlan, counts: tuple[str, ...]) -> int:
    topology = plan.topology
    return prod(topology[f] for f in counts)


def _cpu_fix(plan: VmPlan, counts: tuple[str, ...], needed: int) -> str:
    """The spec change that gives the preference `needed` vCPUs where it counts them."""
    cpu, per_socket = plan.cpu, plan.cores_per_socket
    if counts == ("threads",):
        return (
            "size the VM with an instancetype (Wukong writes one thread per core; KubeVirt "
            "lays an instancetype's vCPUs out as the preference prefers)"
        )
    if "sockets" in counts and "cores" in counts:
        return f"set cpu: {-(-needed // per_socket) * per_socket}"
    if "sockets" in counts:  # cpu / coresPerSocket sockets
        if cpu >= needed:
            fit = largest_divisor(cpu, cpu // needed)  # keeps cpu / fit >= needed sockets
            return "remove coresPerSocket" if fit == 1 else f"set coresPerSocket: {fit}"
        return f"set cpu: {needed * per_socket}"
    if cpu >= needed:  # cores: coresPerSocket of them
        return f"set coresPerSocket: {next(d for d in range(needed, cpu + 1) if cpu % d == 0)}"
    return f"set cpu: {needed} and coresPerSocket: {needed}"


def _check_shadowed(ctx: Context, plan: VmPlan, ref: RefPlan) -> list[Finding]:
    """A preference fills only what a VM leaves unset (preference/apply: PreferredTPM when
    devices.tpm is nil, PreferredEfi when no bootloader is set), so a spec's own TPM or UEFI
    takes the place of the preference's whole device, its persistent state included."""
    own_efi = plan.firmware in ("efi", "efi-secure")
    if plan.persistent_state or not (plan.tpm or own_efi):
        return []
    preference = _named(ctx, plan, ref)
    if preference is None:
        return []
    what = f"{ref.kind} {ref.name!r} (the preference of VM {plan.key})"
    out = []
    if plan.tpm and dig(preference, "spec", "devices", "preferredTPM", "persistent"):
        message = (
            f"{what} gives a persistent TPM, but tpm: true writes a TPM of the VM's own, which "
            "KubeVirt keeps instead: its state (BitLocker keys, Windows Hello) is lost at every "
            "restart; remove tpm (the preference's TPM is used) or set persistentState: true"
        )
        out.append(finding("preference.shadowed", message, plan, plan.field_line("tpm")))
    persistent_efi = dig(preference, "spec", "firmware", "preferredEfi", "persistent")
    if own_efi and persistent_efi:
        message = (
            f"{what} gives UEFI with persistent variables, but firmware: {plan.firmware} writes "
            "a UEFI of the VM's own, which KubeVirt keeps instead: its variables (boot entries, "
            "enrolled Secure Boot keys, what BitLocker measures) are lost at every restart; "
            "remove firmware (the preference's UEFI is used) or set persistentState: true"
        )
        out.append(finding("preference.shadowed", message, plan, plan.field_line("firmware")))
    return out


def _check_network(ctx: Context, plan: VmPlan, network: NetworkPlan) -> list[Finding]:
    found = ctx.reads.get(NADS, network.nad_namespace, Where(plan, network.line))
    multus = NADS not in ctx.reads.not_served
    if found is None or (multus and network.nad_name in found):
        return []
    what = f"network {network.name!r} of VM {plan.key}"
    why = (
        f"NetworkAttachmentDefinition {network.nad_namespace}/{network.nad_name} ({what}) does "
        "not exist"
        if multus
        else f"{what} names Multus network {network.network!r}, but the API server does not "
        "serve k8s.cni.cncf.io (Multus is not installed)"
    )
    fix = "create it, or correct the network" if multus else "install Multus, or remove the network"
    message = f"{why}: KubeVirt accepts the VM but cannot start it; {fix}"
    return [finding("network.not-found", message, plan, network.line)]


def _check_datasource(ctx: Context, plan: VmPlan, disk: DiskPlan) -> list[Finding]:
    found = ctx.reads.get("datasources", disk.pvc_namespace, Where(plan, disk.source_line))
    if found is None or ctx.reads.cdi_missing:
        return []  # the failed read, or cluster.cdi-missing on this disk, says why
    ref = f'DataSource {disk.pvc_namespace}/{disk.pvc_name} (disk "{disk.name}")'
    source = found.get(disk.pvc_name)
    if source is None:
        message = (
            f"{ref} does not exist: KubeVirt refuses VM {plan.key} (dataSource "
            f"{disk.pvc_namespace}/{disk.pvc_name} does not exist); correct dataSource, or "
            "create it (a DataImportCron creates and refreshes one)"
        )
        return [finding("datasource.not-found", message, plan, disk.source_line)]
    out = []
    state = _not_ready(source)
    if state:
        message = (
            f"{ref} is not ready ({state}): CDI cannot clone it yet, so the disk, and VM "
            f"{plan.key} with it, waits until it is"
        )
        out.append(finding("datasource.not-ready", message, plan, disk.source_line))
    # Offline, the DataSource's own namespace was named; the PVC it points to decides.
    origin = dig(source, "spec", "source", "pvc") or dig(source, "spec", "source", "snapshot")
    origin_namespace = (origin or {}).get("namespace") or disk.pvc_namespace
    if origin_namespace not in (plan.namespace, disk.pvc_namespace):
        out.append(cross_namespace_clone(plan, disk, origin_namespace))
    return out + _check_golden_size(ctx, plan, disk, source)


def _check_golden_size(ctx: Context, plan: VmPlan, disk: DiskPlan, source: Obj) -> list[Finding]:
    """CDI clones a DataSource's PVC as it clones any PVC (it resolves the sourceRef into a
    pvc source first), with the same size check: clone.too-small against that PVC. A source
    snapshot's restore size is not read."""
    origin = dig(source, "spec", "source", "pvc") or {}
    if disk.size is None or not origin.get("name"):
        return []
    namespace = origin.get("namespace") or disk.pvc_namespace
    pvcs = ctx.pvcs(namespace, Where(plan, disk.field_line("size")))
    pvc = (pvcs or {}).get(origin["name"])
    if pvc is None:
        return []  # not there (yet): the DataSource's Ready condition says so
    ref = (
        f"PersistentVolumeClaim {namespace}/{origin['name']} (of DataSource "
        f"{disk.pvc_namespace}/{disk.pvc_name})"
    )
    return check_clone_size(ctx, plan, disk, pvc, ref)


def _not_ready(source: Obj) -> str:
    """How a DataSource's Ready condition is not True ("" when it is): CDI's controller sets it
    False with reason NoSource until its DataImportCron has imported a first image."""
    conditions = dig(source, "status", "conditions") or []
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    if ready is None:
        return "no Ready condition yet: CDI has not reconciled it"
    if ready.get("status") == "True":
        return ""
    reason, detail = ready.get("reason") or "", ready.get("message") or ""
    said = ", ".join(x for x in (f"reason {reason}" if reason else "", detail) if x)
    cron = "; no image imported into it yet (has its DataImportCron run?)"
    cron = cron if reason == "NoSource" else ""
    return f"Ready is {ready.get('status') or 'unset'}" + (f": {said}" if said else "") + cron
