"""Small Wukong documents, written as a user would, and the offline checks run over them."""

from __future__ import annotations

from typing import Any

import yaml

from wukong_core.findings import Finding
from wukong_core.pipeline import plan_specs, validate_plans
from wukong_core.plan import DEFAULT_NAMESPACE, VmPlan, plan_vm
from wukong_core.spec.load import LoadedSpec, load_bytes, load_many
from wukong_core.spec.models import API_VERSION


def wukong(name: str = "web", namespace: str | None = "vms", disks=(), **spec: Any) -> dict:
    """A Wukong document as a dict; `spec` overrides cpu and memory or adds fields."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    body = {"cpu": 1, "memory": "1Gi", **spec}
    if disks:
        body["disks"] = list(disks)
    return {"apiVersion": API_VERSION, "kind": "Wukong", "metadata": metadata, "spec": body}


def as_yaml(*documents: dict) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


def load_one(text: str | bytes, file: str = "vms/web.yaml") -> LoadedSpec:
    specs, findings = load_bytes(text, file)
    assert findings == []
    assert len(specs) == 1
    return specs[0]


def plan_one(document: dict, default_namespace: str = DEFAULT_NAMESPACE) -> VmPlan:
    loaded = load_one(as_yaml(document))
    return plan_vm(
        loaded.spec,
        loaded.file,
        loaded.line,
        loaded.disk_lines,
        default_namespace,
        spec_lines=loaded.spec_fields,
        disk_fields=loaded.disk_fields,
    )


def plan_all(
    files: dict[str, str], default_namespace: str = DEFAULT_NAMESPACE
) -> tuple[list[VmPlan], list[Finding]]:
    """The offline checks exactly as the pipeline runs them: load, check each spec, plan, check
    the repository."""
    specs, findings = load_many(files.items())
    plans, plan_findings = plan_specs(specs, default_namespace)
    findings += plan_findings + validate_plans(plans, None)
    return plans, sorted(findings, key=Finding.sort_key)


def offline_findings(files: dict[str, str]) -> list[Finding]:
    return plan_all(files)[1]
