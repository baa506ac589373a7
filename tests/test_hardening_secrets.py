"""Secrets never leave: not in a log line, an error, a response or a commit.

One run through the success and failure paths that handle secrets (a signed render, a bad
signature, a refused Git token, a declined push, a dropped push connection, a clone URL with
credentials in it, a live cluster that answers, forbids and cannot be reached, a kubeconfig that
cannot be loaded), with every logger at DEBUG. Everything is captured: each log record (caplog,
with its structured fields), the structured handler's own output (the process's stderr), every
response (status line, headers and body), and every object and file of the bare repositories.
Each is searched for each secret as is, base64-encoded and URL-encoded.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.hardening import SECRET, deliver, make_app, new_repo, webhook_env
from tests.kube import FakeApi, closed_port
from tests.kube_objects import namespace
from tests.kube_storage import pvc
from tests.test_hardening_faults import ATTACHES_PVC

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver", "tests.kube"]

KUBE_TOKEN = "kube-bearer-0b8d7e1f4a2c"
KEY_MARKER = "PRIVATE-KEY-MATERIAL-93e1c5"
CLIENT_KEY = f"-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n"
CLIENT_CERT = "-----BEGIN CERTIFICATE-----\nQ0VSVC1kYXRh\n-----END CERTIFICATE-----\n"
WRONG_GIT_TOKEN = "wrong-git-token-5a6b7c"
API_TOKEN = "ci-api-token-8d2e4f"


def _kubeconfig(path: Path, server: str, key_data: str | None = None) -> Path:
    user = {
        "token": KUBE_TOKEN,
        "client-certificate-data": base64.b64encode(CLIENT_CERT.encode()).decode(),
        "client-key-data": key_data or base64.b64encode(CLIENT_KEY.encode()).decode(),
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= 8}


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


def test_no_secret_reaches_a_log_a_response_or_a_commit(  # type: ignore[no-untyped-def]
    app, git_server: GitServer, kube_api: FakeApi, monkeypatch, caplog, capfd, tmp_path
) -> None:
    webhook_env(monkeypatch, git_server)
    monkeypatch.setenv("WUKONG_API_TOKEN", API_TOKEN)
    kube_api.add(namespace("vms"), pvc("vms", "db-data"))
    live = _kubeconfig(tmp_path / "live", kube_api.url)
    down = _kubeconfig(tmp_path / "down", f"http://127.0.0.1:{closed_port()}")
    broken = _kubeconfig(tmp_path / "broken", kube_api.url, key_data="!!not-base64 " + KEY_MARKER)
    client = app.test_client()
    answers: list[Any] = []
    repos: list[str] = []

    def push(name: str, delivery: str, **kw: Any) -> int:
        response = deliver(client, git_server, name, delivery, **kw)
        answers.append(response)
        return response.status_code

    def validate(cluster: Path) -> int:
        monkeypatch.setenv("WUKONG_CLUSTER", f"kubeconfig:{cluster}")
        bearer = {"Authorization": f"Bearer {API_TOKEN}"}
        response = client.post("/validate", data=ATTACHES_PVC, headers=bearer)
        answers.append(response)
        return response.status_code

    caplog.set_level(logging.DEBUG)  # the root logger and everything under it
    [structured] = [h for h in logging.getLogger().handlers if getattr(h, "wukong", False)]
    lines = io.StringIO()
    old_stream = structured.setStream(lines)  # type: ignore[attr-defined]
    capfd.readouterr()
    statuses = []
    # the cluster: answers, forbids, unreachable, unloadable
    statuses.append(validate(live))
    kube_api.forbid("persistentvolumeclaims", "vms")
    statuses.append(validate(live))
    statuses.append(validate(down))
    statuses.append(validate(broken))
    monkeypatch.setenv("WUKONG_CLUSTER", f"kubeconfig:{live}")
    # Git, with the cluster forbidding PVC reads: a handled delivery, the error on the commit
    repos.append(new_repo(git_server, {"wukong/db.yaml": ATTACHES_PVC}))
    statuses.append(push(repos[-1], "s-cluster"))
    monkeypatch.setenv("WUKONG_CLUSTER", "offline")
    repos.append(new_repo(git_server))
    statuses.append(push(repos[-1], "s-ok"))
    statuses.append(push(repos[-1], "s-badsig", secret="wrong-" + SECRET))
    monkeypatch.setenv("WUKONG_GIT_TOKEN", WRONG_GIT_TOKEN)
    repos.append(new_repo(git_server))
    statuses.append(push(repos[-1], "s-badtoken"))
    monkeypatch.setenv("WUKONG_GIT_TOKEN", git_server.token)
    repos.append(new_repo(git_server))
    git_server.install_hook(
        repos[-1], "pre-receive", "#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n"
    )
    statuses.append(push(repos[-1], "s-declined"))
    repos.append(new_repo(git_server))
    git_server.drop_push(repos[-1], "before")
    statuses.append(push(repos[-1], "s-dropped"))
    # credentials written into the clone URL itself, with the real and with a wrong token
    for token in (git_server.token, WRONG_GIT_TOKEN):
        monkeypatch.delenv("WUKONG_GIT_TOKEN", raising=False)
        repos.append(new_repo(git_server))
        url = git_server.url(repos[-1]).replace("://", f"://{git_server.user}:{token}@")
        statuses.append(push(repos[-1], f"s-url-{token[:5]}", url=url))
    stranger = new_repo(git_server, prefix="stranger")
    url = git_server.url(stranger).replace("://", f"://{git_server.user}:{git_server.token}@")
    statuses.append(push(stranger, "s-stranger", url=url))  # 403 names the URL: scrubbed
    # 200s below: handled deliveries whose failure (forbidden cluster, refused token, declined
    # push) no redelivery can cure; the 502 is the dropped push, which one can.
    assert statuses == [200, 422, 422, 422, 200, 200, 401, 200, 200, 502, 200, 200, 403], statuses

    structured.setStream(old_stream)  # type: ignore[attr-defined]
    out, err = capfd.readouterr()
    err += lines.getvalue()
    records = [
        r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records
    ]  # args, json_fields, http_request, exc_text: all of it
    assert any("POST /webhook 502" in r for r in records)
    assert '"message": "POST /webhook 502"' in err  # the structured lines were captured
    responses = [
        f"{r.status} {list(r.headers.items())} {r.get_data(as_text=True)}" for r in answers
    ]
    objects = [
        subprocess.run(
            ["git", "cat-file", "--batch-all-objects", "--batch"],
            cwd=git_server.path(name), capture_output=True, check=True,
        ).stdout.decode("utf-8", "replace")
        for name in repos
    ]  # fmt: skip
    files = [
        p.read_bytes().decode("utf-8", "replace")
        for name in repos
        for p in git_server.path(name).rglob("*")
        if p.is_file()
    ]
    texts = {"log records": records, "stderr+stdout": [err, out], "responses": responses,
             "git objects": objects, "repo files": files}  # fmt: skip
    secrets = {
        "webhook secret": SECRET,
        "git token": git_server.token,
        "wrong git token": WRONG_GIT_TOKEN,
        "ci api token": API_TOKEN,
        "basic auth": f"{git_server.user}:{git_server.token}",
        "kube token": KUBE_TOKEN,
        "client key": KEY_MARKER,
        "client key data": base64.b64encode(CLIENT_KEY.encode()).decode()[:40],
    }
    leaks = [
        (where, what, form)
        for where, chunks in texts.items()
        for what, secret in secrets.items()
        for form in _forms(secret)
        for chunk in chunks
        if form in chunk
    ]
    assert not leaks, leaks[:5]
    assert len(records) > 20 and sum(map(len, responses)) > 1000  # the net was really cast
