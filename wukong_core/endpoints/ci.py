"""POST /render and POST /validate: specs in the body, findings and manifests out (for CI).

The body is YAML (any number of documents; documents that are not Wukong specs are skipped) or
JSON: one spec object or a list of them. A JSON item is handed to the loader as its own
document named `request.json[i]`, re-encoded with two-space indents, which is what its finding
lines count in; YAML keeps the caller's own lines under the name `request.yaml`.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request

from wukong_core import pipeline
from wukong_core.caches import Caches
from wukong_core.endpoints.common import (
    JSON,
    Config,
    Instance,
    Refusal,
    Reply,
    authorize_ci,
    namespace_param,
    open_cluster,
    read_body,
    summary_fields,
)
from wukong_core.findings import http_status
from wukong_core.plan import plans_to_json
from wukong_core.render.manifests import KUSTOMIZATION
from wukong_core.report import as_dict

YAML = "application/yaml"
# curl --data-binary sends form-urlencoded unless told otherwise: read it as the YAML it is.
_YAML_TYPES = {
    "",
    YAML,
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
}
_NO_SPECS = (
    "no Wukong specs in the request body: send YAML documents (or JSON objects) with "
    "apiVersion vm.novasphere.dev/v1alpha1 and kind Wukong"
)


def render(request: Request, config: Config, kept: Instance) -> Reply:
    return _run(request, config, True, kept.caches)


def validate(request: Request, config: Config, kept: Instance) -> Reply:
    return _run(request, config, False, kept.caches)


def _run(request: Request, config: Config, render: bool, caches: Caches) -> Reply:
    authorize_ci(request, config)
    namespace = namespace_param(request)
    sources = request_sources(request.mimetype, read_body(request, config.max_body_bytes))
    cluster = open_cluster(config)
    outcome = pipeline.run(
        sources, cluster=cluster, default_namespace=namespace, render=render, caches=caches
    )
    if not outcome.plans and not outcome.findings:
        raise Refusal(400, _NO_SPECS)
    body: dict[str, Any] = {
        **as_dict(outcome.findings),
        "cluster": outcome.cluster,
        "vm_count": len(outcome.plans),
    }
    fields = {"vms": len(outcome.plans), "cluster": outcome.cluster}
    fields |= summary_fields(outcome.findings)
    if not outcome.ok:
        errors = body["summary"]["error"]  # type: ignore[index]
        verb = "rendered" if render else "accepted"
        body["error"] = f"{errors} error finding(s): nothing {verb}; see findings"
        return Reply(http_status(outcome.findings), body, log=fields)
    if not render:
        return Reply(200, body, log=fields)
    if _wants_json(request):
        body["manifests"] = {path: data.decode() for path, data in outcome.files.items()}
        body["plan"] = json.loads(plans_to_json(outcome.plans, caches.plan_lines))
        return Reply(200, body, log=fields)
    headers = {
        "X-Wukong-Cluster": outcome.cluster,
        "X-Wukong-Findings": ",".join(f"{k}={v}" for k, v in body["summary"].items()),  # type: ignore[union-attr]
    }
    return Reply(200, manifests_yaml(outcome.files), YAML, headers, fields)


def request_sources(mimetype: str, body: bytes) -> list[tuple[str, bytes]]:
    """The body as (name, YAML bytes) documents for the loader; 400/415 when it cannot be."""
    if mimetype == JSON or mimetype.endswith("+json"):
        return _json_sources(body, strict=True)
    if mimetype not in _YAML_TYPES:
        raise Refusal(
            415,
            f"unsupported Content-Type {mimetype[:100]!r}: send application/yaml or "
            "application/json",
        )
    if body.lstrip()[:1] in (b"{", b"["):  # JSON sent as text; flow-style YAML falls through
        return _json_sources(body, strict=False) or [("request.yaml", body)]
    return [("request.yaml", body)]


def _json_sources(body: bytes, strict: bool) -> list[tuple[str, bytes]]:
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        if not strict:
            return []
        raise Refusal(400, f"request body is not UTF-8 (byte {e.start})") from e
    except (ValueError, RecursionError) as e:  # RecursionError: absurd nesting
        if not strict:
            return []
        raise Refusal(400, f"request body is not JSON: {str(e)[:200]}") from e
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        raise Refusal(400, "a JSON body must be a spec object or a non-empty list of them")
    if not isinstance(value, list):
        return [("request.json", json.dumps(value, indent=2).encode())]
    return [
        (f"request.json[{i}]", json.dumps(item, indent=2).encode()) for i, item in enumerate(items)
    ]


def _wants_json(request: Request) -> bool:
    best = request.accept_mimetypes.best_match([YAML, JSON], default=YAML)
    return best == JSON


def manifests_yaml(files: dict[str, bytes]) -> bytes:
    """The rendered objects as one multi-document stream, ready for `kubectl apply -f -`.

    Kustomizations are left out: they are build instructions, not objects to apply.
    """
    docs = [
        data for path, data in sorted(files.items()) if path.rsplit("/", 1)[-1] != KUSTOMIZATION
    ]
    return b"".join(b"---\n" + doc for doc in docs)
