"""The Wukong CustomResourceDefinition and the editors' JSON schema, generated from spec.py. Pure.

pydantic writes JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3.0 schema
(Kubernetes docs, "Specifying a structural schema"; apiextensions validation). The conversion:

- every `$ref` is inlined and `$defs` dropped (`$ref` and `definitions` are forbidden);
- `anyOf: [X, {type: null}]` becomes X. No field is `nullable`: Wukong never gives null a
  meaning of its own (an absent field and a null one are the same), and the API server prunes
  nulls of non-nullable fields before validating, exactly as the loader ignores them;
- `const` (not an OpenAPI v3.0 keyword) becomes a one-value `enum`; a numeric
  `exclusiveMinimum`/`exclusiveMaximum` becomes `minimum`/`maximum` plus the v3.0 boolean;
- `additionalProperties: false` beside `properties` is dropped (the API server rejects the pair;
  unknown fields are refused by strict field validation instead), as are `title` and
  `default: null`;
- a quantity (`str | int` with a pattern) becomes `x-kubernetes-int-or-string: true` with
  `anyOf: [{type: integer}, {type: string}]`, the one logical junctor a structural schema allows
  to carry types;
- at the root, `metadata` is just `type: object`: a CRD may restrict nothing there but
  `name`/`generateName`, and the API server checks ObjectMeta itself.

The editors' schema (yaml-language-server) keeps what editors use and the API server does not
accept: `additionalProperties: false` (typos are flagged), `const` for apiVersion and kind
(completion) and the full metadata model.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from wukong_core.spec.models import API_VERSION, KIND, Wukong

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "wukongs"
SINGULAR = "wukong"
NAME = f"{PLURAL}.{GROUP}"
EDITOR_SCHEMA_ID = (
    "https://raw.githubusercontent.com/novasphere/wukong/main/deploy/crd/wukong.schema.json"
)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_DESCRIPTION = (
    "A KubeVirt virtual machine and its disks, rendered by Wukong into a VirtualMachine with "
    "DataVolume templates."
)

Schema = dict[str, Any]


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Inline one `$ref` (keeping its siblings, e.g. a field's description)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = copy.deepcopy(defs[ref.rsplit("/", 1)[-1]])
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _drop_null(node: Schema) -> Schema:
    """`anyOf: [X, null]` -> X, merged with the outer keys (description, default)."""
    options = node.get("anyOf")
    if options is None:
        return node
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _is_int_or_string(node: Schema) -> bool:
    types = sorted(o.get("type", "") for o in node.get("anyOf", ()))
    return types == ["integer", "string"] and all(len(o) == 1 for o in node["anyOf"])


def _normalise(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Resolve refs and null branches at this node until neither is left."""
    while True:
        resolved = _drop_null(_resolve(node, defs))
        if resolved == node:
            return node
        node = resolved


def _inline(node: Schema, defs: dict[str, Schema]) -> Schema:
    """The schema with every `$ref` inlined and no null branch, `title` or `default: null`."""
    out: Schema = {}
    for key, value in _normalise(node, defs).items():
        if key in ("$defs", "title") or (key == "default" and value is None):
            continue
        if key == "properties":  # a map of field names: never filter its keys
            out[key] = {name: _inline(child, defs) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _inline(value, defs)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [_inline(option, defs) for option in value]
        else:
            out[key] = value
    return out


def _structural(node: Schema) -> Schema:
    """One inlined JSON schema node -> an OpenAPI v3.0 structural node (recursively)."""
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _structural(child) for name, child in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _structural(value)
        elif key == "additionalProperties":
            continue  # `false` beside properties; the API server's strict validation does it
        elif key == "const":
            out["enum"] = [value]
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [_structural(option) for option in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if _is_int_or_string(out):
        out["anyOf"] = copy.deepcopy(_INT_OR_STRING)
        out["x-kubernetes-int-or-string"] = True
    return out


def _model_schema() -> tuple[Schema, dict[str, Schema]]:
    raw = Wukong.model_json_schema()
    return raw, raw.get("$defs", {})


def openapi_schema() -> Schema:
    """The CRD's `openAPIV3Schema`: the Wukong model as a structural schema."""
    raw, defs = _model_schema()
    spec = _structural(_inline(raw["properties"]["spec"], defs))
    return {
        "type": "object",
        "description": _DESCRIPTION,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "vm.novasphere.dev/v1alpha1"},
            "kind": {"type": "string", "description": "Wukong"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
    }


def _printer_column(name: str, json_path: str, kind: str = "string") -> Schema:
    return {"name": name, "type": kind, "jsonPath": json_path}


def crd() -> Schema:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition for kind Wukong."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": NAME,
            "labels": {
                "app.kubernetes.io/managed-by": "wukong",
                "app.kubernetes.io/name": "wukong",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "additionalPrinterColumns": [
                        _printer_column("CPU", ".spec.cpu", "integer"),
                        _printer_column("Memory", ".spec.memory"),
                        _printer_column("RunStrategy", ".spec.runStrategy"),
                        _printer_column("Age", ".metadata.creationTimestamp", "date"),
                    ],
                }
            ],
        },
    }


def crd_yaml() -> str:
    """deploy/crd/wukong.yaml, byte for byte (`wukong schema` prints it)."""
    body = yaml.dump(
        crd(),
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=100,
        allow_unicode=True,
    )
    return "# generated by `wukong schema` from wukong_core/spec.py; do not edit\n" + body


def editor_schema() -> Schema:
    """A self-contained JSON schema (draft-07) for editors, from the same models."""
    raw, defs = _model_schema()
    body = _inline({k: v for k, v in raw.items() if k != "$defs"}, defs)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": EDITOR_SCHEMA_ID,
        "title": f"{KIND} ({API_VERSION})",
        **body,
    }


def editor_schema_json() -> str:
    """deploy/crd/wukong.schema.json, byte for byte (`wukong schema --json-schema`)."""
    return json.dumps(editor_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
