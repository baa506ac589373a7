"""The Argo CD PreSync hook of one namespace directory: a validation plan and a Job. Pure.

`presync_hooks(image)` is a `render.NamespaceExtras`: for each namespace directory it returns
ConfigMaps holding that namespace's plan (`plan.plans_to_json`, in parts when it is large) and a
Job that runs `wukong validate --plan /plan --in-cluster` on all of them. A failing Job fails
the sync before Argo CD applies any VirtualMachine (Argo CD docs, "Sync Phases and Waves":
"Apply all the resources marked as PreSync hooks. If any of them fails the whole sync process
will stop").

Same plans, same objects: nothing here depends on time or the commit, so the hook files are
byte-stable and change only when the specs (or the image / namespace settings) change.
"""

from __future__ import annotations

import hashlib
from typing import Any

from wukong_core.caches import Caches
from wukong_core.names import is_dns_label
from wukong_core.plan import VmPlan, plan_line, plans_to_json
from wukong_core.render.manifests import MANAGED_BY, NamespaceExtras

VERSION = "0.1.0"  # the package version (pyproject.toml); a test keeps the two equal
IMAGE_REPOSITORY = "ghcr.io/novasphere/wukong"
# Pinned to the release, never `latest`: the rendered bytes, and so what Argo CD runs, change
# only when Wukong itself is upgraded.
DEFAULT_IMAGE = f"{IMAGE_REPOSITORY}:{VERSION}"
# Where deploy/kubernetes/validator creates the `wukong-validator` ServiceAccount and its role.
DEFAULT_JOB_NAMESPACE = "wukong-system"
SERVICE_ACCOUNT = "wukong-validator"
PLAN_FILE = "wukong-presync-plan.yaml"  # part 0; part i > 0 is wukong-presync-plan-<i>.yaml
JOB_FILE = "wukong-presync-job.yaml"
PLAN_KEY = "plan.json"
PLAN_DIR = "/plan"  # part i is mounted as /plan/plan-<i>.json
COMMAND = ("wukong", "validate", "--plan", PLAN_DIR, "--in-cluster")

HOOK = "argocd.argoproj.io/hook"
DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# BeforeHookCreation: the hooks have fixed names (so several directories never collide and the
# bytes stay stable), and Argo CD creates a named hook only once unless this policy deletes the
# old one first. HookSucceeded: a clean run leaves nothing behind; a failed Job stays for
# `kubectl logs` until the next sync replaces it.
HOOK_ANNOTATIONS = {HOOK: "PreSync", DELETE_POLICY: "BeforeHookCreation,HookSucceeded"}
PLAN_WAVE = "-1"  # the ConfigMap must exist before the Job's pod mounts it
JOB_WAVE = "0"

BACKOFF_LIMIT = 1  # one retry covers a node hiccup; findings do not change on a second run
DEADLINE_SECONDS = 300  # a hung API server must fail the sync, not block it forever
RUN_AS = 10001  # the Dockerfile's numeric USER, so runAsNonRoot can be verified by the kubelet
RESOURCES = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    # Lists of every PVC, Pod and VM in the cluster are parsed in memory: leave headroom.
    "limits": {"cpu": "1", "memory": "512Mi"},
}
# Argo CD applies hooks with kubectl apply, which copies the whole object into the
# last-applied-configuration annotation, and annotations are capped at 256 KiB
# (argoproj/argo-cd#820). Server-side apply would lift that, but hooks under it misbehave in
# Argo CD (argoproj/argo-cd#12936, #14929: PreSync not awaited, BeforeHookCreation not
# deleting), so a plan is cut into ConfigMaps that each fit what client-side apply records.
MAX_APPLIED_BYTES = 256 * 1024
APPLY_OVERHEAD = 2048  # the rest of the ConfigMap and the annotation's own framing
MAX_NAME = 63


def hook_name(namespace: str) -> str:
    """`wukong-presync-<namespace>`, cut to 63 characters with a hash that keeps it unique.

    63, not 253: the Job controller copies the Job's name into the pod label `job-name`.
    """
    name = f"wukong-presync-{namespace}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"


def _labels(namespace: str) -> dict[str, str]:
    return {
        **MANAGED_BY,
        "app.kubernetes.io/name": "wukong-presync",
        "vm.novasphere.dev/namespace": namespace,
    }


def _metadata(namespace: str, job_namespace: str, **annotations: str) -> dict[str, Any]:
    # metadata.namespace is always set: without it Argo CD (and a kustomization `namespace:`)
    # would put the hook in the VM namespace, where the ServiceAccount does not exist.
    return {
        "name": hook_name(namespace),
        "namespace": job_namespace,
        "labels": _labels(namespace),
        "annotations": {**HOOK_ANNOTATIONS, **annotations},
    }


def plan_part_name(namespace: str, part: int) -> str:
    # A ConfigMap name may hold dots, a namespace (and so hook_name) never does: no collisions.
    return hook_name(namespace) if part == 0 else f"{hook_name(namespace)}.{part}"


def plan_parts(plans: list[VmPlan], caches: Caches | None = None) -> list[list[VmPlan]]:
    """The plans, sorted by name, in as few parts as keep each ConfigMap applicable."""
    parts: list[list[VmPlan]] = [[]]
    size = 0
    for plan in sorted(plans, key=lambda p: p.name):
        # As kubectl apply records it: the JSON line as a JSON string, plus a separator (and
        # room to spare). The line is json.dumps' ASCII, so quoting it again only escapes its
        # quotes and backslashes: counted, not done.
        line = plan_line(plan, caches.plan_lines if caches else None)
        cost = len(line) + 2 + line.count('"') + line.count("\\") + 12
        if parts[-1] and size + cost > MAX_APPLIED_BYTES - APPLY_OVERHEAD:
            parts.append([])
            size = 0
        parts[-1].append(plan)
        size += cost
    return parts


def plan_configmap(
    namespace: str,
    plans: list[VmPlan],
    job_namespace: str,
    part: int = 0,
    caches: Caches | None = None,
) -> dict[str, Any]:
    metadata = _metadata(namespace, job_namespace, **{SYNC_WAVE: PLAN_WAVE})
    metadata["name"] = plan_part_name(namespace, part)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {PLAN_KEY: plans_to_json(plans, caches.plan_lines if caches else None)},
    }


def _container(image: str) -> dict[str, Any]:
    return {
        "name": "validate",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(COMMAND),
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": RESOURCES,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "plan", "mountPath": PLAN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # the root filesystem is read-only
        ],
    }


def validation_job(
    namespace: str, image: str, job_namespace: str, parts: int = 1
) -> dict[str, Any]:
    # No ttlSecondsAfterFinished: Argo CD's docs warn it leaves the Application OutOfSync;
    # the delete policy cleans up instead.
    pod_spec = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(image)],
        "volumes": [
            # A pod can mount only ConfigMaps of its own namespace: hence one job_namespace
            # for both objects.
            {
                "name": "plan",
                "projected": {"sources": [_plan_source(namespace, i) for i in range(parts)]},
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(namespace, job_namespace, **{SYNC_WAVE: JOB_WAVE}),
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "template": {"metadata": {"labels": _labels(namespace)}, "spec": pod_spec},
        },
    }


def _plan_source(namespace: str, part: int) -> dict[str, Any]:
    items = [{"key": PLAN_KEY, "path": f"plan-{part}.json"}]
    return {"configMap": {"name": plan_part_name(namespace, part), "items": items}}


def presync_hooks(
    image: str = DEFAULT_IMAGE, job_namespace: str = DEFAULT_JOB_NAMESPACE
) -> NamespaceExtras:
    """The `render_tree` extras that add the PreSync ConfigMap and Job to each namespace.

    ValueError when the settings could never work (checked once, before any rendering).
    """
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"hook image {image!r} is not an image reference")
    if not is_dns_label(job_namespace):
        raise ValueError(f"hook namespace {job_namespace!r} is not a DNS-1123 label")

    def extras(
        namespace: str, plans: list[VmPlan], caches: Caches | None = None
    ) -> dict[str, dict[str, Any]]:
        parts = plan_parts(plans, caches)
        files = {
            PLAN_FILE if i == 0 else f"wukong-presync-plan-{i}.yaml": plan_configmap(
                namespace, part, job_namespace, i, caches
            )
            for i, part in enumerate(parts)
        }
        return {**files, JOB_FILE: validation_job(namespace, image, job_namespace, len(parts))}

    return extras
