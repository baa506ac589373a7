"""The commit status `wukong/render`: every outcome of a delivery sets the right state and
description on the pushed commit, through each host's API (the fake forge mounted on the test
Git server, so the clone URL's origin serves the API as on GHES, GitLab and Gitea), and a
status that cannot be posted never changes the delivery's answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.endpoints.test_webhook import BROKEN_SPEC, SECRET, SPECS, _deliver, _payload, _repo
from tests.forge import TOKEN, Forge
from tests.hardening import make_app, webhook_env
from wukong_core.endpoints import statuses
from wukong_core.endpoints.app import App
from wukong_core.findings import Finding
from wukong_core.git.hosts import http

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]

# Where each host keeps a repository's statuses: the API path, from its owner/name (GitLab: its
# full path, URL-encoded), the one the clone URL names.
API = {"github": "/api/v3/repos/{}/statuses/", "gitlab": "/api/v4/projects/{}/statuses/",
       "gitea": "/api/v1/repos/{}/statuses/"}  # fmt: skip
FAILED = {"github": "failure", "gitlab": "failed", "gitea": "failure"}
ERROR = {"github": "error", "gitlab": "failed", "gitea": "error"}


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def client(app, monkeypatch, git_server: GitServer, forge: Forge):  # type: ignore[no-untyped-def]
    """test_webhook's deployment (its secret, repos named allowed-*), with the forge."""
    webhook_env(monkeypatch, git_server, SECRET)
    return app.test_client()


def _push(client, server: GitServer, name: str, provider: str = "github", delivery: str = "d-1",
          **extra: Any):  # type: ignore[no-untyped-def]  # fmt: skip
    payload = _payload(provider, server.url(name), server.head(name), **extra)
    if provider == "gitlab":  # some project's id: the status goes to the clone URL's project
        payload["project"]["id"] = 7
    return _deliver(client, provider, payload, delivery), payload["after"]


def _status(forge: Forge, provider: str, name: str, sha: str) -> dict[str, Any]:
    """The newest status on `sha` of repository `name` (owner/name)."""
    path = API[provider].format(quote(name, safe="") if provider == "gitlab" else name)
    [call] = [c for c in forge.calls() if c.path == path + sha][-1:]
    held = forge.latest(provider, name, sha)
    assert held is not None
    return {"state": call.body["state"], "description": call.body["description"],
            "target_url": call.body.get("target_url"), "headers": call.headers}  # fmt: skip


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_render_commit_is_success_linking_to_it_and_no_change_says_so(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    response, after = _push(client, git_server, name, provider)
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "committed")
    status = _status(forge, provider, name, after)
    commit = body["commit_sha"]
    assert status["state"] == "success"
    assert status["description"] == f"rendered {body['vm_count']} VMs in {commit[:7]}"
    page = git_server.url(name).removesuffix(".git")
    link = f"{page}/-/commit/{commit}" if provider == "gitlab" else f"{page}/commit/{commit}"
    assert status["target_url"] == link
    again, _ = _push(client, git_server, name, provider, delivery="d-2", after=after)
    assert again.get_json()["status"] == "unchanged"
    assert _status(forge, provider, name, after)["description"] == "no change"


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_push_naming_another_repository_than_its_clone_url_is_400_and_marks_nothing(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    """One webhook secret serves every allow-listed repository: the admin of one cannot have
    Wukong's token mark commits of another by naming it in the payload."""
    name = _repo(git_server)
    payload = _payload(provider, git_server.url(name), git_server.head(name))
    if provider == "gitlab":
        payload["project"]["path_with_namespace"] = "victim/vms"
    else:
        payload["repository"]["full_name"] = "victim/vms"
    response = _deliver(client, provider, payload)
    assert response.status_code == 400
    assert "is not the repository of its clone URL" in response.get_json()["error"]
    assert forge.calls() == [] and git_server.requests(name) == []


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_late_delivery_marks_the_commit_it_rendered_and_supersedes_the_pushed_one(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    """A good push A is delivered after a broken push B landed: the render is B's, so B gets
    the failure, and A, which holds no broken spec, is told it was superseded."""
    name = _repo(git_server)
    a = git_server.head(name)
    b = git_server.human_push(name, {"wukong/broken.yaml": BROKEN_SPEC})
    response, after = _push(client, git_server, name, provider, after=a)
    body = response.get_json()
    assert (after, body["status"], body["source_sha"]) == (a, "failure", b)
    on_b = _status(forge, provider, name, b)
    assert (on_b["state"], on_b["description"]) == (
        FAILED[provider],
        "1 error: spec.invalid wukong/broken.yaml:4",
    )
    on_a = _status(forge, provider, name, a)
    assert (on_a["state"], on_a["description"]) == ("success", f"superseded by {b[:7]}")
    assert [held["description"] for held in forge.statuses[provider, name, a]] == [
        f"superseded by {b[:7]}"
    ]


def test_a_superseded_commit_links_where_the_newer_render_does(client, git_server, forge) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    a = git_server.head(name)
    b = git_server.human_push(name, {"README.md": b"a newer commit\n"})
    body = _push(client, git_server, name, after=a)[0].get_json()
    assert (body["status"], body["source_sha"]) == ("committed", b)
    on_b, on_a = _status(forge, "github", name, b), _status(forge, "github", name, a)
    assert on_b["description"] == f"rendered {body['vm_count']} VMs in {body['commit_sha'][:7]}"
    assert on_a["description"] == f"superseded by {b[:7]}"
    assert on_a["target_url"] == on_b["target_url"] and body["commit_sha"] in on_a["target_url"]


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_error_findings_are_a_failure_naming_code_file_and_line(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server, {**SPECS, "wukong/broken.yaml": BROKEN_SPEC})
    response, after = _push(client, git_server, name, provider)
    assert (response.status_code, response.get_json()["status"]) == (200, "failure")
    status = _status(forge, provider, name, after)
    assert status["state"] == FAILED[provider]
    assert status["description"] == "1 error: spec.invalid wukong/broken.yaml:4"
    assert not status["target_url"]


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_a_push_declined_for_good_is_an_error_saying_what_to_change(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    git_server.install_hook(name, "pre-receive", "#!/bin/sh\necho 'protected' >&2\nexit 1\n")
    response, after = _push(client, git_server, name, provider)
    body = response.get_json()
    assert (response.status_code, body["status"], body["retryable"]) == (200, "error", False)
    assert "set outputBranch in .wukong.yaml" in body["error"]
    status = _status(forge, provider, name, after)
    assert status["state"] == ERROR[provider]
    assert status["description"] == (
        "push to main declined (protected branch or hook): allow the token to push, or set "
        "outputBranch"
    )


def test_a_git_failure_that_may_pass_is_502_and_an_error_status(client, git_server, forge) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    git_server.drop_push(name, "before")
    response, after = _push(client, git_server, name)
    assert response.status_code == 502
    status = _status(forge, "github", name, after)
    assert status["state"] == "error"
    assert status["description"].startswith("could not push main: the Git server closed")


@pytest.mark.parametrize("status", [403, 429])
def test_a_rate_limited_pull_request_is_502_so_the_delivery_is_retried(
    client, git_server, forge, status
) -> None:  # type: ignore[no-untyped-def]
    """GitHub's rate limit on opening the request passes: the delivery is worth redelivering."""
    name = _repo(git_server, SPECS | {".wukong.yaml": b"mode: pull-request\n"})
    forge.rate_limit("/pulls$", status=status, method="POST")
    response, after = _push(client, git_server, name)
    body = response.get_json()
    assert (response.status_code, body["retryable"]) == (502, True)
    assert "the API's rate limit" in body["error"] and "needs" not in body["error"]
    said = _status(forge, "github", name, after)
    assert said["state"] == "error"
    assert said["description"] == (
        f"could not open the pull request (HTTP {status}): the API's rate limit; retry once it "
        "resets"
    )


@pytest.mark.parametrize("fault", ["500", "401", "hung"])
def test_a_status_api_that_fails_never_changes_the_answer(
    client, git_server, forge, monkeypatch, fault
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(http, "CALL_TIMEOUT_S", 0.5)
    if fault == "hung":
        forge.delay = 2.0
    else:
        forge.fail("/statuses/", int(fault), {"message": "nope"})
    name = _repo(git_server)
    response, _ = _push(client, git_server, name)
    body = response.get_json()
    assert (response.status_code, body["status"]) == (200, "committed")
    assert forge.calls("github"), "the status was tried"


def test_no_token_no_request_and_each_instance_says_so_once(
    client, git_server, forge, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    """Said once per instance of the function: each new instance (a cold start) says it again,
    whatever another instance in the same process has said."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Request

    monkeypatch.delenv("WUKONG_GIT_TOKEN")
    told: list[int] = []
    for _instance in range(2):
        fresh = Client(Request.application(App().handle))
        with caplog.at_level(logging.INFO):
            for name in (_repo(git_server), _repo(git_server)):  # credentials in the clone URL
                url = git_server.url(name).replace(
                    "://", f"://{git_server.user}:{git_server.token}@"
                )
                payload = _payload("github", url, git_server.head(name))
                assert _deliver(fresh, "github", payload).get_json()["status"] == "committed"
        said = [r.getMessage() for r in caplog.records if "no commit statuses" in r.getMessage()]
        assert all("WUKONG_STATUS_TOKEN" in line for line in said)
        told.append(len(said))
        caplog.clear()
    assert forge.calls() == []
    assert told == [1, 1]


def test_the_status_token_is_used_before_the_git_token(
    client, git_server, forge, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_STATUS_TOKEN", TOKEN)
    forge.token = TOKEN
    name = _repo(git_server)
    response, after = _push(client, git_server, name)
    assert _status(forge, "github", name, after)["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in response.get_data(as_text=True)


def test_a_failure_summary_fits_in_140_characters_and_says_how_many_more() -> None:
    findings = [Finding("disk.size-required", "m", f"wukong/team-{i:02d}/vm.yaml", 12 + i)
                for i in range(9)]  # fmt: skip
    text = statuses.failure_summary(findings)
    assert len(text) <= 140 and text.startswith("9 errors: disk.size-required wukong/team-00/")
    assert text.endswith(", …")
    assert statuses.failure_summary(findings[:1]) == (
        "1 error: disk.size-required wukong/team-00/vm.yaml:12"
    )
    assert statuses.clip("x" * 200) == "x" * 139 + "…"
