"""main.py as deployed: the functions-framework CLI serving real HTTP, and a light cold start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import EXAMPLES, ROOT

HYBRID = (EXAMPLES / "specs" / "hybrid-vm.yaml").read_bytes()
HEAVY = ("kubernetes", "dulwich")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WUKONG_")}
    return env | {"PYTHONPATH": str(ROOT)} | extra


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "wukong",
            "--source",
            str(ROOT / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=_clean_env(THREADS="2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    err = process.communicate(timeout=5)[1]
                    pytest.fail(f"server exited: {err.decode()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /healthz within 30 s")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _call(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_healthz_over_http(server: str) -> None:
    status, headers, body = _call(f"{server}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_render_over_http(server: str) -> None:
    status, headers, body = _call(f"{server}/render", HYBRID, {"Content-Type": "application/yaml"})
    assert status == 200
    assert headers["Content-Type"] == "application/yaml"
    assert b"kind: VirtualMachine" in body and b"name: hybrid-vm" in body
    status, _, body = _call(
        f"{server}/render",
        HYBRID,
        {"Content-Type": "application/yaml", "Accept": "application/json"},
    )
    assert status == 200
    assert json.loads(body)["cluster"] == "offline"


def test_errors_over_http_are_json(server: str) -> None:
    status, headers, body = _call(f"{server}/nope", b"x")
    assert (status, headers["Content-Type"]) == (404, "application/json")
    status, _, body = _call(f"{server}/validate", b"kind: Wukong\nspec: [\n")
    assert status == 422 and json.loads(body)["findings"][0]["code"] == "spec.invalid"
    status, _, body = _call(f"{server}/webhook", b"{}", {"X-GitHub-Event": "ping"})
    assert status == 503 and "WUKONG_WEBHOOK_SECRET" in json.loads(body)["error"]


# A fresh interpreter: what a cold start imports, and what the first requests add. The queued
# /webhook publishes to a queue that holds every message: the probe measures Wukong, not Pub/Sub.
_PROBE = """
import hashlib, hmac, json, sys, time
started = time.perf_counter()
import main
imported = time.perf_counter() - started
import functions_framework
client = functions_framework.create_app(target="wukong", source="main.py").test_client()
heavy = ("kubernetes", "dulwich")
queue = ("google.cloud.pubsub_v1", "google.oauth2.id_token")  # the queue's (WUKONG_QUEUE set)
models = ("pydantic", "wukong_core.spec.models", "wukong_core.pipeline")  # what renders
def loaded(light=False):
    return sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy} |
                  {m for m in queue + (models if light else ()) if m in sys.modules})
report = {"import_s": imported, "after_import": loaded(light=True)}
assert client.get("/healthz").status_code == 200
report["after_healthz"] = loaded(light=True)
issue = b'{"action": "opened"}'  # an event Wukong does not render: 202 ignored
signature = "sha256=" + hmac.new(b"probe-secret", issue, hashlib.sha256).hexdigest()
answer = client.post("/webhook", data=issue, content_type="application/json", headers={
    "X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-0", "X-Hub-Signature-256": signature})
assert answer.status_code == 202, answer.get_json()
report["after_ignored_webhook"] = loaded(light=True)
class Held:
    def publish(self, data, ordering_key, attributes, timeout):
        return "1"
sys.modules["main"].INSTANCE.queues.open = lambda spec: Held()
push = json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40,
                   "repository": {"clone_url": "https://git.example.com/team/vms.git",
                                  "full_name": "team/vms"}}).encode()
signature = "sha256=" + hmac.new(b"probe-secret", push, hashlib.sha256).hexdigest()
answer = client.post("/webhook", data=push, content_type="application/json", headers={
    "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signature})
assert answer.status_code == 202, answer.get_json()
report["after_queued_webhook"] = loaded(light=True)
body = open("examples/specs/hybrid-vm.yaml", "rb").read()
assert client.post("/render", data=body).status_code == 200
report["after_render"] = loaded()
assert client.post("/validate", data=body).status_code == 200
report["after_validate"] = loaded()
import wukong_core.endpoints.webhook  # what /webhook loads; dulwich comes with the first clone
import wukong_core.endpoints.pubsub  # and /pubsub; Pub/Sub's client comes with the first publish
from wukong_core.git.commit import SourceTree
SourceTree.from_files("0" * 40, {})
report["after_webhook_path"] = loaded()
print(json.dumps(report))
"""


def test_cold_start_imports_no_kubernetes_dulwich_or_pubsub() -> None:
    """/healthz, an ignored event and a queued /webhook (bench P1, P7) load neither the heavy
    clients nor the spec models and pydantic: only a render needs those."""
    env = _clean_env(
        # The queue configured: still nothing of Pub/Sub's until a delivery is published.
        WUKONG_QUEUE="pubsub:projects/my-project/topics/wukong",
        WUKONG_WEBHOOK_SECRET="probe-secret",
        WUKONG_ALLOWED_REPOS="https://git.example.com/*",
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["after_import"] == []
    assert report["after_healthz"] == []
    assert report["after_ignored_webhook"] == []
    assert report["after_queued_webhook"] == []
    assert report["after_render"] == []
    assert report["after_validate"] == []
    assert report["after_webhook_path"] == ["dulwich"]  # the probe itself works
