"""The Argo CD PreSync hook: what Argo CD's docs require of it, the strict Job schema, kustomize,
byte stability, and the Job's command line run through the real CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import schemas
from tests.conftest import EXAMPLES, ROOT
from tests.kustomize import kustomize
from wukong_core.cli import commands as cli
from wukong_core.pipeline import plan_specs
from wukong_core.plan import VmPlan, plans_from_json
from wukong_core.render import manifests as render
from wukong_core.render.presync import (
    COMMAND,
    DEFAULT_IMAGE,
    JOB_FILE,
    PLAN_FILE,
    PLAN_KEY,
    VERSION,
    hook_name,
    presync_hooks,
)
from wukong_core.spec.load import load_many, read_paths

HOOK = "argocd.argoproj.io/hook"
DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"


def spec(name: str, namespace: str, memory: str = "1Gi", pvc: str = "data") -> str:
    return f"""apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata:
  name: {name}
  namespace: {namespace}
spec:
  cpu: 1
  memory: {memory}
  disks:
  - name: system
    size: 10Gi
    image: docker://quay.io/containerdisks/fedora:40
  - name: data
    existingPVC:
      name: {pvc}
"""


def plans_of(files: dict[str, str]) -> list[VmPlan]:
    specs, findings = load_many(files.items())
    assert findings == []
    plans, findings = plan_specs(specs)
    assert [f for f in findings if f.severity == "error"] == []
    return plans


def example_plans() -> list[VmPlan]:
    specs, _ = load_many(read_paths([str(EXAMPLES / "specs")]))
    return plan_specs(specs)[0]


def hooks(plans: list[VmPlan], namespace: str = "vms", **settings: Any) -> dict[str, Any]:
    members = [p for p in plans if p.namespace == namespace]
    return presync_hooks(**settings)(namespace, members)


@pytest.fixture
def job() -> dict[str, Any]:
    return hooks(example_plans())[JOB_FILE]


@pytest.fixture
def configmap() -> dict[str, Any]:
    return hooks(example_plans())[PLAN_FILE]


# --- what the Argo CD docs (reference/argo-cd) say a hook needs ---------------------------------


@pytest.fixture(scope="module")
def argo_docs(reference_dir: Path) -> str:
    docs = reference_dir / "argo-cd"
    return (docs / "resource_hooks.v3.0.0.md").read_text() + (
        docs / "sync-waves.v3.5.1.md"
    ).read_text()


def _table_values(doc: str, header: str) -> set[str]:
    """The first column of the markdown table headed `| <header> |`, e.g. the hook names."""
    values = set()
    for table in re.findall(rf"\| {header}\s*\|.*?\n((?:\|.*\n)+)", doc):
        values |= set(re.findall(r"^\| `(\w+)`", table, re.MULTILINE))
    return values


def test_both_hooks_are_presync_hooks_as_the_docs_spell_them(argo_docs, job, configmap):
    assert "argocd.argoproj.io/hook: PreSync" in argo_docs
    assert "PreSync" in _table_values(argo_docs, "Hook")
    for obj in (job, configmap):
        assert obj["metadata"]["annotations"][HOOK] == "PreSync"


def test_delete_policies_are_documented_and_fit_named_hooks(argo_docs, job, configmap):
    documented = _table_values(argo_docs, "Policy")
    assert {"BeforeHookCreation", "HookSucceeded"} <= documented
    # "Named hooks (i.e. ones with /metadata/name) will only be created once. If you want a hook
    # to be re-created each time either use BeforeHookCreation policy ... or generateName."
    assert "use `BeforeHookCreation` policy" in argo_docs
    for obj in (job, configmap):
        policies = obj["metadata"]["annotations"][DELETE_POLICY].split(",")
        assert set(policies) <= documented
        assert "BeforeHookCreation" in policies and "name" in obj["metadata"]
        assert "generateName" not in obj["metadata"]


def test_the_plan_comes_in_an_earlier_sync_wave_than_the_job(argo_docs, job, configmap):
    assert f"{SYNC_WAVE}: " in argo_docs and "lowest number" in argo_docs
    waves = [int(obj["metadata"]["annotations"][SYNC_WAVE]) for obj in (configmap, job)]
    assert waves[0] < waves[1]


def test_hooks_use_argo_cd_s_default_apply(configmap, job):
    # Server-side apply breaks hooks (argoproj/argo-cd#12936, #14929): no sync-options here.
    for obj in (configmap, job):
        assert "argocd.argoproj.io/sync-options" not in obj["metadata"]["annotations"]


def test_no_ttl_because_the_docs_say_it_leaves_the_app_out_of_sync(argo_docs, job):
    assert "ttlSecondsAfterFinished" in argo_docs and "OutOfSync" in argo_docs
    assert "ttlSecondsAfterFinished" not in job["spec"]


# --- the Job itself -----------------------------------------------------------------------------


def test_job_passes_the_strict_kubernetes_schema(reference_dir, job):
    assert schemas.errors(reference_dir, schemas.JOB, job) == []


def test_job_fails_fast_and_runs_once(job):
    spec = job["spec"]
    assert spec["backoffLimit"] == 1
    assert 0 < spec["activeDeadlineSeconds"] <= 600
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_job_and_plan_share_the_validator_namespace_and_name(job, configmap):
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == configmap["metadata"]["namespace"] == "wukong-system"
    assert pod["serviceAccountName"] == "wukong-validator"
    volume = next(v for v in pod["volumes"] if v["name"] == "plan")
    [source] = volume["projected"]["sources"]
    assert source["configMap"]["name"] == configmap["metadata"]["name"] == "wukong-presync-vms"


def test_job_is_hardened(job):
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}
    for obj in (job, job["spec"]["template"]):
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "wukong"


def test_job_command_is_what_the_cli_accepts(job):
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == list(COMMAND) and "args" not in container
    assert container["command"][0] == "wukong"  # the console script (pyproject.toml)
    args = cli.build_parser().parse_args(container["command"][1:])
    assert (args.command, args.plan, args.in_cluster, args.format) == (
        "validate",
        "/plan",
        True,
        "text",
    )
    mount = next(m for m in container["volumeMounts"] if m["name"] == "plan")
    assert args.plan == mount["mountPath"]


def test_the_job_command_prints_findings_and_fails_on_errors(tmp_path, configmap, capsys):
    """The Job's own argv, with the plan from its ConfigMap and a cluster with no PVCs in it."""
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "plan-0.json").write_text(configmap["data"][PLAN_KEY])
    snapshot = tmp_path / "cluster.yaml"
    snapshot.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": []}))
    argv = [a if a != "/plan" else str(plan) for a in COMMAND[1:]]
    argv[argv.index("--in-cluster")] = f"--cluster-snapshot={snapshot}"
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert re.search(r"^\S*examples/specs/vm-from-pvc\.yaml:\d+: error pvc\.not-found: ", out, re.M)
    assert re.search(r"^\d+ error\(s\), \d+ warning\(s\), \d+ info$", out, re.M)


# --- the ConfigMap: the namespace's plan --------------------------------------------------------


def test_configmap_holds_exactly_the_namespace_plan():
    plans = plans_of({"a.yaml": spec("web", "vms"), "b.yaml": spec("db", "other")})
    configmap = hooks(plans)[PLAN_FILE]
    assert list(configmap["data"]) == [PLAN_KEY]
    assert plans_from_json(configmap["data"][PLAN_KEY]) == [
        p for p in plans if p.namespace == "vms"
    ]


@pytest.mark.parametrize("note", ["", '"quoted" \\ and escaped\\ ' * 8])
def test_a_large_plan_is_cut_into_configmaps_that_kubectl_apply_can_record(tmp_path, note):
    one = plans_of({"a.yaml": spec("web", "vms")})[0]
    if note:  # quotes and backslashes: each grows again in the apply annotation
        one = dataclasses.replace(one, annotations=(("team/note", note),))
    plans = [dataclasses.replace(one, name=f"vm-{i:04d}") for i in range(2500)]
    made = hooks(plans)
    count = sum(name.startswith("wukong-presync-plan") for name in made)
    assert count > 1
    parts = [made[PLAN_FILE]] + [made[f"wukong-presync-plan-{i}.yaml"] for i in range(1, count)]
    for configmap in parts:  # what kubectl apply copies into its annotation
        assert len(json.dumps(configmap)) < 256 * 1024
    names = [c["metadata"]["name"] for c in parts]
    assert names == ["wukong-presync-vms"] + [f"wukong-presync-vms.{i}" for i in range(1, count)]
    volume = next(
        v for v in made[JOB_FILE]["spec"]["template"]["spec"]["volumes"] if v["name"] == "plan"
    )
    sources = [s["configMap"] for s in volume["projected"]["sources"]]
    assert [s["name"] for s in sources] == names
    assert [s["items"][0]["path"] for s in sources] == [f"plan-{i}.json" for i in range(count)]
    for source, configmap in zip(sources, parts, strict=True):  # as the pod sees /plan
        (tmp_path / source["items"][0]["path"]).write_text(configmap["data"][PLAN_KEY])
    assert cli.read_plans(tmp_path) == plans


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "namespace", ["vms", "a" * 48, "a" * 49, "x" * 63, "ends-" + "-" * 50 + "a"]
)
def test_hook_names_are_dns_labels_of_at_most_63(namespace):
    name = hook_name(namespace)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name.startswith("wukong-presync-")


def test_long_namespaces_sharing_a_prefix_get_different_hooks():
    first, second = "team-" + "a" * 50 + "-one", "team-" + "a" * 50 + "-two"
    assert hook_name(first) != hook_name(second)
    assert hook_name("vms") == "wukong-presync-vms"  # readable when it fits


def test_hooks_of_several_directories_never_collide():
    plans = plans_of({f"{ns}.yaml": spec("web", ns) for ns in ("a", "b", "c")})
    tree = render.render_tree(plans, presync_hooks())
    objects = [yaml.safe_load(data) for path, data in tree.items() if "presync" in path]
    keys = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects}
    assert len(keys) == len(objects) == 6


# --- settings -----------------------------------------------------------------------------------


def test_image_and_namespace_are_settings():
    made = hooks(example_plans(), image="registry.local/wukong:dev", job_namespace="ops")
    job, configmap = made[JOB_FILE], made[PLAN_FILE]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/wukong:dev"
    assert job["metadata"]["namespace"] == configmap["metadata"]["namespace"] == "ops"


@pytest.mark.parametrize(
    ("image", "namespace"), [("", "wukong-system"), ("a b", "ok"), ("img", "Bad_NS"), ("img", "")]
)
def test_settings_that_can_never_work_are_refused_up_front(image, namespace):
    with pytest.raises(ValueError):
        presync_hooks(image, namespace)


def test_default_image_is_pinned_to_the_package_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == VERSION
    assert DEFAULT_IMAGE.endswith(f":{VERSION}")


# --- byte stability -----------------------------------------------------------------------------


def _hook_bytes(files: dict[str, str]) -> dict[str, bytes]:
    tree = render.render_tree(plans_of(files), presync_hooks())
    return {path: data for path, data in tree.items() if "presync" in path}


def test_hooks_are_byte_stable():
    files = {"a.yaml": spec("web", "vms"), "b.yaml": spec("db", "vms")}
    first = _hook_bytes(files)
    assert first == _hook_bytes(dict(reversed(files.items())))
    assert first == _hook_bytes(files)


def test_hooks_change_only_with_their_namespace_specs():
    base = {"a.yaml": spec("web", "vms"), "b.yaml": spec("db", "other")}
    first = _hook_bytes(base)
    elsewhere = _hook_bytes({**base, "b.yaml": spec("db", "other", memory="2Gi")})
    assert {p: d for p, d in elsewhere.items() if p.startswith("vms/")} == {
        p: d for p, d in first.items() if p.startswith("vms/")
    }
    here = _hook_bytes({**base, "a.yaml": spec("web", "vms", pvc="other-data")})
    assert here[f"vms/{PLAN_FILE}"] != first[f"vms/{PLAN_FILE}"]
    assert here[f"vms/{JOB_FILE}"] == first[f"vms/{JOB_FILE}"]  # the Job reads the plan


# --- kustomize and the CLI ----------------------------------------------------------------------


def test_rendered_output_with_hooks_builds_withkustomize(tmp_path):
    assert cli.main(["render", str(EXAMPLES / "specs"), "-o", str(tmp_path), "--offline"]) == 0
    for root in (tmp_path, tmp_path / "vms"):
        objects = kustomize(root)
        hook_objects = [o for o in objects if HOOK in o["metadata"].get("annotations", {})]
        assert {(o["kind"], o["metadata"]["namespace"]) for o in hook_objects} == {
            ("ConfigMap", "wukong-system"),
            ("Job", "wukong-system"),
        }
        assert {o["metadata"]["namespace"] for o in objects if o not in hook_objects} == {"vms"}


def test_cli_render_flags(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["render", str(EXAMPLES / "specs"), "-o", str(out), "--offline"]
    assert cli.main([*argv, "--hook-image", "r.example/w:1", "--hook-namespace", "ops"]) == 0
    job = yaml.safe_load((out / "vms" / JOB_FILE).read_text())
    assert job["metadata"]["namespace"] == "ops"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example/w:1"
    kustomization = yaml.safe_load((out / "vms" / "kustomization.yaml").read_text())
    assert {JOB_FILE, PLAN_FILE} <= set(kustomization["resources"])
    assert cli.main([*argv, "--no-hooks"]) == 0
    assert not (out / "vms" / JOB_FILE).exists()  # the generated hook files are pruned
    assert "presync" not in json.dumps(
        yaml.safe_load((out / "vms" / "kustomization.yaml").read_text())
    )
    capsys.readouterr()
    assert cli.main([*argv, "--hook-namespace", "Not_A_Label"]) == 2
    assert "hook namespace" in capsys.readouterr().err
