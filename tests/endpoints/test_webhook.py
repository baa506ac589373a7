"""POST /webhook end to end: signed deliveries -> a real Git server on 127.0.0.1 -> commits.

The function runs inside functions-framework's app; the repository is served by git
http-backend behind basic auth (tests/gitserver.py), so clone, commit and push are real.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import EXAMPLES
from tests.hardening import full_name, make_app
from tests.specs import as_yaml, wukong

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]

SECRET = "hook-secret-5e1d90aa"  # distinctive, like the server's token, so leaks are greppable
SPECS = {f"wukong/{p.name}": p.read_bytes() for p in sorted((EXAMPLES / "specs").glob("*.yaml"))}
BROKEN_SPEC = b"""\
apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata: {name: broken, namespace: vms}
spec: {cpu: 0, memory: 1Gi}
"""
ZERO = "0" * 40


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def client(app, monkeypatch, git_server: GitServer):  # type: ignore[no-untyped-def]
    for name in ("WUKONG_CLUSTER", "WUKONG_MAX_BODY_BYTES", "WUKONG_GIT_AUTHOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WUKONG_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WUKONG_ALLOWED_REPOS", f"http://127.0.0.1:{git_server.port}/allowed-*")
    monkeypatch.setenv("WUKONG_GIT_USERNAME", git_server.user)
    monkeypatch.setenv("WUKONG_GIT_TOKEN", git_server.token)
    return app.test_client()


_repo_names = iter(range(10_000))


def _repo(server: GitServer, files: dict[str, bytes] | None = None, prefix: str = "allowed") -> str:
    """A repository `<prefix>-N/vms` (owner/name, as on every host)."""
    name = f"{prefix}-{next(_repo_names)}/vms"
    server.create_repo(name, SPECS if files is None else files)
    return name


def _payload(provider: str, url: str, head: str, **extra: Any) -> dict[str, Any]:
    """A push payload as each sender shapes it (only the fields Wukong reads, plus a few)."""
    commit = {
        "id": head,
        "message": "edit specs\n",
        "added": [],
        "modified": ["wukong/a.yaml"],
        "removed": [],
    }
    common = {"ref": "refs/heads/main", "before": "1" * 40, "after": head, "commits": [commit]}
    if provider == "gitlab":
        project = {"git_http_url": url, "path_with_namespace": full_name(url),
                   "default_branch": "main"}  # fmt: skip
        return (
            common | {"object_kind": "push", "project": project, "total_commits_count": 1} | extra
        )
    repository = {"clone_url": url, "full_name": full_name(url), "default_branch": "main"}
    return common | {"repository": repository, "head_commit": commit} | extra


def _headers(
    provider: str, body: bytes, delivery: str, event: str = "push", secret: str = SECRET
) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if provider == "github":
        return {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + digest,
        }
    if provider == "gitlab":
        return {
            "X-Gitlab-Event": "Push Hook" if event == "push" else event,
            "X-Gitlab-Token": secret,
            "Idempotency-Key": delivery,
        }
    # Gitea sends its own headers and GitHub's, all signed the same way.
    return {
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": digest,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + digest,
    }


def _deliver(client, provider: str, payload: dict[str, Any], delivery: str = "d-1", **kw: Any):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    headers = _headers(provider, body, delivery, **kw)
    return client.post("/webhook", data=body, headers=headers, content_type="application/json")


def _push(
    client,
    server: GitServer,
    name: str,
    provider: str = "github",
    delivery: str = "d-1",
    **extra: Any,
):  # type: ignore[no-untyped-def]
    payload = _payload(provider, server.url(name), server.head(name) or ZERO, **extra)
    return _deliver(client, provider, payload, delivery)


def _render_commits(server: GitServer, name: str) -> list[str]:
    return [m for m in server.log(name) if "Wukong-Source-Commit:" in m]


# --- the happy paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_signed_push_renders_and_commits(client, git_server, provider) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    source = git_server.head(name)
    response = _push(client, git_server, name, provider, delivery=f"{provider}-1")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "committed"
    assert body["source_sha"] == source
    assert body["commit_sha"] == git_server.head(name)
    assert body["vm_count"] == len(SPECS) and body["attempts"] == 1
    assert body["cluster"] == "offline" and body["provider"] == provider
    files = git_server.files(name, "main")
    assert "rendered/vms/hybrid-vm.yaml" in files and "rendered/kustomization.yaml" in files
    [message] = _render_commits(git_server, name)
    assert f"Wukong-Source-Commit: {source}" in message
    assert f"Wukong-Delivery: {provider}-1" in message


def test_github_s_default_form_encoded_push_renders_and_commits(client, git_server) -> None:  # type: ignore[no-untyped-def]
    """Content type application/x-www-form-urlencoded: payload=<JSON>, the form body signed."""
    name = _repo(git_server)
    payload = json.dumps(_payload("github", git_server.url(name), git_server.head(name)))
    body = urllib.parse.urlencode({"payload": payload}).encode()
    headers = _headers("github", body, "form-1")
    response = client.post(
        "/webhook", data=body, headers=headers, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "committed"
    assert "rendered/vms/hybrid-vm.yaml" in git_server.files(name, "main")


def test_redelivery_makes_no_second_commit(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    payload = _payload("github", git_server.url(name), git_server.head(name))
    first = _deliver(client, "github", payload, "same-id").get_json()
    assert first["status"] == "committed"
    head = git_server.head(name)
    again = _deliver(client, "github", payload, "same-id").get_json()
    assert again["redelivery"] is True and git_server.head(name) == head
    # Another instance (no memory of the id) still commits nothing: idempotency is in Git.
    fresh = _deliver(make_app().test_client(), "github", payload, "same-id")  # no memory
    assert fresh.status_code == 200
    assert fresh.get_json()["status"] == "unchanged"
    assert fresh.get_json()["commit_sha"] is None
    assert git_server.head(name) == head
    assert len(_render_commits(git_server, name)) == 1


def test_wukongs_own_push_is_ignored_without_a_clone(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    assert _push(client, git_server, name).status_code == 200
    bot_message = git_server.log(name)[0]  # the render commit, trailer and all
    requests = len(git_server.requests(name))
    head = git_server.head(name)
    commit = {
        "id": head,
        "message": bot_message,
        "added": [],
        "removed": [],
        "modified": ["rendered/vms/hybrid-vm.yaml"],
    }
    response = _push(client, git_server, name, head_commit=commit, commits=[commit])
    assert response.status_code == 202
    assert "Wukong's own render" in response.get_json()["ignored"]
    assert len(git_server.requests(name)) == requests, "the Git server saw no new request"


def test_push_touching_only_the_output_path_is_ignored(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SPECS, ".wukong.yaml": b"outputPath: deploy/\n"})
    commit = {
        "id": git_server.head(name),
        "message": "hand edit",
        "added": [],
        "removed": [],
        "modified": ["deploy/vms/hybrid-vm.yaml"],
    }
    response = _push(client, git_server, name, head_commit=commit, commits=[commit])
    assert response.status_code == 202
    assert "deploy/" in response.get_json()["ignored"]
    assert _render_commits(git_server, name) == []


def test_repo_config_picks_paths_branch_and_namespace(client, git_server) -> None:  # type: ignore[no-untyped-def]
    spec = SPECS["wukong/empty-vm.yaml"].replace(b"  namespace: vms\n", b"")
    config = b"specPath: vms/\noutputPath: out/\noutputBranch: deploy\nnamespace: team-a\n"
    name = _repo(git_server, {"vms/empty.yaml": spec, ".wukong.yaml": config})
    response = _push(client, git_server, name)
    assert response.get_json()["status"] == "committed"
    assert git_server.head(name, "deploy") == response.get_json()["commit_sha"]
    assert "out/team-a/empty-vm.yaml" in git_server.files(name, "deploy")


def _branch(server: GitServer, name: str, branch: str) -> None:
    """A branch at main's head, as a developer's push would create it."""
    subprocess.run(["git", "branch", branch, "main"], cwd=server.path(name), check=True)


def test_a_push_to_a_feature_branch_renders_nothing(client, git_server) -> None:  # type: ignore[no-untyped-def]
    config = b"outputBranch: deploy\n"
    name = _repo(git_server, {**SPECS, ".wukong.yaml": config})
    _branch(git_server, name, "feature/x")
    response = _push(client, git_server, name, ref="refs/heads/feature/x")
    assert response.status_code == 202
    assert "branch feature/x is not rendered" in response.get_json()["ignored"]
    assert git_server.head(name, "deploy") is None, "the deployed branch was not written"


def test_listed_branches_are_rendered(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SPECS, ".wukong.yaml": b"branches: ['release/*']\n"})
    _branch(git_server, name, "release/1")
    response = _push(client, git_server, name, ref="refs/heads/release/1")
    assert response.get_json()["status"] == "committed"
    assert "rendered/vms/hybrid-vm.yaml" in git_server.files(name, "release/1")
    assert _push(client, git_server, name, delivery="d-2").status_code == 202, "main is not listed"


# --- refusals -----------------------------------------------------------------------------------


def test_failing_specs_are_answered_200_failure_and_leave_the_remote_alone(
    client, git_server
) -> None:  # type: ignore[no-untyped-def]
    """The delivery was handled: the failure goes on the commit, not to the webhook's log,
    whose failures GitLab counts towards disabling the hook."""
    name = _repo(git_server, {**SPECS, "wukong/broken.yaml": BROKEN_SPEC})
    head = git_server.head(name)
    response = _push(client, git_server, name)
    body = response.get_json()
    assert response.status_code == 200
    assert body["status"] == "failure" and body["commit_sha"] is None
    assert body["error"] and body["summary"]["error"] >= 1
    assert {f["file"] for f in body["findings"] if f["severity"] == "error"} == {
        "wukong/broken.yaml"
    }
    assert git_server.head(name) == head


def test_broken_repo_config_is_a_failure(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SPECS, ".wukong.yaml": b"outputPath: /etc\n"})
    response = _push(client, git_server, name)
    assert (response.status_code, response.get_json()["status"]) == (200, "failure")
    [finding] = response.get_json()["findings"]
    assert finding["file"] == ".wukong.yaml" and finding["code"] == "spec.invalid"


def test_not_allow_listed_is_403_before_any_clone(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, prefix="stranger")
    response = _push(client, git_server, name)
    assert response.status_code == 403
    assert "WUKONG_ALLOWED_REPOS" in response.get_json()["error"]
    assert git_server.requests(name) == [], "nothing reached the Git server"


def test_empty_allow_list_allows_nothing(client, git_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("WUKONG_ALLOWED_REPOS")
    name = _repo(git_server)
    assert _push(client, git_server, name).status_code == 403


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_bad_signature_is_401(client, git_server, provider) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    payload = _payload(provider, git_server.url(name), git_server.head(name))
    response = _deliver(client, provider, payload, secret="not-the-secret")
    assert response.status_code == 401
    assert git_server.requests(name) == [], "nothing reached the Git server"


def test_missing_signature_is_401(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/webhook", json={}, headers={"X-GitHub-Event": "push"})
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.get_json()["error"]


def test_unset_secret_is_503(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("WUKONG_WEBHOOK_SECRET")
    response = client.post("/webhook", json={}, headers={"X-GitHub-Event": "ping"})
    assert response.status_code == 503
    assert "WUKONG_WEBHOOK_SECRET" in response.get_json()["error"]


def test_unknown_sender_and_garbage_are_400(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/webhook", data=b"{}").status_code == 400
    garbage = b"\xff\x00 not json"
    headers = _headers("github", garbage, "d-9")
    response = client.post("/webhook", data=garbage, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_oversized_delivery_is_413(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", "100")
    body = b"{" + b" " * 200 + b"}"
    response = client.post("/webhook", data=body, headers=_headers("github", body, "d"))
    assert response.status_code == 413


# --- events that are not rendered ---------------------------------------------------------------


def test_ping_is_200(client) -> None:  # type: ignore[no-untyped-def]
    response = _deliver(client, "github", {"zen": "Keep it logically awesome."}, event="ping")
    assert response.status_code == 200
    assert response.get_json()["status"] == "pong"


def test_other_events_are_202_ignored(client) -> None:  # type: ignore[no-untyped-def]
    response = _deliver(client, "github", {"action": "opened"}, event="issues")
    assert response.status_code == 202
    assert "issues" in response.get_json()["ignored"]


def test_tag_push_is_202_ignored(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    response = _push(client, git_server, name, ref="refs/tags/v1")
    assert response.status_code == 202
    assert "tag" in response.get_json()["ignored"]


def test_branch_deletion_is_202_ignored(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    payload = _payload("github", git_server.url(name), ZERO, deleted=True, head_commit=None)
    response = _deliver(client, "github", payload)
    assert response.status_code == 202
    assert "deleted" in response.get_json()["ignored"]
    assert git_server.requests(name) == [], "nothing reached the Git server"


# --- Git failures -------------------------------------------------------------------------------


def test_refused_credentials_are_a_final_error_and_scrubbed(
    client, git_server, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """No redelivery can help: 200 with status error, not a 5xx the sender would retry."""
    monkeypatch.setenv("WUKONG_GIT_TOKEN", "wrong-token-77aa")
    name = _repo(git_server)
    response = _push(client, git_server, name)
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "error")
    assert body["retryable"] is False
    assert body["error"] == (
        "failed to fetch main: authentication failed: the Git server refused the credentials "
        "(HTTP 401)"
    )
    assert "wrong-token-77aa" not in response.get_data(as_text=True)


def test_missing_repository_is_a_final_error(client, git_server) -> None:  # type: ignore[no-untyped-def]
    payload = _payload("github", git_server.url("allowed-nowhere/vms"), "2" * 40)
    response = _deliver(client, "github", payload)
    assert (response.status_code, response.get_json()["status"]) == (200, "error")
    assert response.get_json()["retryable"] is False


def test_a_git_server_that_fails_for_now_is_502_retryable(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    git_server.drop_push(name, "before")
    response = _push(client, git_server, name)
    assert response.status_code == 502 and response.get_json()["retryable"] is True
    assert _push(client, git_server, name, delivery="d-2").get_json()["status"] == "committed"


def test_bad_author_setting_is_503(client, git_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_GIT_AUTHOR", "no email here")
    name = _repo(git_server)
    response = _push(client, git_server, name)
    assert response.status_code == 503
    assert "WUKONG_GIT_AUTHOR" in response.get_json()["error"]


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_never_reach_responses_or_logs(client, git_server, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """Every path that touches a secret, with every logger at DEBUG."""
    basic = base64.b64encode(f"{git_server.user}:{git_server.token}".encode()).decode()
    secrets = (SECRET, git_server.token, basic)
    bodies: list[str] = []
    name = _repo(git_server)
    with caplog.at_level(logging.DEBUG):
        for provider in ("github", "gitlab", "gitea"):
            bodies.append(_push(client, git_server, name, provider, f"s-{provider}").get_data(True))
        payload = _payload("github", git_server.url(name), git_server.head(name))
        bodies.append(_deliver(client, "github", payload, secret="wrong").get_data(True))
        # a clone URL that carries credentials itself
        creds_url = git_server.url(name).replace("://", f"://{git_server.user}:{git_server.token}@")
        payload = _payload("github", creds_url, git_server.head(name))
        bodies.append(_deliver(client, "github", payload, "s-creds").get_data(True))
        monkeypatch.setenv("WUKONG_GIT_TOKEN", git_server.token + "-wrong")
        bodies.append(_push(client, git_server, name, delivery="s-bad-token").get_data(True))
    records = [r.getMessage() + json.dumps(getattr(r, "json_fields", {})) for r in caplog.records]
    assert any("POST /webhook" in r for r in records)
    for text in bodies + records:
        for secret in secrets:
            assert secret not in text


# --- data safety: what each render commit does to the VMs' disks --------------------------------

SYSTEM = {"name": "system", "size": "20Gi", "image": "docker://quay.io/containerdisks/fedora:41"}
DATA = {"name": "data", "size": "10Gi"}
WEB = as_yaml(wukong("web", "vms", disks=[SYSTEM, DATA])).encode()
# Attaches its PVC and owns none: deleting it deletes no data.
DB = as_yaml(wukong("db", "vms", disks=[{"name": "system", "existingPVC": {"name": "db-root"}}]))
SAFETY_REPO = {
    "wukong/web.yaml": WEB,
    "wukong/db.yaml": DB.encode(),
    "rendered/NOTES.md": b"mine\n",
}
CONFIRM = b"argocd.argoproj.io/sync-options: Prune=confirm,Delete=confirm\n"


def _edit(**spec: Any) -> bytes:
    """web.yaml edited: `spec` overrides cpu, memory or disks; name and namespace too."""
    name, ns = spec.pop("name", "web"), spec.pop("ns", "vms")
    return as_yaml(wukong(name, ns, disks=spec.pop("disks", [SYSTEM, DATA]), **spec)).encode()


def _message(server: GitServer, name: str, branch: str = "main") -> tuple[str, list[str], str]:
    """The head commit's message as (subject, body lines, trailer paragraph)."""
    paragraphs = server.log(name, branch)[0].split("\n\n")
    body = paragraphs[1].splitlines() if len(paragraphs) == 3 else []
    return paragraphs[0], body, paragraphs[-1]


def _lines(findings: list[dict[str, Any]]) -> list[str]:
    return [f"{f['file']}:{f['line']}: warning {f['code']}: {f['message']}" for f in findings]


@pytest.mark.parametrize(
    ("edit", "delete", "expected"),
    [
        ({}, ("wukong/web.yaml",), [("vm.removed", "rendered/vms/web.yaml", 1, "vms/web")]),
        ({"wukong/web.yaml": _edit(name="web2")}, (),
         [("vm.renamed", "wukong/web.yaml", 1, "vms/web2")]),
        ({"wukong/web.yaml": _edit(ns="prod")}, (),
         [("vm.renamed", "wukong/web.yaml", 1, "prod/web")]),
        ({"wukong/web.yaml": _edit(disks=[{**SYSTEM, "size": "40Gi", "image": "docker://x/y:2"},
                                          DATA])}, (),
         [("disk.change-ignored", "wukong/web.yaml", 12, "vms/web")]),  # at `image:`
        ({"wukong/web.yaml": _edit(cpu=4)}, (), []),
        ({}, ("wukong/db.yaml",), []),
    ],
    ids=["delete-spec", "rename", "move-namespace", "size-and-image", "cpu-only",
         "delete-vm-without-own-disks"],
)  # fmt: skip
def test_each_render_commit_says_what_it_does_to_data(
    client, git_server, edit: dict[str, bytes], delete: tuple[str, ...], expected: list[tuple]
) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, SAFETY_REPO)
    first = _push(client, git_server, name).get_json()
    # A first render into an empty output folder has nothing to compare with.
    assert (first["status"], first["findings"]) == ("committed", [])
    rendered = git_server.files(name, "main")
    assert CONFIRM in rendered["rendered/vms/web.yaml"]
    assert b"sync-options" not in rendered["rendered/vms/db.yaml"]
    assert _message(git_server, name)[1] == []

    source = git_server.human_push(name, edit, delete=delete)
    response = _push(client, git_server, name, delivery="d-2")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "committed")  # warnings never stop it
    found = body["findings"]
    assert [(f["code"], f["file"], f["line"], f["object"]) for f in found] == expected
    assert all(f["severity"] == "warning" for f in found)
    subject, lines, trailers = _message(git_server, name)
    assert subject == f"wukong: render {body['vm_count']} VMs from {source[:7]}"
    assert lines == _lines(found)
    assert trailers == f"Wukong-Source-Commit: {source}\nWukong-Delivery: d-2"
    after = git_server.files(name, "main")
    assert after["rendered/NOTES.md"] == b"mine\n", "a file Wukong did not write stays"
    for vm_file in (p for p in after if p.startswith("rendered/") and "/web" in p):
        assert CONFIRM in after[vm_file]  # renamed, moved or edited: still protected


def test_the_output_branch_is_what_a_render_is_compared_with(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SAFETY_REPO, ".wukong.yaml": b"outputBranch: deploy\n"})
    assert _push(client, git_server, name).get_json()["findings"] == []
    source = git_server.human_push(name, {}, delete=("wukong/web.yaml",))
    body = _push(client, git_server, name, delivery="d-2").get_json()
    assert [(f["code"], f["object"]) for f in body["findings"]] == [("vm.removed", "vms/web")]
    assert _message(git_server, name, "deploy")[1] == _lines(body["findings"])
    assert git_server.head(name) == source, "the source branch is never written"


def test_protect_disks_in_the_repository_config(client, git_server) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SAFETY_REPO, ".wukong.yaml": b"protectDisks: never\n"})
    _push(client, git_server, name)
    web = git_server.files(name, "main")["rendered/vms/web.yaml"]
    assert b"argocd.argoproj.io/sync-options: Prune=false,Delete=false\n" in web
