"""Strict validators for the official KubeVirt, CDI and Kubernetes schemas.

The CRDs-catalog schemas leave `additionalProperties` open; like kubeconform's -strict we close
every object that lists its properties, so a misspelt field fails here as the API server's
strict field validation would fail it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator


def close(schema: Any) -> Any:
    if isinstance(schema, dict):
        closed = {key: close(value) for key, value in schema.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [close(item) for item in schema]
    return schema


@cache
def validator(path: Path, part: tuple[str, ...] = ()) -> Draft7Validator:
    """The schema in `path`, or the part of it at the keys `part` (standalone schemas inline
    every definition, so a part is a whole schema too: the Job's `metadata` is ObjectMeta)."""
    schema = json.loads(path.read_text())
    for key in part:
        schema = schema[key]
    return Draft7Validator(close(schema))


def errors(reference: Path, relative: str, obj: Any, part: tuple[str, ...] = ()) -> list[str]:
    """Every schema violation of `obj`, as 'path: message' lines (empty when valid)."""
    found = validator(reference / relative, part).iter_errors(obj)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found)


VIRTUAL_MACHINE = "crds-catalog/kubevirt.io/virtualmachine_v1.json"
DATA_VOLUME = "crds-catalog/cdi.kubevirt.io/datavolume_v1beta1.json"
JOB = "kubernetes-json-schema/v1.31.6-standalone-strict/job-batch-v1.json"
OBJECT_META = ("properties", "metadata")  # in JOB
POD_TEMPLATE = ("properties", "spec", "properties", "template")  # in JOB: a PodTemplateSpec
PVC = "kubernetes-json-schema/v1.31.6-standalone-strict/persistentvolumeclaim-v1.json"
