"""Who may make Wukong touch Git: signatures, the allow-list, replays.

Proof is taken at the Git server itself: its request log (tests/gitserver.py) must show no
request at all for a refused delivery, not merely that our own code chose not to call Git.
Replays are checked across two separately started servers (two processes, two memories), so
no per-instance delivery cache can be what makes them harmless.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import ROOT
from tests.hardening import (
    SECRET,
    make_app,
    new_repo,
    payload,
    render_commits_by_source,
    signed,
    webhook_env,
)
from tests.kube import closed_port

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def client(app, monkeypatch, git_server: GitServer):  # type: ignore[no-untyped-def]
    webhook_env(monkeypatch, git_server)
    return app.test_client()


def _post(client, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post("/webhook", data=body, headers=headers)


def _body(server: GitServer, name: str, **kw: Any) -> bytes:
    return json.dumps(payload(server.url(name), server.head(name), **kw)).encode()


UNSIGNED: dict[str, Any] = {
    "wrong secret": lambda b: signed(b, "d", secret="not-" + SECRET),
    "no signature": lambda b: {k: v for k, v in signed(b, "d").items() if "Signature" not in k},
    "empty signature": lambda b: signed(b, "d") | {"X-Hub-Signature-256": ""},
    "sha1 form": lambda b: signed(b, "d") | {"X-Hub-Signature-256": "sha1=" + "0" * 40},
    "truncated": lambda b: (
        signed(b, "d") | {"X-Hub-Signature-256": signed(b, "d")["X-Hub-Signature-256"][:-1]}
    ),
    "body changed": lambda b: signed(b + b" ", "d"),
    "gitlab wrong token": lambda b: {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"},
    "gitlab token is the hmac": lambda b: {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": signed(b, "d")["X-Hub-Signature-256"],
    },
    "gitea unsigned": lambda b: {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d"},
}


@pytest.mark.parametrize("case", sorted(UNSIGNED))
def test_an_unauthenticated_delivery_is_401_and_never_reaches_git(client, git_server, case) -> None:  # type: ignore[no-untyped-def]
    name = new_repo(git_server)
    body = _body(git_server, name)
    response = _post(client, body, UNSIGNED[case](body))
    assert response.status_code == 401, response.get_json()
    assert response.content_type == "application/json" and response.get_json()["error"]
    assert git_server.requests(name) == []
    # The same body, signed, does reach Git: the log above is not empty for another reason.
    assert _post(client, body, signed(body, "d")).status_code == 200
    assert git_server.requests(name)


def _stranger_urls(server: GitServer, allowed: str, stranger: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{server.port}"
    return {
        "not listed": server.url(stranger),
        "dot-dot": f"{base}/{allowed}.git/../{stranger}.git",
        "encoded dot-dot": f"{base}/{allowed}.git/%2e%2e/{stranger}.git",
        "dot segments": f"{base}/{allowed}.git/./../{stranger}.git",
        "backslashes": f"{base}/{allowed}.git\\..\\{stranger}.git",
        "query": f"{base}/{stranger}.git?{allowed}",
        "fragment": f"{base}/{stranger}.git#/{allowed}",
        "other host": f"http://localhost:{server.port}/{allowed}.git",
        "userinfo host trick": f"http://127.0.0.1:{server.port}@localhost:{server.port}/{allowed}.git",
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["not listed", "dot-dot", "encoded dot-dot", "dot segments", "backslashes", "query",
     "fragment", "other host", "userinfo host trick"],
)  # fmt: skip
def test_a_repository_off_the_allow_list_is_403_and_never_reaches_git(  # type: ignore[no-untyped-def]
    client, git_server, case
) -> None:
    allowed = new_repo(git_server)
    stranger = new_repo(git_server, prefix="stranger")
    url = _stranger_urls(git_server, allowed, stranger)[case]
    before = len(git_server.requests())
    body = json.dumps(payload(url, git_server.head(stranger))).encode()
    response = _post(client, body, signed(body, "d-" + case.replace(" ", "-")))
    assert response.status_code == 403, response.get_json()
    assert "WUKONG_ALLOWED_REPOS" in response.get_json()["error"]
    assert git_server.requests()[before:] == []  # not the stranger, not the allowed repo either
    assert render_commits_by_source(git_server, stranger) == {}


def test_a_replay_with_the_delivery_cache_cleared_commits_nothing(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = new_repo(git_server)
    source = git_server.head(name)
    body = _body(git_server, name)
    assert _post(client, body, signed(body, "once")).get_json()["status"] == "committed"
    head = git_server.head(name)
    for _ in range(2):
        other = make_app().test_client()  # another instance, or this one after a restart
        replay = _post(other, body, signed(body, "once"))
        assert replay.status_code == 200 and replay.get_json()["status"] == "unchanged"
    assert git_server.head(name) == head
    assert render_commits_by_source(git_server, name) == {source: 1}


def test_a_late_replay_of_an_old_push_never_renders_old_specs(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = new_repo(git_server)
    old = _body(git_server, name)
    assert _post(client, old, signed(old, "old")).get_json()["status"] == "committed"
    extra = (ROOT / "examples" / "specs" / "empty-vm.yaml").read_bytes()
    newer = git_server.human_push(name, {"wukong/extra.yaml": extra.replace(b"empty-vm", b"x-vm")})
    new = _body(git_server, name)
    assert _post(client, new, signed(new, "new")).get_json()["source_sha"] == newer
    head = git_server.head(name)
    replay = _post(make_app().test_client(), old, signed(old, "old"))  # an instance that forgot
    assert replay.get_json()["status"] == "unchanged" and git_server.head(name) == head
    assert "rendered/vms/x-vm.yaml" in git_server.files(name, "main")


# --- two separately started servers -------------------------------------------------------------


def _serve(git_server: GitServer, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WUKONG_")}
    env |= {
        "WUKONG_WEBHOOK_SECRET": SECRET,
        "WUKONG_ALLOWED_REPOS": f"http://127.0.0.1:{git_server.port}/allowed-*",
        "WUKONG_GIT_USERNAME": git_server.user,
        "WUKONG_GIT_TOKEN": git_server.token,
    }
    command = [sys.executable, "-m", "wukong_core", "serve", "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)


def _send(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "wukong serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("wukong serve did not come up")


def test_a_replay_to_another_instance_commits_nothing(git_server) -> None:  # type: ignore[no-untyped-def]
    ports = [closed_port(), closed_port()]
    servers = [_serve(git_server, port) for port in ports]
    try:
        for port, process in zip(ports, servers, strict=True):
            _wait_healthy(port, process)
        name = new_repo(git_server)
        source = git_server.head(name)
        body = _body(git_server, name)
        first = _send(ports[0], body, signed(body, "twice"))
        assert first[0] == 200 and first[1]["status"] == "committed", first
        head = git_server.head(name)
        again = _send(ports[1], body, signed(body, "twice"))
        assert again[0] == 200 and again[1]["status"] == "unchanged", again
        assert "redelivery" not in again[1]  # it really went to Git: another memory
        assert git_server.head(name) == head
        assert render_commits_by_source(git_server, name) == {source: 1}
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=10)
