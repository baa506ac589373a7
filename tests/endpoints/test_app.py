"""The HTTP function through functions-framework's own app: every route and status.

CI endpoints (/render, /validate) and the JSON error contract. The webhook flows against a real
Git server are in endpoints/test_webhook.py.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import yaml

from tests.conftest import ENV, EXAMPLES, ROOT
from wukong_core.endpoints import app as api
from wukong_core.endpoints import ci as api_ci
from wukong_core.endpoints.common import Config

SPECS = sorted((EXAMPLES / "specs").glob("*.yaml"))
ALL_SPECS = b"---\n".join(p.read_bytes() for p in SPECS)
NAMES = sorted(yaml.safe_load(p.read_bytes())["metadata"]["name"] for p in SPECS)
HYBRID = (EXAMPLES / "specs" / "hybrid-vm.yaml").read_bytes()
NO_NAMESPACE = b"""\
apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata: {name: plain}
spec: {cpu: 1, memory: 1Gi}
"""
BROKEN = b"""\
apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata: {name: broken}
spec:
  cpu: 1
  memory: 1Gi
  disks:
  - {name: system, size: 10Gi, image: ftp://example.com/disk.img}
"""


@pytest.fixture(scope="session")
def app():  # type: ignore[no-untyped-def]
    import functions_framework

    return functions_framework.create_app(target="wukong", source=str(ROOT / "main.py"))


@pytest.fixture
def client(app, monkeypatch):  # type: ignore[no-untyped-def]
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return app.test_client()


def _json(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.content_type == "application/json", response.data[:200]
    return json.loads(response.data)


# --- /healthz, routing ---------------------------------------------------------------------------


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert _json(response) == {"status": "ok"}
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("POST", "/nope", 404),
        ("GET", "/favicon.ico", 404),  # answered by the framework itself, still JSON
        ("GET", "/render", 405),
        ("PUT", "/validate", 405),
        ("GET", "/webhook", 405),
        ("POST", "/healthz", 405),
        ("DELETE", "/healthz", 405),
    ],
)
def test_unknown_paths_and_wrong_methods_are_json(client, method, path, status) -> None:  # type: ignore[no-untyped-def]
    response = client.open(path, method=method)
    assert response.status_code == status
    assert _json(response)["error"]
    if status == 405:
        assert response.headers["Allow"]


def test_trailing_slash_is_the_same_route(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/validate/", data=HYBRID).status_code == 200


# --- /render ------------------------------------------------------------------------------------


def test_render_yaml_is_applyable_multi_document(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=ALL_SPECS, content_type="application/yaml")
    assert response.status_code == 200
    assert response.content_type == "application/yaml"
    docs = [d for d in yaml.safe_load_all(response.data) if d]
    vms = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "VirtualMachine")
    assert vms == NAMES
    assert not any(d["kind"] == "Kustomization" for d in docs)
    assert response.headers["X-Wukong-Cluster"] == "offline"
    assert response.headers["X-Wukong-Findings"].startswith("error=0,")


def test_render_json_has_manifests_findings_plan_and_cluster(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=ALL_SPECS, headers={"Accept": "application/json"})
    body = _json(response)
    assert response.status_code == 200
    assert set(body) >= {"manifests", "findings", "summary", "plan", "cluster"}
    assert body["cluster"] == "offline"
    assert "vms/hybrid-vm.yaml" in body["manifests"]
    assert "kustomization.yaml" in body["manifests"]
    assert sorted(p["name"] for p in body["plan"]) == NAMES
    assert body["summary"]["error"] == 0
    assert {f["code"] for f in body["findings"]} >= {"vm.empty"}


def test_render_is_byte_stable(client) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/render", data=ALL_SPECS).data
    assert client.post("/render", data=ALL_SPECS).data == first


@pytest.mark.parametrize("as_list", [False, True])
def test_render_accepts_json_specs(client, as_list) -> None:  # type: ignore[no-untyped-def]
    spec = yaml.safe_load(HYBRID)
    body = [spec, yaml.safe_load(NO_NAMESPACE)] if as_list else spec
    response = client.post("/render", json=body, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.data
    assert "vms/hybrid-vm.yaml" in _json(response)["manifests"]


def test_render_json_sent_as_text_is_read_as_json(client) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps([yaml.safe_load(HYBRID)]).encode()
    response = client.post("/render", data=body, content_type="text/plain")
    assert response.status_code == 200
    assert b"kind: VirtualMachine" in response.data


def test_flow_style_yaml_is_not_mistaken_for_json(client) -> None:  # type: ignore[no-untyped-def]
    flow = (
        b"{apiVersion: vm.novasphere.dev/v1alpha1, kind: Wukong, metadata: {name: f}, "
        b"spec: {cpu: 1, memory: 1Gi}}"
    )
    assert client.post("/render", data=flow).status_code == 200


def test_namespace_parameter_is_the_default_namespace(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/render?namespace=team-a", data=NO_NAMESPACE, headers={"Accept": "application/json"}
    )
    assert "team-a/plain.yaml" in _json(response)["manifests"]
    assert client.post("/render", data=NO_NAMESPACE, headers={"Accept": "application/json"}).json[
        "manifests"
    ].keys() >= {"default/plain.yaml"}


def test_bad_namespace_parameter_is_400(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render?namespace=Not_A_Name", data=NO_NAMESPACE)
    assert response.status_code == 400
    assert "namespace" in _json(response)["error"]


def test_render_with_errors_is_422_with_findings(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=HYBRID + b"---\n" + BROKEN)
    body = _json(response)
    assert response.status_code == 422
    assert "error" in body and "manifests" not in body
    [finding] = [f for f in body["findings"] if f["severity"] == "error"]
    assert finding["code"] == "disk.unsupported-image"
    # the caller's own line: the broken disk, 8 lines into the second document
    assert finding["file"] == "request.yaml"
    assert finding["line"] == HYBRID.count(b"\n") + 1 + 8


# --- /validate ----------------------------------------------------------------------------------


def test_validate_clean_is_200_and_says_offline(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/validate", data=ALL_SPECS)
    body = _json(response)
    assert response.status_code == 200
    assert body["cluster"] == "offline"
    assert body["summary"]["error"] == 0
    assert body["vm_count"] == len(SPECS)
    assert "manifests" not in body


def test_validate_errors_is_422(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/validate", data=BROKEN)
    assert response.status_code == 422
    assert _json(response)["findings"][0]["code"] == "disk.unsupported-image"


def test_validate_against_a_snapshot_cluster(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_CLUSTER", f"snapshot:{EXAMPLES / 'cluster-snapshot.yaml'}")
    body = _json(client.post("/validate", data=ALL_SPECS))
    assert body["cluster"].startswith("snapshot ")
    assert "pvc.not-migratable" in {f["code"] for f in body["findings"]}
    missing = HYBRID.replace(b"existing-data-pvc", b"no-such-pvc")
    response = client.post("/validate", data=missing)
    assert response.status_code == 422
    assert "pvc.not-found" in {f["code"] for f in _json(response)["findings"]}


# --- garbage in, JSON out -----------------------------------------------------------------------


def test_invalid_utf8_yaml_is_a_finding(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/validate", data=b"kind: Wukong\nmetadata: {name: \xff\xfe}\n")
    assert response.status_code == 422
    assert "UTF-8" in _json(response)["findings"][0]["message"]


def test_invalid_utf8_json_is_400(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=b'{"kind": "\xff"}', content_type="application/json")
    assert response.status_code == 400
    assert "UTF-8" in _json(response)["error"]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b"[]", b'"text"', b"[" * 100_000 + b"]" * 100_000],
    ids=["malformed", "not-objects", "empty-list", "scalar", "deep"],
)
def test_bad_json_is_400(client, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=body, content_type="application/json")
    assert response.status_code == 400
    assert _json(response)["error"]


def test_yaml_alias_bomb_is_refused_quickly(client) -> None:  # type: ignore[no-untyped-def]
    lines = ["kind: Wukong", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    response = client.post("/validate", data="\n".join(lines).encode())
    assert response.status_code == 422
    assert "alias" in _json(response)["findings"][0]["message"]


def test_body_without_specs_is_400(client) -> None:  # type: ignore[no-untyped-def]
    for body in (b"", b"apiVersion: v1\nkind: ConfigMap\n", b"just: yaml\n"):
        response = client.post("/validate", data=body)
        assert response.status_code == 400
        assert "no Wukong specs" in _json(response)["error"]


def test_unsupported_content_type_is_415(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data={"file": (io.BytesIO(HYBRID), "a.yaml")})
    assert response.status_code == 415
    assert "Content-Type" in _json(response)["error"]


def test_huge_body_is_413_from_content_length(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", "1000")
    response = client.post("/render", data=b"#" * 1001)
    assert response.status_code == 413
    assert _json(response)["limit"] == 1000
    assert client.post("/validate", data=HYBRID[:1000]).status_code != 413


def test_huge_chunked_body_is_413_from_the_capped_read(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", "1000")
    response = client.post(
        "/webhook",
        input_stream=io.BytesIO(b"x" * 5000),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn sets for chunked
    )
    # /webhook with no secret set is a 503 before the body is read: set one
    assert response.status_code == 503
    monkeypatch.setenv("WUKONG_WEBHOOK_SECRET", "s")
    response = client.post(
        "/render",
        input_stream=io.BytesIO(b"x" * 5000),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


def test_default_body_limit_is_ten_mib(client) -> None:  # type: ignore[no-untyped-def]
    assert Config.from_env({}).max_body_bytes == 10 * 1024 * 1024
    response = client.post("/render", data=b"#" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413


@pytest.mark.parametrize("value", ["lots", "0", "-5"])
def test_bad_body_limit_setting_is_503(client, monkeypatch, value) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", value)
    response = client.post("/render", data=HYBRID)
    assert response.status_code == 503
    assert "WUKONG_MAX_BODY_BYTES" in _json(response)["error"]


def test_bad_cluster_setting_is_503(client, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_CLUSTER", "somewhere")
    response = client.post("/validate", data=HYBRID)
    assert response.status_code == 503
    assert "WUKONG_CLUSTER" in _json(response)["error"]
    monkeypatch.setenv("WUKONG_CLUSTER", f"snapshot:{tmp_path / 'missing.yaml'}")
    assert client.post("/validate", data=HYBRID).status_code == 503


def test_a_bug_is_500_json_without_details(client, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_GIT_TOKEN", "tok-never-shown-1234")

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom at https://bot:tok-never-shown-1234@git.example.com/r.git")

    monkeypatch.setattr(api_ci.pipeline, "run", explode)
    with caplog.at_level(logging.INFO):
        response = client.post("/render", data=HYBRID)
    assert response.status_code == 500
    body = _json(response)
    assert "boom" not in body["error"] and "Traceback" not in response.get_data(as_text=True)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError: boom at https://git.example.com/r.git" in logged
    assert "tok-never-shown-1234" not in logged


# --- configuration and logs ---------------------------------------------------------------------


def test_config_reads_exactly_the_documented_variables() -> None:
    env = {
        "WUKONG_WEBHOOK_SECRET": "hook-secret-xyz",
        "WUKONG_ALLOWED_REPOS": " https://git.example.com/a.git , https://git.example.com/b/*,",
        "WUKONG_GIT_USERNAME": "bot",
        "WUKONG_GIT_TOKEN": "git-token-xyz",
        "WUKONG_CLUSTER": "in-cluster",
        "WUKONG_MAX_BODY_BYTES": "2048",
        "WUKONG_GIT_AUTHOR": "Bot <bot@example.com>",
    }
    config = Config.from_env(env)
    assert config.allowed_repos == ("https://git.example.com/a.git", "https://git.example.com/b/*")
    assert (config.cluster, config.max_body_bytes) == ("in-cluster", 2048)
    assert (config.git_username, config.git_author) == ("bot", "Bot <bot@example.com>")
    assert "hook-secret-xyz" not in repr(config) and "git-token-xyz" not in repr(config)
    defaults = Config.from_env({})
    assert (defaults.cluster, defaults.allowed_repos) == ("offline", ())
    assert defaults.webhook_secret == defaults.git_token == ""
    assert defaults.git_author == "Wukong <wukong@localhost>"


def test_one_log_line_per_request_with_trace(client, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    trace = "105445aa7843bc8bf206b12000100000"
    with caplog.at_level(logging.INFO, logger="wukong.http"):
        client.post("/validate", data=HYBRID, headers={"X-Cloud-Trace-Context": f"{trace}/10;o=1"})
    [record] = [r for r in caplog.records if r.name == "wukong.http"]
    assert record.trace == f"projects/proj-1/traces/{trace}"
    assert record.span_id == f"{10:016x}" and record.trace_sampled is True
    assert record.json_fields["status"] == 200 and record.json_fields["vms"] == 1
    assert record.http_request["requestMethod"] == "POST"
    assert record.json_fields["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("headers", "project", "expected"),
    [
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            "p",
            {
                "trace": "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
                "trace_sampled": True,
            },
        ),
        (
            {"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736"},
            None,
            {"trace": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "", "trace_sampled": False},
        ),
        ({"X-Cloud-Trace-Context": "garbage"}, "p", {}),
        ({}, "p", {}),
    ],
)
def test_trace_fields(headers, project, expected) -> None:  # type: ignore[no-untyped-def]
    assert api.trace_fields(headers, project) == expected


def test_structured_log_line_is_json_with_trace(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What Cloud Logging reads: the StructuredLogHandler's line for one request."""
    import functions_framework  # noqa: F401  (the handler reads flask's request context)
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    stream = io.StringIO()
    handler = StructuredLogHandler(stream=stream, project_id="proj-1")
    api.log.addHandler(handler)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    try:
        from werkzeug.test import EnvironBuilder
        from werkzeug.wrappers import Request

        builder = EnvironBuilder(
            path="/healthz", headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
        )
        api.App().handle(Request(builder.get_environ()))
    finally:
        api.log.removeHandler(handler)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["severity"] == "INFO"
    assert line["logging.googleapis.com/trace"] == "projects/proj-1/traces/" + "a" * 32
    assert line["httpRequest"]["status"] == 200
    assert line["path"] == "/healthz" and line["message"] == "GET /healthz 200"


def test_a_ci_token_guards_render_and_validate_when_it_is_set(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_API_TOKEN", "ci-token-5e1f")
    body = (EXAMPLES / "specs" / "hybrid-vm.yaml").read_bytes()
    for path in ("/render", "/validate"):
        refused = client.post(path, data=body, content_type="application/yaml")
        assert refused.status_code == 401 and "Bearer" in _json(refused)["error"]
        wrong = {"Authorization": "Bearer nope"}
        assert client.post(path, data=body, headers=wrong).status_code == 401
    good = {"Authorization": "Bearer ci-token-5e1f", "Accept": "application/json"}
    assert client.post("/validate", data=body, headers=good).status_code == 200
    assert client.get("/healthz").status_code == 200, "health checks need no token"


def test_a_live_cluster_is_never_exposed_without_a_ci_token(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_CLUSTER", "in-cluster")
    body = (EXAMPLES / "specs" / "hybrid-vm.yaml").read_bytes()
    response = client.post("/validate", data=body)
    assert response.status_code == 503
    assert "WUKONG_API_TOKEN" in _json(response)["error"]
