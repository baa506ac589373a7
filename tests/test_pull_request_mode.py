"""`.wukong.yaml mode: pull-request` end to end: signed pushes to a protected `main` on the
test Git server (only git's CLI, that is a person, may update it: Wukong's dulwich is refused
and every attempt logged), the fake forge's pull/merge request API mounted beside it, for
GitHub, GitLab and Gitea in one suite."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.endpoints.test_webhook import SECRET, _deliver, _payload
from tests.forge import Forge
from tests.hardening import make_app, webhook_env
from tests.hosting import create_branch, merge, protect_branch, ref_updates
from tests.specs import as_yaml, wukong

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]

PROVIDERS = ["github", "gitlab", "gitea"]
BOT = "wukong/render-main"


def spec(name: str, cpu: int = 1) -> bytes:
    return as_yaml(wukong(name, cpu=cpu, disks=[{"name": "root", "size": "10Gi"}])).encode()


# `branches: ['*']` watches every branch, the bot's own included.
CONFIG = b"mode: pull-request\nbranches: ['*']\n"
SPECS = {f"wukong/{vm}.yaml": spec(vm) for vm in ("web", "db", "app")} | {".wukong.yaml": CONFIG}
_names = iter(range(10_000))
app = pytest.fixture(make_app, scope="module", name="app")


@pytest.fixture
def client(app, monkeypatch, git_server: GitServer, forge: Forge):  # type: ignore[no-untyped-def]
    webhook_env(monkeypatch, git_server, SECRET)  # test_webhook's deployment, with the forge
    return app.test_client()


def protected_repo(server: GitServer, forge: Forge, files: dict[str, bytes] = SPECS) -> str:
    name = f"allowed-pr-{next(_names)}/vms"
    server.create_repo(name, files)
    protect_branch(server, name)
    forge.pulls.heads = lambda branch: server.head(name, branch)
    return name


def push(client, server: GitServer, name: str, provider: str, delivery: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    payload = _payload(provider, server.url(name), server.head(name))
    if provider == "gitlab":  # some project's id: requests go to the clone URL's project
        payload["project"]["id"] = 7
    response = _deliver(client, provider, payload, f"{provider}-{delivery}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def status(forge: Forge, sha: str) -> dict[str, Any]:
    [call] = [c for c in forge.calls() if c.path.endswith(f"/statuses/{sha}")][-1:]
    return call.body


def only_people_wrote_main(server: GitServer, name: str) -> bool:
    updates = ref_updates(server, name)
    return all(not agent.startswith("git/dulwich/") for ref, agent in updates
               if ref == "refs/heads/main")  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_request_is_opened_updated_merged_and_closed_and_main_is_never_written(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    name = protected_repo(git_server, forge)
    key = name  # the forge keeps a repository by its path, which the clone URL gives
    pulls = forge.pulls

    # 1. The first render opens one request wukong/render-main -> main.
    first = git_server.head(name)
    body = push(client, git_server, name, provider, "1")
    assert (body["status"], body["request"]["action"]) == ("proposed", "opened")
    [request] = pulls.open(provider, key)
    assert (request.head, request.base, request.number) == (BOT, "main", 1)
    assert request.title == f"wukong: render 3 VMs from {first[:7]}"
    assert "- added: `vms/app`, `vms/db`, `vms/web`" in request.body
    assert f"Source commit: {first}" in request.body
    assert git_server.head(name) == first, "main is not written"
    assert git_server.show(name, BOT).split("\n")[0] == first, "the render sits on main's head"
    assert body["commit_sha"] == git_server.head(name, BOT)
    said = status(forge, first)
    assert said["description"] == f"render proposed in {body['request']['url']}"
    assert said["target_url"] == body["request"]["url"]

    # 2. A second push updates that request: still one open, showing the new render.
    second = git_server.human_push(name, {"wukong/web.yaml": spec("web", cpu=2)})
    body = push(client, git_server, name, provider, "2")
    assert (body["status"], body["request"]["action"]) == ("proposed", "updated")
    [request] = pulls.open(provider, key)
    assert request.number == 1 and request.title.endswith(f"from {second[:7]}")
    assert git_server.show(name, BOT).split("\n")[0] == second

    # 3. Merging it (on the Git server) leads to a push of main that renders to nothing new.
    merged = merge(git_server, name, BOT, message=f"Merge request {BOT} into main")
    pulls.merged(provider, key, 1)
    body = push(client, git_server, name, provider, "3")
    assert (body["status"], body["request"]["action"]) == ("unchanged", "none")
    assert pulls.open(provider, key) == [] and git_server.head(name, BOT) is None
    assert git_server.head(name) == merged and status(forge, merged)["description"] == "no change"

    # 4. The next change opens a new request saying what it does to VMs and their disks.
    git_server.human_push(name, {"wukong/web.yaml": spec("web", cpu=3)}, delete=("wukong/db.yaml",))
    body = push(client, git_server, name, provider, "4")
    assert (body["status"], body["request"]["action"]) == ("proposed", "opened")
    [request] = pulls.open(provider, key)
    assert request.number == 2
    assert "- changed: `vms/web`" in request.body and "- removed: `vms/db`" in request.body
    assert "vms/app" not in request.body, "app's file, kept by blob id, is neither read nor gone"
    assert "warning vm.removed:" in request.body

    # 5. A push that leaves nothing to render closes it, saying why, and deletes the branch.
    reverted = git_server.human_push(name, {"wukong/web.yaml": spec("web", cpu=2),
                                            "wukong/db.yaml": spec("db")})  # fmt: skip
    body = push(client, git_server, name, provider, "5")
    assert (body["status"], body["request"]["action"]) == ("unchanged", "closed")
    assert pulls.open(provider, key) == [] and git_server.head(name, BOT) is None
    [why] = pulls.comments[provider, key, 2]
    assert "nothing left to merge" in why
    ref = "!2" if provider == "gitlab" else "#2"
    assert status(forge, reverted)["description"] == f"no change; closed {ref}"

    # 6. A redelivery (to an instance that never saw it) changes nothing.
    writes = [c for c in forge.calls() if c.method != "GET" and "/statuses/" not in c.path]
    fresh = make_app().test_client()
    body = push(fresh, git_server, name, provider, "5")
    assert (body["status"], body["request"]["action"]) == ("unchanged", "none")
    assert [c for c in forge.calls() if c.method != "GET" and "/statuses/" not in c.path] == writes

    # Wukong's own branch is never rendered, even where `branches` would match it.
    create_branch(git_server, name, BOT, reverted)
    payload = _payload(provider, git_server.url(name), reverted, ref=f"refs/heads/{BOT}")
    ignored = _deliver(client, provider, payload, f"{provider}-bot")
    assert ignored.status_code == 202 and "Wukong's own proposal" in ignored.get_json()["ignored"]

    assert git_server.head(name) == reverted
    assert git_server.token not in json.dumps([c.body for c in forge.calls()])
    assert only_people_wrote_main(git_server, name)
    bot_pushes = [ref for ref, agent in ref_updates(git_server, name) if "dulwich" in agent]
    assert bot_pushes and set(bot_pushes) == {f"refs/heads/{BOT}"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_api_leaves_no_branch_without_its_request(
    client, git_server, forge, provider
) -> None:  # type: ignore[no-untyped-def]
    name = protected_repo(git_server, forge)
    said = {"github": {"message": "Resource not accessible by personal access token"},
            "gitlab": {"error": "insufficient_scope", "scope": "api"},
            "gitea": {"message": "token does not have at least one of required scope(s): "
                                 "[write:repository]"}}[provider]  # fmt: skip
    forge.fail("/(pulls|merge_requests)$", 403, said, method="POST")
    body = push(client, git_server, name, provider, "1")
    needs = {"github": '"Pull requests: write" (classic: repo)',
             "gitlab": "the api scope and the Developer role",
             "gitea": "the write:repository scope"}[provider]  # fmt: skip
    assert (body["status"], body["retryable"]) == ("error", False)
    assert f"the token needs {needs}" in body["error"]
    assert f"{BOT} was deleted again, so no branch is left without its request" in body["error"]
    kind = "merge request" if provider == "gitlab" else "pull request"
    said = status(forge, git_server.head(name))
    assert said["state"] == ("failed" if provider == "gitlab" else "error")
    assert said["description"] == f"could not open the {kind} (HTTP 403): the token needs {needs}"
    assert git_server.head(name, BOT) is None
    assert forge.pulls.open(provider, name) == []
    assert only_people_wrote_main(git_server, name)
