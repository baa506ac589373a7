"""Findings: what the checks report, as data.

The codes and their severities are a public interface: CI scripts and the PreSync Job match on
them. The CLI's exit code and the CI endpoints' HTTP status are computed from findings here
and nowhere else (a webhook delivery Wukong handled is 2xx whatever its findings: the outcome
goes to the commit status, README: The HTTP function).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# code -> severity; the README's table of codes.
CODES: dict[str, Severity] = {
    "spec.invalid": Severity.ERROR,
    "spec.duplicate-vm": Severity.ERROR,
    "disk.duplicate-name": Severity.ERROR,
    "disk.conflicting-source": Severity.ERROR,
    "disk.size-required": Severity.ERROR,
    "disk.size-not-allowed": Severity.ERROR,
    "disk.unsupported-image": Severity.ERROR,
    "disk.readonly-bus": Severity.ERROR,
    "disk.cdrom-invalid": Severity.ERROR,
    "cloudinit.too-large": Severity.ERROR,
    "instancetype.conflict": Severity.ERROR,
    "cpu.sockets-unused": Severity.WARNING,
    "boot.multiple": Severity.ERROR,
    "boot.missing": Severity.WARNING,
    "vm.empty": Severity.INFO,
    "name.too-long": Severity.ERROR,
    "name.collision": Severity.ERROR,
    "pvc.shared-in-repo": Severity.ERROR,
    "clone.cross-namespace": Severity.INFO,
    "pvc.not-found": Severity.ERROR,
    "pvc.lost": Severity.ERROR,
    "pvc.terminating": Severity.ERROR,
    "pvc.pending": Severity.ERROR,
    "pvc.wait-for-first-consumer": Severity.INFO,
    "pvc.access-mode": Severity.ERROR,
    "pvc.in-use": Severity.ERROR,
    "pvc.not-migratable": Severity.WARNING,
    "pvc.populating": Severity.WARNING,
    "pvc.name-taken": Severity.ERROR,
    "clone.source-not-ready": Severity.ERROR,
    "clone.source-in-use": Severity.WARNING,
    "clone.too-small": Severity.ERROR,
    "storageclass.not-found": Severity.ERROR,
    "storageclass.no-default": Severity.ERROR,
    "storageclass.incomplete-profile": Severity.ERROR,
    "namespace.not-found": Severity.WARNING,
    "cluster.unreachable": Severity.ERROR,
    "cluster.forbidden": Severity.ERROR,
    "cluster.cdi-missing": Severity.ERROR,
    "cluster.kubevirt-missing": Severity.ERROR,
    # What a spec names besides PVCs (`checks.references`).
    "network.not-found": Severity.ERROR,
    "instancetype.not-found": Severity.ERROR,
    "preference.not-found": Severity.ERROR,
    "preference.requirements-unmet": Severity.ERROR,
    "preference.shadowed": Severity.WARNING,
    "datasource.not-found": Severity.ERROR,
    "datasource.not-ready": Severity.WARNING,
    # Data safety: what a render does to the disks of the VMs it replaces (`safety`).
    "vm.removed": Severity.WARNING,
    "vm.renamed": Severity.WARNING,
    "disk.change-ignored": Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    message: str
    file: str = ""
    line: int = 0
    object: str = ""  # "namespace/name" of the VM (or the PVC) the finding is about

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")

    @property
    def severity(self) -> Severity:
        return CODES[self.code]

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line, self.code, self.message)

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "object": self.object,
        }


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for f in findings:
        counts[f.severity.value] += 1
    return counts


def exit_code(findings: Iterable[Finding]) -> int:
    """CLI exit status: 0 clean (warnings allowed), 1 error findings."""
    return 1 if has_errors(findings) else 0


def http_status(findings: Iterable[Finding]) -> int:
    """/render and /validate: 422 when any finding is an error."""
    return 422 if has_errors(findings) else 200
