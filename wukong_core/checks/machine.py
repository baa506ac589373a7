"""Offline rules for the machine around the disks: what sizes it, cloud-init, SSH keys, networks.

Each rule is one KubeVirt v1.6 refuses at admission, or one that would leave a VM nobody can
use (README, Spec reference). Pure: a spec in, (code, message, field path) out; the caller
turns the path into the line of that field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from wukong_core.plan import CLOUD_INIT_DISK, largest_divisor
from wukong_core.spec.models import CLOUD_INIT_INLINE_MAX, POD_NETWORK, CloudInit, WukongSpec

Problem = tuple[str, str, str]  # (code, message, field path such as "networks.1.binding")


def machine_problems(spec: WukongSpec, obj: str) -> Iterator[Problem]:
    yield from _sizing(spec, obj)
    if spec.cloudInit is not None:
        yield from _cloud_init(spec.cloudInit, obj)
    elif spec.sshKeySecret is not None:
        yield (
            "spec.invalid",
            f"VM {obj} sets sshKeySecret without cloudInit: KubeVirt hands the keys to the guest "
            "through the cloud-init NoCloud disk, which only cloudInit adds; add cloudInit "
            "(userData: '#cloud-config' is enough)",
            "sshKeySecret",
        )
    yield from _networks(spec, obj)
    if spec.persistentState and not spec.tpm and spec.firmware not in ("efi", "efi-secure"):
        yield (
            "spec.invalid",
            f"VM {obj} sets persistentState without a TPM or UEFI of its own, whose state it "
            "keeps; add tpm: true or firmware: efi-secure, or remove persistentState (a "
            "preference's TPM and UEFI are persistent where the preference says so)",
            "persistentState",
        )


def cloud_init_disk_taken(spec: WukongSpec) -> int | None:
    """The index of a disk named like the cloud-init disk Wukong adds, when it adds one."""
    if spec.cloudInit is None:
        return None
    return next((i for i, d in enumerate(spec.disks) if d.name == CLOUD_INIT_DISK), None)


# common-instancetypes' preferences for Windows client editions (windows.10, windows.11,
# their .virtio variants): those editions use 2 sockets at most (Home: 1).
_WINDOWS_CLIENT = re.compile(r"windows\.1[01](\..*)?")
_CLIENT_SOCKETS = 2


def _sizing(spec: WukongSpec, obj: str) -> Iterator[Problem]:
    """KubeVirt v1.6 refuses any `domain.memory` and any cpu sockets, cores or threads beside
    an instancetype ("VM field(s) ... conflicts with selected instance type"); without one,
    `cpu` vCPUs make whole sockets of `coresPerSocket` cores."""
    if spec.instancetype is None:
        per_socket, cpu = spec.coresPerSocket, spec.cpu or 0
        sockets = cpu // (per_socket or 1)
        preference = spec.preference.name if spec.preference else ""
        if _WINDOWS_CLIENT.fullmatch(preference) and sockets > _CLIENT_SOCKETS:
            fits = largest_divisor(cpu, _CLIENT_SOCKETS)
            yield (
                "cpu.sockets-unused",
                f"VM {obj} has cpu {cpu} as {sockets} sockets and preference "
                f"{preference!r}: Windows 10 and 11 use at most {_CLIENT_SOCKETS} "
                f"sockets (Home: 1), so the other vCPUs stay idle; set coresPerSocket: "
                f"{cpu // fits} ({fits} sockets)",
                "coresPerSocket" if per_socket else "cpu",
            )
        if per_socket and spec.cpu and spec.cpu % per_socket:
            fits = largest_divisor(spec.cpu, per_socket)
            yield (
                "spec.invalid",
                f"VM {obj} has cpu {spec.cpu}, which is no whole number of sockets of "
                f"coresPerSocket {per_socket} cores; make cpu a multiple of {per_socket} (e.g. "
                f"{spec.cpu + per_socket - spec.cpu % per_socket}) or set coresPerSocket: {fits}",
                "coresPerSocket",
            )
        return
    for field in ("cpu", "coresPerSocket", "memory"):
        if getattr(spec, field) is not None:
            yield (
                "instancetype.conflict",
                f"VM {obj} sets {field} and instancetype {spec.instancetype.name!r}, which sizes "
                f"it: KubeVirt refuses a VM that sets both; remove {field} (or the instancetype)",
                field,
            )


def _cloud_init(data: CloudInit, obj: str) -> Iterator[Problem]:
    """KubeVirt's cloud-init admission: inline data counts only when it is not empty, one source
    each of user and network data, and at least one of them. Network data alone is fine:
    KubeVirt writes an empty user-data file beside it on the NoCloud disk."""
    where = f"cloudInit of VM {obj}"
    for inline, secret, what in (
        ("userData", "userDataSecret", "user"),
        ("networkData", "networkDataSecret", "network"),
    ):
        text = getattr(data, inline) or ""
        if text and getattr(data, secret) is not None:
            yield (
                "spec.invalid",
                f"{where} sets both {inline} and {secret}; KubeVirt takes one source of {what} "
                "data: keep one",
                f"cloudInit.{secret}",
            )
        size = len(text.encode("utf-8"))
        if size > CLOUD_INIT_INLINE_MAX:
            yield (
                "cloudinit.too-large",
                f"{where}: {inline} is {size} bytes, over the {CLOUD_INIT_INLINE_MAX} bytes "
                f"KubeVirt accepts inline; move it into a Secret of the VM's namespace (key "
                f"{what}data) and name it in {secret}",
                f"cloudInit.{inline}",
            )
    if not any((data.userData, data.userDataSecret, data.networkData, data.networkDataSecret)):
        said = (
            "sets only empty data" if data.userData == "" or data.networkData == "" else "is empty"
        )
        yield (
            "spec.invalid",
            f"{where} {said}, which KubeVirt refuses (it needs at least one source of user or "
            "network data); give it userData or userDataSecret (and networkData or "
            "networkDataSecret if needed), or remove it",
            "cloudInit",
        )


def _networks(spec: WukongSpec, obj: str) -> Iterator[Problem]:
    """KubeVirt's network admission: unique names, one pod network, masquerade on it only."""
    seen: set[str] = set()
    pod = None
    for i, network in enumerate(spec.networks or ()):
        if network.name in seen:
            yield (
                "spec.invalid",
                f"VM {obj} has two networks named {network.name!r}; each network (and its "
                "interface) needs a name of its own",
                f"networks.{i}.name",
            )
        seen.add(network.name)
        if network.network == POD_NETWORK:
            if pod is not None:
                yield (
                    "spec.invalid",
                    f"VM {obj} connects networks {pod!r} and {network.name!r} to the pod "
                    "network; KubeVirt allows one: remove one, or give it a Multus network",
                    f"networks.{i}.network",
                )
            pod = pod or network.name
        elif network.binding == "masquerade":
            yield (
                "spec.invalid",
                f"network {network.name!r} of VM {obj} binds Multus network "
                f"{network.network!r} with masquerade, which KubeVirt implements on the pod "
                "network only; use binding: bridge (the default for Multus)",
                f"networks.{i}.binding",
            )
