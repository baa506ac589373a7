"""The Wukong CRD: a structural schema the API server accepts, generated from spec.py, and kept
in deploy/crd/ (with the editors' JSON schema) byte for byte.

The structural rules checked here are those of the Kubernetes docs ("Specifying a structural
schema") and of the API server's CRD validation (apiextensions-apiserver validation.go: `$ref`,
`definitions`, `id`, `patternProperties`, `dependencies`, `additionalItems`, `uniqueItems: true`
and `type: null` are forbidden; `additionalProperties` and `properties` are mutually exclusive).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft4Validator, Draft7Validator
from pydantic import BaseModel, ValidationError

from tests.conftest import EXAMPLES, ROOT
from wukong_core.cli import commands as cli
from wukong_core.spec.crd import crd, crd_yaml, editor_schema, editor_schema_json, openapi_schema
from wukong_core.spec.models import (
    CloudInit,
    DataSourceRef,
    Disk,
    ExistingPVC,
    Instancetype,
    Network,
    Preference,
    Wukong,
    WukongSpec,
)
from wukong_core.spec.quantity import PATTERN as QUANTITY_PATTERN

CRD_FILE = ROOT / "deploy" / "crd" / "wukong.yaml"
SCHEMA_FILE = ROOT / "deploy" / "crd" / "wukong.schema.json"

# apiextensions.k8s.io/v1 JSONSchemaProps fields, minus those the API server forbids, minus the
# noise we refuse to publish (title; const is not a field at all and would be dropped).
ALLOWED = {
    "description", "type", "format", "default", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties", "required", "items",
    "allOf", "oneOf", "anyOf", "not", "properties", "additionalProperties", "externalDocs",
    "example", "nullable",
}  # fmt: skip
EXTENSIONS = (
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
)
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def _junctor_problems(node: dict[str, Any], path: str) -> list[str]:
    """Rules 2 and 3: nothing typed inside a junctor but the int-or-string pair."""
    problems = []
    for junctor in JUNCTORS:
        if junctor not in node:
            continue
        if node.get("x-kubernetes-int-or-string") and node[junctor] == INT_OR_STRING:
            continue  # the one documented exception
        options = node[junctor] if isinstance(node[junctor], list) else [node[junctor]]
        for option in options:
            banned = {"description", "type", "default", "additionalProperties", "nullable"}
            banned |= {"properties", "items"}  # would have to be repeated outside; we never do
            if banned & set(option):
                problems.append(f"{path}.{junctor}: sets {sorted(banned & set(option))}")
    return problems


def _node_problems(node: dict[str, Any], path: str) -> list[str]:
    problems = []
    unknown = {k for k in node if k not in ALLOWED and k not in EXTENSIONS}
    if unknown:
        problems.append(f"{path}: not allowed in a CRD schema: {sorted(unknown)}")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    if "type" not in node and not int_or_string:
        problems.append(f"{path}: no type (rule 1)")
    if "type" in node and node["type"] not in TYPES:
        problems.append(f"{path}: type {node['type']!r}")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: additionalProperties beside properties")
    if node.get("uniqueItems") is True:
        problems.append(f"{path}: uniqueItems: true")
    if "default" in node and node["default"] is None:
        problems.append(f"{path}: default: null")
    if "nullable" in node:
        problems.append(f"{path}: nullable (null has no meaning in Wukong)")
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            problems.append(f"{path}: {bound} must be a boolean in OpenAPI v3.0")
    if int_or_string and node.get("anyOf") != INT_OR_STRING:
        problems.append(f"{path}: int-or-string without anyOf [integer, string]")
    missing = set(node.get("required", ())) - set(node.get("properties", {}))
    if missing:
        problems.append(f"{path}: required but not a property: {sorted(missing)}")
    return problems + _junctor_problems(node, path)


def structural_problems(node: Any, path: str = "") -> list[str]:
    """Every violation in the schema below `node`; empty when the API server would accept it."""
    if not isinstance(node, dict):
        return [f"{path}: a schema must be an object"]
    problems = _node_problems(node, path or "<root>")
    for name, child in node.get("properties", {}).items():
        problems += structural_problems(child, f"{path}.{name}")
    if "items" in node:
        problems += structural_problems(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += structural_problems(node["additionalProperties"], f"{path}{{}}")
    return problems


def _walk(node: dict[str, Any]):
    yield node
    for child in node.get("properties", {}).values():
        yield from _walk(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _walk(node[key])


# --- the structural rules -----------------------------------------------------------------------


def test_the_crd_schema_is_structural():
    assert structural_problems(openapi_schema()) == []


def test_root_metadata_is_only_an_object():
    root = openapi_schema()
    assert root["properties"]["metadata"] == {"type": "object"}
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec"}


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


NULLABLE_STRING = [{"type": "string"}, {"type": "null"}]
BAD = [
    (_obj(a={"$ref": "#/x"}), "not allowed"),
    (_obj(a={"description": "untyped"}), "no type"),
    ({**_obj(a={"type": "string"}), "additionalProperties": False}, "beside"),
    (_obj(a={"anyOf": NULLABLE_STRING}), "no type"),
    ({"anyOf": NULLABLE_STRING, "type": "string"}, "sets ['type']"),
    ({"type": "integer", "minimum": 0, "exclusiveMinimum": 0}, "boolean"),
    ({"type": "string", "title": "Name"}, "not allowed"),
    ({"type": "string", "default": None}, "default: null"),
    ({"type": "string", "const": "x"}, "not allowed"),
    ({"type": "null"}, "type 'null'"),
    ({"type": "object", "$defs": {}}, "not allowed"),
    ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "uniqueItems"),
    ({"x-kubernetes-int-or-string": True}, "without anyOf"),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "problem"), BAD)
def test_the_checker_catches_what_the_api_server_refuses(schema, problem):
    assert any(problem in p for p in structural_problems(schema)), structural_problems(schema)


def test_quantities_are_int_or_string_with_the_parser_pattern():
    spec = openapi_schema()["properties"]["spec"]
    size = spec["properties"]["disks"]["items"]["properties"]["size"]
    for node in (spec["properties"]["memory"], size):
        assert node["x-kubernetes-int-or-string"] is True
        assert node["pattern"] == QUANTITY_PATTERN


def test_defaults_are_valid_values_of_their_own_field():
    for node in _walk(openapi_schema()):
        if "default" in node:
            schema = {k: v for k, v in node.items() if k != "default"}
            assert Draft4Validator(schema).is_valid(node["default"]), node


# --- generated from the models ------------------------------------------------------------------


MODELS: list[tuple[type[BaseModel], list[str]]] = [
    (WukongSpec, ["spec"]),
    (Disk, ["spec", "disks", "[]"]),
    (ExistingPVC, ["spec", "disks", "[]", "existingPVC"]),
    (DataSourceRef, ["spec", "disks", "[]", "dataSource"]),
    (Instancetype, ["spec", "instancetype"]),
    (Preference, ["spec", "preference"]),
    (CloudInit, ["spec", "cloudInit"]),
    (Network, ["spec", "networks", "[]"]),
]


def _at(schema: dict[str, Any], path: list[str]) -> dict[str, Any]:
    for step in path:
        schema = schema["items"] if step == "[]" else schema["properties"][step]
    return schema


@pytest.mark.parametrize(("model", "path"), MODELS, ids=lambda m: getattr(m, "__name__", ""))
def test_every_model_field_is_in_the_crd_and_only_required_ones_are_required(model, path):
    node = _at(openapi_schema(), path)
    assert set(node["properties"]) == set(model.model_fields)
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert set(node.get("required", ())) == required


def test_nothing_a_cd_rom_contradicts_is_defaulted_by_the_api_server():
    # A default in the CRD is written into the stored object: `bus: virtio` or `readOnly: false`
    # there would turn every CD-ROM stored in the cluster into one KubeVirt refuses.
    disk = _at(openapi_schema(), ["spec", "disks", "[]"])
    assert "default" not in disk["properties"]["bus"]
    assert "default" not in _at(disk, ["existingPVC", "readOnly"])
    assert disk["properties"]["device"]["enum"] == ["disk", "cdrom"]
    assert (
        disk["properties"]["bootOrder"]["minimum"],
        disk["properties"]["bootOrder"]["type"],
    ) == (
        1,
        "integer",
    )


def _example_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((EXAMPLES / "specs").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Wukong"]
    assert docs
    return docs


INVALID = [
    ("spec", "cpu", 0),
    ("spec", "memory", "4 GB"),
    ("spec", "runStrategy", "running"),
    ("spec", "memory", None),
    ("spec", "firmware", "uefi"),
    ("spec", "networks", [{"name": "lab", "network": "Lab_Net"}]),
    ("spec", "networks", [{"name": "lab", "network": "a/b/c"}]),
    ("spec", "instancetype", {"name": "u1.medium", "kind": "virtualmachineclusterinstancetype"}),
]


@pytest.mark.parametrize(("part", "field", "value"), INVALID)
def test_the_crd_and_the_models_refuse_the_same_bad_values(part, field, value):
    document = copy.deepcopy(_example_documents()[0])
    document[part][field] = value
    with pytest.raises(ValidationError):
        Wukong.model_validate(document)
    assert not Draft4Validator(openapi_schema()).is_valid(document)


@pytest.mark.parametrize(
    ("sizing", "valid"),
    [
        ({"cpu": 1, "memory": "1Gi"}, True),
        ({"instancetype": {"name": "u1.medium"}}, True),
        ({"cpu": 1}, False),
        ({"memory": "1Gi", "preference": {"name": "fedora"}}, False),
    ],
)
def test_a_vm_is_sized_by_cpu_and_memory_or_by_an_instancetype(sizing, valid):
    """The CRD says what the models say; both together (instancetype.conflict) is a finding of
    the offline checks, which point at the line."""
    document = copy.deepcopy(_example_documents()[0])
    document["spec"] = {"disks": document["spec"].get("disks", []), **sizing}
    try:
        Wukong.model_validate(document)
        model_valid = True
    except ValidationError:
        model_valid = False
    assert model_valid is valid
    assert Draft4Validator(openapi_schema()).is_valid(document) is valid
    assert Draft7Validator(editor_schema()).is_valid(document) is valid


def test_the_examples_are_valid_wukongs_for_the_crd_and_the_editors():
    for document in _example_documents():
        assert list(Draft4Validator(openapi_schema()).iter_errors(document)) == []
        assert list(Draft7Validator(editor_schema()).iter_errors(document)) == []


def test_the_editor_schema_flags_typos_like_the_loader():
    document = copy.deepcopy(_example_documents()[0])
    document["spec"]["disks"][0]["sise"] = "1Gi"
    assert not Draft7Validator(editor_schema()).is_valid(document)
    document = copy.deepcopy(_example_documents()[0])
    document["apiVersion"] = "vm.novasphere.dev/v1"
    assert not Draft7Validator(editor_schema()).is_valid(document)


def test_the_editor_schema_is_self_contained_draft7():
    text = editor_schema_json()
    assert "$ref" not in text and "$defs" not in text and '"title": "Name"' not in text
    Draft7Validator.check_schema(editor_schema())


# --- the CRD object and the files in deploy/crd -------------------------------------------------


def test_the_crd_names_the_wukong_api():
    spec = crd()["spec"]
    assert crd()["metadata"]["name"] == "wukongs.vm.novasphere.dev"
    assert (spec["group"], spec["scope"]) == ("vm.novasphere.dev", "Namespaced")
    assert (spec["names"]["kind"], spec["names"]["plural"]) == ("Wukong", "wukongs")
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_crd_yaml_round_trips():
    assert yaml.safe_load(crd_yaml()) == crd()


@pytest.mark.parametrize(
    ("path", "generate", "command"),
    [
        (CRD_FILE, crd_yaml, "wukong schema > deploy/crd/wukong.yaml"),
        (
            SCHEMA_FILE,
            editor_schema_json,
            "wukong schema --json-schema > deploy/crd/wukong.schema.json",
        ),
    ],
    ids=["crd", "editor-schema"],
)
def test_deploy_crd_files_are_fresh(path, generate, command):
    assert path.is_file(), f"{path} is missing; run: {command}"
    assert path.read_text() == generate(), (
        f"{path.relative_to(ROOT)} is stale: spec.py changed. Refresh it with: {command}"
    )


def test_wukong_schema_prints_them(capsys):
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == crd_yaml()
    assert cli.main(["schema", "--json-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == editor_schema()
