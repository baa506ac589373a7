"""The one pipeline behind the CLI, the HTTP function and the PreSync Job.

load -> check each spec -> plan -> check plans and the repo -> check the cluster -> render.
Every stage but the cluster reads is pure; the caller brings the bytes and takes the files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .checks import check_plan, check_repo, check_spec
from .cluster import ClusterView
from .cluster_checks import check_cluster
from .findings import Finding, has_errors
from .load import LoadedSpec, load_many
from .plan import DEFAULT_NAMESPACE, VmPlan, plan_vm
from .render import NamespaceExtras, render_tree

OFFLINE = "offline"


@dataclass(frozen=True)
class Outcome:
    plans: list[VmPlan]
    findings: list[Finding]
    files: dict[str, bytes] = field(default_factory=dict)  # empty whenever there is an error
    cluster: str = OFFLINE  # what the plans were validated against

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def plan_specs(
    specs: Iterable[LoadedSpec], default_namespace: str | None = None
) -> tuple[list[VmPlan], list[Finding]]:
    """Plan every spec that passes its own checks; the others yield only their findings."""
    namespace_default = default_namespace or DEFAULT_NAMESPACE
    plans: list[VmPlan] = []
    findings: list[Finding] = []
    for loaded in specs:
        namespace = loaded.spec.metadata.namespace or namespace_default
        problems = check_spec(loaded, namespace)
        findings += problems
        if has_errors(problems):
            continue
        plan = plan_vm(loaded.spec, loaded.file, loaded.line, loaded.disk_lines, namespace)
        plans.append(plan)
        findings += check_plan(plan)
    return plans, findings


def validate_plans(plans: list[VmPlan], cluster: ClusterView | None) -> list[Finding]:
    findings = check_repo(plans)
    if cluster is not None:
        findings += check_cluster(plans, cluster)
    return findings


def run(
    sources: Iterable[tuple[str, bytes | str]],
    *,
    cluster: ClusterView | None = None,
    default_namespace: str | None = None,
    render: bool = True,
    extras: NamespaceExtras | None = None,
) -> Outcome:
    specs, findings = load_many(sources)
    plans, plan_findings = plan_specs(specs, default_namespace)
    findings += plan_findings + validate_plans(plans, cluster)
    findings.sort(key=Finding.sort_key)
    label = OFFLINE if cluster is None else cluster.source
    if not render or has_errors(findings):
        return Outcome(plans, findings, {}, label)
    return Outcome(plans, findings, render_tree(plans, extras), label)
