"""deploy/: the Kubernetes manifests build and grant exactly the reads the code makes; the image,
the Cloud deploy script, the Argo CD examples and the pre-commit hook say what the code expects."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import schemas
from tests.conftest import ROOT
from wukong_core import cli, presync
from wukong_core.cluster import RESOURCES

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
READ_VERBS = {"get", "list", "watch"}


def _manifests() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in _manifests() if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''} in {KUBERNETES}"
    return found[0]


def _schema_file(obj: dict[str, Any]) -> str:
    """yannh/kubernetes-json-schema naming: <kind>[-<group>]-<version>.json."""
    group, _, version = obj["apiVersion"].rpartition("/")
    parts = (
        [obj["kind"].lower(), group.split(".")[0], version]
        if group
        else [obj["kind"].lower(), version]
    )
    return "-".join(parts) + ".json"


# --- kustomize and the official schemas ---------------------------------------------------------


def test_deploy_kubernetes_builds_with_kustomize():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    expected = "ClusterRole ClusterRoleBinding ConfigMap Deployment Namespace Service"
    assert kinds == sorted([*expected.split(), "ServiceAccount", "ServiceAccount"])


def test_manifests_with_an_official_schema_pass_it_strictly(reference_dir):
    folder = Path(schemas.JOB).parent
    for obj in _manifests():
        relative = str(folder / _schema_file(obj))
        if (reference_dir / relative).is_file():
            assert schemas.errors(reference_dir, relative, obj) == [], obj["metadata"]["name"]


def test_every_namespaced_object_names_the_validator_namespace():
    for obj in _manifests():
        if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == presync.DEFAULT_JOB_NAMESPACE, obj["kind"]
    assert _one("Namespace")["metadata"]["name"] == presync.DEFAULT_JOB_NAMESPACE


# --- RBAC: exactly the reads wukong_core/cluster.py makes ---------------------------------------


def _rules() -> list[dict[str, Any]]:
    return _one("ClusterRole", presync.SERVICE_ACCOUNT)["rules"]


def _granted(group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in _rules():
        if group in rule.get("apiGroups", ()) and resource in rule.get("resources", ()):
            verbs |= set(rule["verbs"])
    return verbs


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_the_cluster_role_grants_each_resource_the_validator_lists(resource):
    assert _granted(RESOURCES[resource].group, resource) == READ_VERBS


def test_the_cluster_role_grants_nothing_else():
    wanted = {(r.group, name) for name, r in RESOURCES.items()}
    for rule in _rules():
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no nonResourceURLs, names
        assert set(rule["verbs"]) <= READ_VERBS
        granted = {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
        assert granted <= wanted, granted - wanted  # no "*", no secrets, no subresources


def test_the_binding_gives_the_role_to_the_presync_service_account():
    binding = _one("ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": presync.SERVICE_ACCOUNT,
    }
    subjects = {(s["kind"], s["namespace"], s["name"]) for s in binding["subjects"]}
    validator = ("ServiceAccount", presync.DEFAULT_JOB_NAMESPACE, presync.SERVICE_ACCOUNT)
    assert validator in subjects
    accounts = {
        ("ServiceAccount", o["metadata"]["namespace"], o["metadata"]["name"])
        for o in _manifests()
        if o["kind"] == "ServiceAccount"
    }
    assert subjects == accounts


# --- the HTTP Deployment and the image ----------------------------------------------------------


def _container() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_the_deployment_is_hardened():
    pod = _one("Deployment")["spec"]["template"]["spec"]
    container = _container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == presync.RUN_AS
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}


def test_the_deployment_probes_healthz_and_reads_its_secret():
    container = _container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"secretRef": {"name": "wukong"}} in container["envFrom"]
    assert container["image"] == presync.DEFAULT_IMAGE  # one release for the function and Job
    (port,) = container["ports"]
    service = _one("Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_dockerfile_runs_the_function_as_the_job_user():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install -r requirements\.txt$", text, re.M)
    assert f"USER {presync.RUN_AS}:{presync.RUN_AS}" in text  # numeric: runAsNonRoot checks it
    assert re.search(r'^CMD \["functions-framework", "--target=wukong"', text, re.M)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :] and "!wukong_core/" in ignore  # .venv stays out


# --- the Cloud deploy script --------------------------------------------------------------------


@pytest.fixture
def fake_gcloud(tmp_path) -> Path:
    """A `gcloud` that logs its arguments and the env-vars file it was given."""
    log = tmp_path / "gcloud.log"
    script = tmp_path / "bin" / "gcloud"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'for a in "$@"; do echo "ARG $a" >> {log}; '
        f'case "$a" in --env-vars-file=*) cat "${{a#--env-vars-file=}}" >> {log};; esac; done\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def _deploy(env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    path = f"{log.parent / 'bin'}{os.pathsep}{os.environ['PATH']}"
    clean = {"PATH": path, "HOME": str(log.parent), **env}
    return subprocess.run(
        ["bash", str(DEPLOY / "cloudrun.sh")], env=clean, capture_output=True, text=True
    )


def _env_vars(log: str) -> dict[str, str]:
    """The env-vars file the fake gcloud copied into its log, right after that argument."""
    lines = log.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("ARG --env-vars-file="))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("ARG "))
    return yaml.safe_load("\n".join(lines[start + 1 : end]))


def test_cloud_deploy_needs_its_parameters(fake_gcloud):
    result = _deploy({}, fake_gcloud)
    assert result.returncode == 2 and "PROJECT" in result.stderr and not fake_gcloud.exists()
    result = _deploy({"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "TARGET": "run"}, fake_gcloud)
    assert result.returncode == 2 and "IMAGE" in result.stderr


def test_cloud_deploy_takes_secrets_from_secret_manager(fake_gcloud):
    repos = "https://git.example.com/a.git,https://git.example.com/team/*"
    result = _deploy({"PROJECT": "p", "WUKONG_ALLOWED_REPOS": repos}, fake_gcloud)
    assert result.returncode == 0, result.stderr
    log = fake_gcloud.read_text()
    assert "ARG functions\nARG deploy\nARG wukong\nARG --gen2\n" in log
    assert "ARG --entry-point=wukong\n" in log
    secrets = re.search(r"^ARG --set-secrets=(.*)$", log, re.M).group(1).split(",")
    assert secrets == [
        "WUKONG_WEBHOOK_SECRET=wukong-webhook-secret:latest",
        "WUKONG_GIT_TOKEN=wukong-git-token:latest",
    ]
    assert _env_vars(log)["WUKONG_ALLOWED_REPOS"] == repos  # commas intact


def test_a_ci_token_secret_is_mapped_when_named(fake_gcloud):
    env = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "API_TOKEN_SECRET_NAME": "wukong-ci"}
    assert _deploy(env, fake_gcloud).returncode == 0
    secrets = re.search(r"^ARG --set-secrets=(.*)$", fake_gcloud.read_text(), re.M).group(1)
    assert secrets.split(",")[-1] == "WUKONG_API_TOKEN=wukong-ci:latest"


def test_cloud_run_deploys_the_given_image(fake_gcloud):
    env = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "TARGET": "run", "IMAGE": "r/w:1"}
    assert _deploy(env, fake_gcloud).returncode == 0
    log = fake_gcloud.read_text()
    assert "ARG run\nARG deploy\nARG wukong\nARG --image=r/w:1\n" in log
    assert "--set-secrets=WUKONG_WEBHOOK_SECRET=" in log


def test_cloud_deploy_script_is_strict_bash():
    text = (DEPLOY / "cloudrun.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(DEPLOY / "cloudrun.sh")]).returncode == 0


# --- Argo CD ------------------------------------------------------------------------------------


def _argocd(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "argocd" / name).read_text())


def test_the_application_syncs_the_rendered_root():
    app = _argocd("application.yaml")
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["spec"]["source"]["path"] == "rendered"
    assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"


def test_the_applicationset_makes_one_application_per_namespace_directory():
    appset = _argocd("applicationset.yaml")
    assert appset["kind"] == "ApplicationSet"
    (generator,) = appset["spec"]["generators"]
    assert generator["git"]["directories"] == [{"path": "rendered/*"}]
    template = appset["spec"]["template"]
    assert "{{.path.basename}}" in template["metadata"]["name"]
    assert template["spec"]["source"]["path"] == "{{.path.path}}"
    assert template["spec"]["destination"]["namespace"] == "{{.path.basename}}"
    assert "quadratically" in (DEPLOY / "argocd" / "applicationset.yaml").read_text()


# --- pre-commit ---------------------------------------------------------------------------------


def test_the_pre_commit_hook_runs_offline_validation_on_yaml():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "wukong-validate"
    assert (hook["language"], hook["pass_filenames"]) == ("python", True)
    assert re.search(hook["files"], "wukong/vms/web.yaml")
    assert re.search(hook["files"], "a.yml") and not re.search(hook["files"], "a.json")
    entry = hook["entry"].split()
    assert entry[0] == "wukong"  # the console script pre-commit installs from pyproject.toml
    args = cli.build_parser().parse_args([*entry[1:], "web.yaml", "db.yaml"])
    assert (args.command, args.offline, args.paths) == ("validate", True, ["web.yaml", "db.yaml"])
