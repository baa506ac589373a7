"""Faults at the two edges: the cluster API and the Git server misbehave; nothing passes silently.

Cluster: the kmock API server answers 500 or 403, hangs, resets the connection, closes it half
way through a body or half way through a paginated LIST, or answers garbage. Each must become a
`cluster.unreachable` / `cluster.forbidden` error finding (and never a `pvc.not-found` for a PVC
that could not be looked up), through the HTTP function as a 422 from /validate and as an
error answered to (and set on the commit by) /webhook.

Git: the server refuses the credentials, a pre-receive hook declines, or the connection dies
during the push (before receive-pack ran, or after it ran but before the answer). Each must
leave the remote intact (ref where it was, or moved to one complete commit; `git fsck --strict`
clean) and be answered in JSON: 502 when a redelivery may help, else a final `"status":
"error"`; and the next delivery must succeed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import kmock
import pytest

from tests.hardening import (
    SPECS,
    deliver,
    fsck,
    make_app,
    new_repo,
    render_commits_by_source,
    webhook_env,
)
from tests.kube import FakeApi, write_kubeconfig
from tests.kube_objects import namespace
from tests.kube_storage import pvc
from wukong_core import pipeline
from wukong_core.cluster import open_cluster
from wukong_core.cluster.live import LiveCluster, RetryPolicy

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver", "tests.kube"]

ATTACHES_PVC = b"""\
apiVersion: vm.novasphere.dev/v1alpha1
kind: Wukong
metadata: {name: db, namespace: vms}
spec:
  cpu: 1
  memory: 1Gi
  disks:
  - name: data
    existingPVC: {name: db-data}
"""
PVCS = "persistentvolumeclaims"


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def healthy_api(kube_api: FakeApi) -> FakeApi:
    kube_api.add(namespace("vms"), pvc("vms", "db-data"))
    return kube_api


@pytest.fixture
def client(app, monkeypatch, healthy_api: FakeApi, tmp_path: Path):  # type: ignore[no-untyped-def]
    for name in ("WUKONG_MAX_BODY_BYTES", "WUKONG_GIT_AUTHOR", "WUKONG_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    config = write_kubeconfig(tmp_path / "kubeconfig", healthy_api.url)
    monkeypatch.setenv("WUKONG_CLUSTER", f"kubeconfig:{config}")
    monkeypatch.setenv("WUKONG_API_TOKEN", "ci-faults")  # a live cluster is never served open
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer ci-faults"
    return client


# --- cluster faults -----------------------------------------------------------------------------


def _raw(api: FakeApi, resource: str, reply: Any, times: int = 1000) -> None:
    """Answer LISTs of `resource` with `reply(request) -> bytes` written straight to the socket,
    then close it: whatever HTTP a broken server or proxy might send."""

    def handler(request: kmock.Request) -> bytes:
        transport = request._raw_request.transport
        transport.write(reply(request))
        transport.close()  # flushes what was written, then hangs up
        return b""

    api._faults(resource, None)[:times] << handler


def _http(body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + body


def _half_body(request: kmock.Request) -> bytes:
    return _http(b'{"kind": "PersistentVolumeClaimList", "items": [{"metadata": {', length=4096)


def _garbage(request: kmock.Request) -> bytes:
    return _http(b"<html>502 Bad Gateway</html>")


def _not_an_object(request: kmock.Request) -> bytes:
    return _http(b'["a", "list", "where", "a", "PersistentVolumeClaimList", "belongs"]')


def _items_not_a_list(request: kmock.Request) -> bytes:
    return _http(b'{"kind": "PersistentVolumeClaimList", "metadata": {}, "items": "db-data"}')


FAULTS = {
    # name: (arm the fault on the API, the finding it must produce)
    "500": (lambda api: api.fail(PVCS, 500, "vms", times=1000), "cluster.unreachable"),
    "403": (lambda api: api.forbid(PVCS, "vms"), "cluster.forbidden"),
    "401": (lambda api: api.fail(PVCS, 401, "vms", times=1000), "cluster.forbidden"),
    "reset": (lambda api: api.reset_connection(PVCS, times=1000), "cluster.unreachable"),
    "half-body": (lambda api: _raw(api, PVCS, _half_body), "cluster.unreachable"),
    "garbage": (lambda api: _raw(api, PVCS, _garbage), "cluster.unreachable"),
    "not-an-object": (lambda api: _raw(api, PVCS, _not_an_object), "cluster.unreachable"),
    "items-not-a-list": (lambda api: _raw(api, PVCS, _items_not_a_list), "cluster.unreachable"),
}


def test_a_healthy_api_validates_the_spec(client) -> None:  # type: ignore[no-untyped-def]
    """The baseline the fault tests flip: the same spec, the same API, no fault -> 200."""
    response = client.post("/validate", data=ATTACHES_PVC)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["cluster"].startswith("live")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failing_api_is_a_cluster_finding_never_a_pass(client, healthy_api, fault) -> None:  # type: ignore[no-untyped-def]
    arm, code = FAULTS[fault]
    arm(healthy_api)
    response = client.post("/validate", data=ATTACHES_PVC)
    body = response.get_json()
    assert response.status_code == 422, body
    assert response.content_type == "application/json"
    codes = [f["code"] for f in body["findings"]]
    assert code in codes, body
    # Nothing that depends on the failed read is claimed: no "does not exist" for db-data.
    assert "pvc.not-found" not in codes
    [finding] = [f for f in body["findings"] if f["code"] == code]
    assert finding["severity"] == "error" and finding["file"] == "request.yaml"
    assert PVCS in finding["message"] and "vms" in finding["message"]
    if code == "cluster.forbidden":
        assert 'grant "list" on persistentvolumeclaims' in finding["message"]


def _paged_view(api: FakeApi, tmp_path: Path) -> LiveCluster:
    view = open_cluster(f"kubeconfig:{write_kubeconfig(tmp_path / 'kc', api.url)}")
    assert isinstance(view, LiveCluster)
    view.page_size = 1  # every PVC its own page, so the list can break half way
    view.retry = RetryPolicy(attempts=2, backoff=0.01)
    view.timeout = (2.0, 0.3)
    return view


def _cluster_codes(view: LiveCluster) -> list[str]:
    outcome = pipeline.run([("vm.yaml", ATTACHES_PVC)], cluster=view, render=False)
    assert not outcome.ok
    return [f.code for f in outcome.findings]


def test_connection_closed_in_the_middle_of_a_paginated_list(
    healthy_api: FakeApi, tmp_path: Path
) -> None:
    healthy_api.add(pvc("vms", "aa-first"), pvc("vms", "zz-last"))  # db-data is on page 2 of 3

    def cut_follow_up_pages(request: kmock.Request) -> Any:
        if request.params.get("continue"):
            request._raw_request.transport.abort()  # page 1 arrived; then the line goes dead
            return b""
        return healthy_api._serve_list(request)

    healthy_api._faults(PVCS, None)[:1000] << cut_follow_up_pages
    view = _paged_view(healthy_api, tmp_path)
    codes = _cluster_codes(view)
    assert "cluster.unreachable" in codes and "pvc.not-found" not in codes
    continued = [r for r in healthy_api.requests if r.params.get("continue")]
    assert continued, "the fault must hit a follow-up page, not the first"


def test_an_api_that_never_answers_is_unreachable(healthy_api: FakeApi, tmp_path: Path) -> None:
    healthy_api.delay(PVCS, seconds=2.0, times=1000)
    codes = _cluster_codes(_paged_view(healthy_api, tmp_path))
    assert "cluster.unreachable" in codes and "pvc.not-found" not in codes


def test_a_forbidden_cluster_during_a_webhook_commits_nothing(  # type: ignore[no-untyped-def]
    client, healthy_api, git_server, monkeypatch
) -> None:
    webhook_env(monkeypatch, git_server)
    monkeypatch.setenv(
        "WUKONG_CLUSTER",
        f"kubeconfig:{write_kubeconfig(Path(git_server.root) / 'kc', healthy_api.url)}",
    )
    name = new_repo(git_server, {"wukong/db.yaml": ATTACHES_PVC})
    head = git_server.head(name)
    healthy_api.forbid(PVCS, "vms")
    response = deliver(client, git_server, name, "forbidden-1")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "error"  # a cluster failure, not the specs'
    assert response.get_json()["retryable"] is False
    assert "cluster.forbidden" in [f["code"] for f in response.get_json()["findings"]]
    assert git_server.head(name) == head


# --- Git faults ---------------------------------------------------------------------------------


@pytest.fixture
def hook_client(app, monkeypatch, git_server: GitServer):  # type: ignore[no-untyped-def]
    webhook_env(monkeypatch, git_server)
    return app.test_client()


def _assert_intact(server: GitServer, name: str, head: str | None) -> None:
    assert server.head(name) == head
    assert fsck(server, name) == ""
    assert render_commits_by_source(server, name) == {}


def test_refused_credentials_are_a_final_error_and_the_next_delivery_succeeds(  # type: ignore[no-untyped-def]
    hook_client, git_server, monkeypatch
) -> None:
    name = new_repo(git_server)
    head = git_server.head(name)
    monkeypatch.setenv("WUKONG_GIT_TOKEN", "revoked-token-0000")
    response = deliver(hook_client, git_server, name, "auth-1")
    body = response.get_json()
    assert response.status_code == 200 and response.content_type == "application/json"
    assert body["status"] == "error"
    assert "refused the credentials" in body["error"] and body["retryable"] is False
    _assert_intact(git_server, name, head)
    monkeypatch.setenv("WUKONG_GIT_TOKEN", git_server.token)
    assert deliver(hook_client, git_server, name, "auth-1").get_json()["status"] == "committed"


def test_a_declining_pre_receive_hook_is_a_final_error_with_its_message(hook_client, git_server):  # type: ignore[no-untyped-def]
    name = new_repo(git_server)
    head = git_server.head(name)
    hook = "#!/bin/sh\necho 'policy: main is frozen for the release' >&2\nexit 1\n"
    git_server.install_hook(name, "pre-receive", hook)
    response = deliver(hook_client, git_server, name, "hook-1")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "error")
    assert "declined" in body["error"] and "main is frozen" in body["error"]
    assert body["retryable"] is False
    _assert_intact(git_server, name, head)
    (git_server.path(name) / "hooks" / "pre-receive").unlink()
    assert deliver(hook_client, git_server, name, "hook-1").get_json()["status"] == "committed"


def test_connection_dropped_before_receive_pack_leaves_the_remote_untouched(  # type: ignore[no-untyped-def]
    hook_client, git_server
) -> None:
    name = new_repo(git_server)
    head = git_server.head(name)
    git_server.drop_push(name, "before")
    response = deliver(hook_client, git_server, name, "drop-1")
    body = response.get_json()
    assert response.status_code == 502, body
    assert body["error"].startswith("failed to push main:") and body["retryable"] is True
    assert "closed the connection before answering; redeliver to retry" in body["error"]
    assert any("(dropped before)" in r for r in git_server.requests(name))
    _assert_intact(git_server, name, head)
    # The sender retries the same delivery: it goes through.
    again = deliver(hook_client, git_server, name, "drop-1")
    assert again.status_code == 200 and again.get_json()["status"] == "committed"
    assert render_commits_by_source(git_server, name) == {head: 1}
    assert fsck(git_server, name) == ""


def test_connection_dropped_after_receive_pack_is_502_then_a_no_op(hook_client, git_server) -> None:  # type: ignore[no-untyped-def]
    """The push landed but the answer was lost: Wukong cannot know, says so (retryable), and
    the retry finds the render already there instead of committing it twice."""
    name = new_repo(git_server)
    head = git_server.head(name)
    git_server.drop_push(name, "after")
    response = deliver(hook_client, git_server, name, "drop-2")
    assert response.status_code == 502 and response.get_json()["retryable"] is True
    assert any("(dropped after)" in r for r in git_server.requests(name))
    assert fsck(git_server, name) == ""
    again = deliver(hook_client, git_server, name, "drop-2")
    assert again.status_code == 200 and again.get_json()["status"] == "unchanged"
    assert render_commits_by_source(git_server, name) == {head: 1}
    assert "rendered/kustomization.yaml" in git_server.files(name, "main")
    assert set(SPECS) <= set(git_server.files(name, "main"))
