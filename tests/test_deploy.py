"""deploy/: the Kubernetes manifests build and grant exactly the reads the code makes; the image,
the Cloud deploy script, the Argo CD examples and the pre-commit hook say what the code expects."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import schemas
from tests.conftest import ROOT
from tests.kustomize import kustomize
from tests.specs import plan_one, wukong
from wukong_core.cli import commands as cli
from wukong_core.cluster.resources import RESOURCES
from wukong_core.render import presync

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
VALIDATOR = KUBERNETES / "validator"  # every destination cluster
FUNCTION = KUBERNETES / "function"  # the HTTP function, offline
IN_CLUSTER = KUBERNETES / "in-cluster"  # the HTTP function, validating against its cluster
READ_VERBS = {"get", "list", "watch"}


def _files(folder: Path) -> list[dict[str, Any]]:
    """The objects of a folder's own manifests (not what it includes), without kubectl."""
    objects = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((o["kind"], o["metadata"]["name"]) for o in objects)


def _schema_file(obj: dict[str, Any]) -> str:
    """yannh/kubernetes-json-schema naming: <kind>[-<group>]-<version>.json."""
    group, _, version = obj["apiVersion"].rpartition("/")
    parts = (
        [obj["kind"].lower(), group.split(".")[0], version]
        if group
        else [obj["kind"].lower(), version]
    )
    return "-".join(parts) + ".json"


# --- what each install creates ------------------------------------------------------------------

VALIDATOR_OBJECTS = [
    ("ClusterRole", presync.SERVICE_ACCOUNT),
    ("ClusterRoleBinding", presync.SERVICE_ACCOUNT),
    ("Namespace", presync.DEFAULT_JOB_NAMESPACE),
    ("ServiceAccount", presync.SERVICE_ACCOUNT),
]


def test_the_validator_install_is_the_namespace_the_account_and_the_read_only_role():
    """What every destination cluster needs for the PreSync hooks, and nothing else: no
    Deployment, and no Secret that would have to exist first."""
    objects = kustomize(VALIDATOR)
    assert _kinds(objects) == VALIDATOR_OBJECTS
    binding = _one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": presync.SERVICE_ACCOUNT,
            "namespace": presync.DEFAULT_JOB_NAMESPACE,
        }
    ]


def test_the_rendered_hook_runs_where_the_validator_install_put_its_account():
    job = presync.presync_hooks(presync.DEFAULT_IMAGE, presync.DEFAULT_JOB_NAMESPACE)(
        "vms", [plan_one(wukong("web", "vms"))]
    )[presync.JOB_FILE]
    account = _one(_files(VALIDATOR), "ServiceAccount")["metadata"]
    assert job["metadata"]["namespace"] == account["namespace"]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]


def test_the_function_install_includes_the_validator_and_reads_no_cluster_by_default():
    objects = kustomize(FUNCTION)
    assert _kinds(objects) == sorted(
        [
            *VALIDATOR_OBJECTS,
            ("ConfigMap", _one(objects, "ConfigMap")["metadata"]["name"]),
            ("Deployment", "wukong"),
            ("NetworkPolicy", "wukong"),
            ("Service", "wukong"),
            ("ServiceAccount", "wukong"),
        ]
    )
    assert _one(objects, "ConfigMap")["data"]["WUKONG_CLUSTER"] == "offline"
    assert _one(objects, "ServiceAccount", "wukong")["automountServiceAccountToken"] is False
    bound = {s["name"] for s in _one(objects, "ClusterRoleBinding")["subjects"]}
    assert bound == {presync.SERVICE_ACCOUNT}  # the function holds no cluster role offline


def test_the_in_cluster_overlay_binds_the_same_role_and_lets_the_function_read():
    objects = kustomize(IN_CLUSTER)
    assert _one(objects, "ConfigMap")["data"]["WUKONG_CLUSTER"] == "in-cluster"
    assert _one(objects, "ServiceAccount", "wukong")["automountServiceAccountToken"] is True
    binding = _one(objects, "ClusterRoleBinding", "wukong")
    assert binding["roleRef"]["name"] == presync.SERVICE_ACCOUNT
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "wukong", "namespace": presync.DEFAULT_JOB_NAMESPACE}
    ]
    configmap = _one(objects, "ConfigMap")["metadata"]["name"]
    env = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": configmap}} in env  # kustomize renamed the reference too
    assert _egress_ports(_one(objects, "NetworkPolicy")) == {
        ("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)
    }  # fmt: skip


def test_there_is_one_cluster_role_and_both_installs_use_it():
    """One source of truth: the function install reaches the role through validator/."""
    sources = [
        path.relative_to(KUBERNETES).as_posix()
        for path in KUBERNETES.rglob("*.yaml")
        if any(o.get("kind") == "ClusterRole" for o in yaml.safe_load_all(path.read_text()) if o)
    ]
    assert sources == ["validator/clusterrole.yaml"]
    for folder in (FUNCTION, IN_CLUSTER):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        assert {"../validator", "../function"} & set(kustomization["resources"])


@pytest.mark.parametrize("folder", [VALIDATOR, FUNCTION, IN_CLUSTER], ids=lambda f: f.name)
def test_every_object_passes_the_official_schemas_there_are(folder, reference_dir):
    """The reference data holds the Kubernetes schemas of Job and PVC only. Every object's
    metadata is an ObjectMeta (checked against the Job schema's, strictly) and the Deployment's
    pod template is a PodTemplateSpec (the Job's). Namespace, ServiceAccount, the RBAC kinds,
    ConfigMap, Service, NetworkPolicy and the Deployment's own spec have no schema there."""
    for obj in kustomize(folder):
        where = f"{obj['kind']} {obj['metadata']['name']}"
        assert (
            schemas.errors(reference_dir, schemas.JOB, obj["metadata"], schemas.OBJECT_META) == []
        ), where
        whole = str(Path(schemas.JOB).parent / _schema_file(obj))
        if (reference_dir / whole).is_file():
            assert schemas.errors(reference_dir, whole, obj) == [], where
        if obj["kind"] == "Deployment":
            template = obj["spec"]["template"]
            assert schemas.errors(reference_dir, schemas.JOB, template, schemas.POD_TEMPLATE) == []


def test_every_namespaced_object_names_the_validator_namespace():
    for folder in (VALIDATOR, FUNCTION):
        for obj in _files(folder):
            if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                assert obj["metadata"]["namespace"] == presync.DEFAULT_JOB_NAMESPACE, obj["kind"]
    assert _one(_files(VALIDATOR), "Namespace")["metadata"]["name"] == (
        presync.DEFAULT_JOB_NAMESPACE
    )


# --- RBAC: exactly the reads wukong_core/cluster.py makes ---------------------------------------


def _rules() -> list[dict[str, Any]]:
    return _one(_files(VALIDATOR), "ClusterRole", presync.SERVICE_ACCOUNT)["rules"]


def _granted(group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in _rules():
        if group in rule.get("apiGroups", ()) and resource in rule.get("resources", ()):
            verbs |= set(rule["verbs"])
    return verbs


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_the_cluster_role_grants_each_resource_the_validator_lists(resource):
    assert _granted(RESOURCES[resource].group, resource) == READ_VERBS


def test_the_cluster_role_grants_exactly_the_resources_the_code_reads():
    """Both lists derived, one from the code (cluster.RESOURCES, what LiveCluster can LIST) and
    one from the role, so a new read without its grant fails here, and so does a stale grant."""
    read = {(r.group, name) for name, r in RESOURCES.items()}
    granted = set()
    for rule in _rules():
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no nonResourceURLs, names
        assert set(rule["verbs"]) <= READ_VERBS
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == read  # no "*", no secrets, no subresources, nothing missing


def test_the_validator_never_reads_secrets():
    """Specs name the Secrets of cloud-init data and SSH keys; nothing reads them, and the
    role says why there is no grant."""
    assert "secrets" not in RESOURCES
    assert all("secrets" not in rule["resources"] for rule in _rules())
    assert "No Secrets, on purpose" in (VALIDATOR / "clusterrole.yaml").read_text()


# --- the HTTP Deployment, its NetworkPolicy and the image ---------------------------------------


def _container() -> dict[str, Any]:
    (container,) = _one(_files(FUNCTION), "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_the_deployment_is_hardened():
    pod = _one(_files(FUNCTION), "Deployment")["spec"]["template"]["spec"]
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
    service = _one(_files(FUNCTION), "Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    labels = _one(_files(FUNCTION), "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def _egress_ports(policy: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}


def test_the_network_policy_fences_the_function_to_dns_https_and_its_own_port():
    policy = _one(_files(FUNCTION), "NetworkPolicy")
    pod = _one(_files(FUNCTION), "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]  # both directions deny the rest
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [
        {"protocol": "TCP", "port": _container()["ports"][0]["containerPort"]}
    ]
    # Plain HTTP (80) stays closed: the cloud metadata endpoint is not reachable from here.
    assert _egress_ports(policy) == {("UDP", 53), ("TCP", 53), ("TCP", 443)}
    assert all("to" not in rule for rule in policy["spec"]["egress"])  # Git hosts are anywhere


def test_the_dockerfile_runs_the_function_as_the_job_user():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install -r requirements\.txt$", text, re.M)
    assert f"USER {presync.RUN_AS}:{presync.RUN_AS}" in text  # numeric: runAsNonRoot checks it
    assert re.search(r'^CMD \["functions-framework", "--target=wukong"', text, re.M)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1 :] and "!wukong_core/" in ignore  # .venv stays out
    assert "!LICENSE" in ignore and re.search(r"^COPY .*LICENSE", text, re.M)  # pyproject needs it


# --- the Cloud deploy script --------------------------------------------------------------------


@pytest.fixture
def fake_gcloud(tmp_path) -> Path:
    """A `gcloud` that logs its arguments, the env-vars file it was given, and each line of a
    flags file (as `FLAGS <line>`)."""
    log = tmp_path / "gcloud.log"
    script = tmp_path / "bin" / "gcloud"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'for a in "$@"; do echo "ARG $a" >> {log}; '
        f'case "$a" in --env-vars-file=*) cat "${{a#--env-vars-file=}}" >> {log};; '
        f'--flags-file=*) sed "s/^/FLAGS /" "${{a#--flags-file=}}" >> {log};; esac; done\n'
        # What the queue set-up asks: the deployed URL, the project number, the push token;
        # no Pub/Sub resource exists yet.
        'case "$1 $2 $3" in\n'
        '  "run services describe"|"functions describe "*) echo https://wukong-x.a.run.app;;\n'
        '  "projects describe "*) echo 123456789;;\n'
        '  "secrets versions access") echo push-tok-77;;\n'
        '  "pubsub topics describe"|"pubsub subscriptions describe") exit 1;;\n'
        "esac\n"
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


def _calls(log: str) -> list[list[str]]:
    """The gcloud command lines in the log, one list of arguments each."""
    calls: list[list[str]] = []
    for line in log.split("\n"):
        if line.startswith("ARG "):
            value = line[4:]
            if value in ("run", "functions", "pubsub", "projects", "secrets"):
                calls.append([])  # a command's first word: a new call
            calls[-1].append(value)
    return calls


QUEUE = "pubsub:projects/p/topics/wukong-deliveries"


def test_without_a_queue_no_pub_sub_resource_is_made(fake_gcloud):
    assert _deploy({"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x"}, fake_gcloud).returncode == 0
    log = fake_gcloud.read_text()
    assert "ARG pubsub" not in log and "WUKONG_QUEUE" not in _env_vars(log)
    assert "ARG --timeout=300s" in log and "ARG --allow-unauthenticated" in log


def test_a_queue_defaults_to_oidc_and_needs_the_push_service_account(fake_gcloud):
    """The token mode's secret ends up in the subscription and Cloud Run's request log, so
    it is no default: OIDC is, and it needs the account Pub/Sub pushes as."""
    env = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "WUKONG_QUEUE": QUEUE}
    result = _deploy(env, fake_gcloud)
    assert result.returncode == 2 and "PUSH_SERVICE_ACCOUNT" in result.stderr
    assert not fake_gcloud.exists()  # nothing deployed
    sa = "wukong-push@p.iam.gserviceaccount.com"
    assert _deploy(env | {"PUSH_SERVICE_ACCOUNT": sa}, fake_gcloud).returncode == 0
    log = fake_gcloud.read_text()
    assert "WUKONG_PUBSUB_TOKEN" not in log and "?token=" not in log
    assert _env_vars(log)["WUKONG_PUBSUB_SERVICE_ACCOUNT"] == sa


def test_a_queue_makes_the_topic_dead_letters_and_a_push_subscription_with_a_token(fake_gcloud):
    env = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "TARGET": "run", "IMAGE": "r/w:1",
           "WUKONG_QUEUE": QUEUE, "RUNTIME_SA": "wukong@p.iam.gserviceaccount.com",
           "PUSH_AUTH": "token"}  # fmt: skip
    result = _deploy(env, fake_gcloud)
    assert result.returncode == 0, result.stderr
    log = fake_gcloud.read_text()
    assert _env_vars(log)["WUKONG_QUEUE"] == QUEUE
    secrets = re.search(r"^ARG --set-secrets=(.*)$", log, re.M).group(1).split(",")
    assert "WUKONG_PUBSUB_TOKEN=wukong-pubsub-token:latest" in secrets
    assert "ARG --timeout=120s" in log  # the ack deadline bounds a push's request
    calls = [" ".join(c) for c in _calls(log)]
    assert "pubsub topics create wukong-deliveries --project=p" in calls
    assert "pubsub topics create wukong-deliveries-dead-letter --project=p" in calls
    assert ("pubsub subscriptions create wukong-deliveries-dead-letter-sub "
            "--topic=wukong-deliveries-dead-letter --project=p") in calls  # fmt: skip
    [create] = [
        c for c in calls if c.startswith("pubsub subscriptions create wukong-deliveries-push")
    ]
    # The token reaches gcloud in a flags file: no process listing shows it.
    assert "FLAGS --push-endpoint: 'https://wukong-x.a.run.app/pubsub?token=push-tok-77'" in log
    assert not any("push-tok-77" in line for line in log.split("\n") if line.startswith("ARG "))
    for flag in (
        "--topic=wukong-deliveries",
        "--enable-message-ordering",
        "--ack-deadline=120",
        "--dead-letter-topic=wukong-deliveries-dead-letter",
        "--max-delivery-attempts=5",
        "--min-retry-delay=10s",
        "--max-retry-delay=600s",
    ):
        assert flag in create.split(), flag  # fmt: skip
    agent = "serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert (f"pubsub topics add-iam-policy-binding wukong-deliveries-dead-letter --member={agent} "
            "--role=roles/pubsub.publisher --project=p") in calls  # fmt: skip
    assert (f"pubsub subscriptions add-iam-policy-binding wukong-deliveries-push --member={agent}"
            " --role=roles/pubsub.subscriber --project=p") in calls  # fmt: skip
    assert ("pubsub topics add-iam-policy-binding wukong-deliveries "
            "--member=serviceAccount:wukong@p.iam.gserviceaccount.com "
            "--role=roles/pubsub.publisher --project=p") in calls  # fmt: skip


def test_in_app_oidc_names_the_audience_and_the_account_on_both_sides(fake_gcloud):
    sa = "wukong-push@p.iam.gserviceaccount.com"
    env = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "WUKONG_QUEUE": QUEUE,
           "PUSH_AUTH": "oidc", "PUSH_SERVICE_ACCOUNT": sa}  # fmt: skip
    assert _deploy(env, fake_gcloud).returncode == 0
    log = fake_gcloud.read_text()
    assert _env_vars(log)["WUKONG_PUBSUB_AUDIENCE"] == "wukong-pubsub/p/wukong"
    assert _env_vars(log)["WUKONG_PUBSUB_SERVICE_ACCOUNT"] == sa
    assert "WUKONG_PUBSUB_TOKEN" not in log
    [create] = [c for c in _calls(log) if c[:3] == ["pubsub", "subscriptions", "create"]
                and c[3].endswith("-push")]  # fmt: skip
    assert "--push-endpoint=https://wukong-x.a.run.app/pubsub" in create
    assert f"--push-auth-service-account={sa}" in create
    assert "--push-auth-token-audience=wukong-pubsub/p/wukong" in create


def test_two_services_a_private_worker_and_a_public_webhook_that_queues_for_it(fake_gcloud):
    sa = "wukong-push@p.iam.gserviceaccount.com"
    worker = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "TARGET": "run", "IMAGE": "r/w:1",
              "SERVICE": "wukong-worker", "PRIVATE": "1",
              "PUBSUB_TOKEN_SECRET_NAME": "wukong-pubsub-token"}  # fmt: skip
    assert _deploy(worker, fake_gcloud).returncode == 0
    log = fake_gcloud.read_text()
    assert "ARG --no-allow-unauthenticated" in log and "ARG pubsub" not in log
    assert "WUKONG_PUBSUB_TOKEN=wukong-pubsub-token:latest" in log
    fake_gcloud.unlink()
    web = {"PROJECT": "p", "WUKONG_ALLOWED_REPOS": "x", "TARGET": "run", "IMAGE": "r/w:1",
           "WUKONG_QUEUE": QUEUE, "PUSH_SERVICE_ACCOUNT": sa, "WORKER_SERVICE": "wukong-worker",
           "PUSH_ENDPOINT": "https://wukong-worker-x.a.run.app/pubsub"}  # fmt: skip
    assert _deploy(web, fake_gcloud).returncode == 0
    calls = _calls(fake_gcloud.read_text())
    [create] = [c for c in calls if c[:3] == ["pubsub", "subscriptions", "create"]
                and c[3].endswith("-push")]  # fmt: skip
    assert (
        "FLAGS --push-endpoint: 'https://wukong-worker-x.a.run.app/pubsub?token=push-tok-77'"
        in fake_gcloud.read_text()
    )
    assert "--push-auth-token-audience=https://wukong-worker-x.a.run.app" in create
    assert ["run", "services", "add-iam-policy-binding", "wukong-worker", "--project=p",
            "--region=europe-west1", f"--member=serviceAccount:{sa}",
            "--role=roles/run.invoker"] in calls  # fmt: skip


def test_cloud_deploy_script_is_strict_bash():
    text = (DEPLOY / "cloudrun.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(DEPLOY / "cloudrun.sh")]).returncode == 0


# --- Argo CD ------------------------------------------------------------------------------------


def _argocd(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "argocd" / name).read_text())


RETRY = {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}}


def test_the_application_syncs_the_rendered_root():
    app = _argocd("application.yaml")
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    assert app["spec"]["source"]["path"] == "rendered"
    assert app["spec"]["destination"]["server"] == "https://kubernetes.default.svc"


def test_the_application_creates_the_namespace_of_the_example_vms_and_retries():
    """CreateNamespace creates spec.destination.namespace only (Argo CD sync-options docs), so
    it must be the namespace the examples' VMs render into; wukong-system, where the hooks run,
    comes from the validator install."""
    spec = _argocd("application.yaml")["spec"]
    rendered = sorted(p.name for p in (ROOT / "examples" / "rendered").iterdir() if p.is_dir())
    assert [spec["destination"]["namespace"]] == rendered
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]
    assert spec["syncPolicy"]["retry"] == RETRY


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


def test_each_generated_application_creates_its_namespace_retries_and_never_cascades():
    appset = _argocd("applicationset.yaml")
    policy = appset["spec"]["template"]["spec"]["syncPolicy"]
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert policy["retry"] == RETRY
    # A namespace directory that disappears deletes its Application, never its VMs' disks.
    assert appset["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True}


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
