"""Pull-request mode's commit step (wukong_core/git/propose.py) on the test Git server and the
fake forge mounted beside it: races between deliveries, a request that cannot be written, the
output branch as the request's base, and what is refused before anything is written."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.forge import Forge
from tests.git.test_commit import render_specs, request
from tests.hosting import create_branch
from wukong_core.errors import GitError, HostError, PushRejectedError
from wukong_core.git.commit import CommitResult, RenderOutput, SourceTree, commit_manifests
from wukong_core.git.hosts import GitHost, Repository, open_host
from wukong_core.marks import BOT_PREFIX

if TYPE_CHECKING:
    from tests.gitserver import GitRepo

pytest_plugins = ["tests.gitserver"]

BOT = BOT_PREFIX + "main"


def proposing(tree: SourceTree) -> RenderOutput:
    return dataclasses.replace(render_specs(tree), mode="pull-request")


@pytest.fixture(autouse=True)
def pulls_see_the_repo(forge: Forge, git_repo: GitRepo) -> None:
    forge.pulls.heads = lambda branch: git_repo.server.head(git_repo.name, branch)


def host(repo: GitRepo, kind: str) -> GitHost:
    return open_host(Repository(kind, repo.url, repo.name), repo.server.token,
                     time.monotonic() + 30)  # fmt: skip


class Gate:
    """A host whose `method` waits, on its first call, until the test lets it go on."""

    def __init__(self, inner: GitHost, method: str) -> None:
        self.inner, self.method = inner, method
        self.reached, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method or self.reached.is_set():
            return real

        def gated(*args: Any) -> Any:
            self.reached.set()
            assert self.go.wait(20)
            return real(*args)

        return gated


def in_background(call: Callable[[], CommitResult]) -> tuple[threading.Thread, list[Any]]:
    done: list[Any] = []

    def run() -> None:
        try:
            done.append(call())
        except Exception as e:  # the test asserts on it
            done.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done


@pytest.mark.parametrize(
    ("kind", "waits_in"),
    [("github", "find_pull_request"), ("github", "open_pull_request"),
     ("gitlab", "open_pull_request"), ("gitea", "open_pull_request")],
)  # fmt: skip
def test_racing_deliveries_leave_one_request_showing_the_newest_render(
    git_repo: GitRepo, forge: Forge, kind: str, waits_in: str
) -> None:
    """The stale delivery waits after reading the bot branch, or after pushing its render and
    before writing the request; the newer one runs meanwhile. The stale one's compare-and-swap
    fails, or it writes its text and then sees the refs moved: either way it renders again,
    and the newest render and its text are what stay."""
    server, first = git_repo.server, git_repo.initial
    stale_host = Gate(host(git_repo, kind), waits_in)
    thread, done = in_background(
        lambda: commit_manifests(request(git_repo, proposing, host=stale_host))
    )
    assert stale_host.reached.wait(20)
    pushed_by_stale = server.head(git_repo.name, BOT)
    second = server.human_push(git_repo.name, {"wukong/a.yaml": b"kind: Wukong\ncpu: 2\n"})
    newer = commit_manifests(request(git_repo, proposing, host=host(git_repo, kind)))
    assert (newer.status, newer.source_sha) == ("proposed", second)
    newest = server.head(git_repo.name, BOT)
    assert newest == newer.commit_sha != pushed_by_stale

    stale_host.go.set()
    thread.join(30)
    [stale] = done
    assert isinstance(stale, CommitResult), stale
    assert (stale.status, stale.source_sha, stale.attempts) == ("proposed", second, 2)
    assert stale.commit_sha is None, "the newer render was already there: nothing pushed"
    assert server.head(git_repo.name, BOT) == newest
    [pull] = forge.pulls.open(kind, git_repo.name)
    assert pull.title == f"wukong: render 2 VMs from {second[:7]}"
    assert f"Source commit: {second}" in pull.body
    assert git_repo.head() == second != first


def test_a_request_that_cannot_be_updated_keeps_the_render_it_shows(
    git_repo: GitRepo, forge: Forge
) -> None:
    """Host-neutral (each host's refusals are test_hosts' suite): GitLab's, for its PUT."""
    server, kind = git_repo.server, "gitlab"
    opened = commit_manifests(request(git_repo, proposing, host=host(git_repo, kind)))
    shown = server.head(git_repo.name, BOT)
    assert opened.status == "proposed" and shown == opened.commit_sha
    server.human_push(git_repo.name, {"wukong/a.yaml": b"kind: Wukong\ncpu: 4\n"})
    forge.fail("/(pulls|merge_requests)/1$", 403, {"message": "403 Forbidden"})
    with pytest.raises(HostError) as caught:
        commit_manifests(request(git_repo, proposing, host=host(git_repo, kind)))
    assert caught.value.status == 403 and "the token needs" in str(caught.value)
    assert f"{BOT} was reset to the render its open request shows" in str(caught.value)
    assert server.head(git_repo.name, BOT) == shown


def test_a_separate_output_branch_is_the_request_s_base(git_repo: GitRepo, forge: Forge) -> None:
    """outputBranch: deploy + pull-request: the render of main goes to wukong/render-deploy,
    proposed into deploy; neither main nor deploy is written."""
    server = git_repo.server
    source = server.human_push(git_repo.name, {".wukong.yaml": b"outputBranch: deploy\n"})
    with pytest.raises(GitError, match="the output branch deploy does not exist") as caught:
        commit_manifests(request(git_repo, proposing, host=host(git_repo, "github")))
    assert not caught.value.retryable
    create_branch(server, git_repo.name, "deploy", source)
    result = commit_manifests(request(git_repo, proposing, host=host(git_repo, "github")))
    assert result.proposal is not None
    assert (result.proposal.branch, result.proposal.base) == (BOT_PREFIX + "deploy", "deploy")
    [pull] = forge.pulls.open("github", git_repo.name)
    assert (pull.head, pull.base) == ("wukong/render-deploy", "deploy")
    assert server.show(git_repo.name, "wukong/render-deploy").split("\n")[0] == source
    assert server.head(git_repo.name, "deploy") == source == git_repo.head()
    assert server.head(git_repo.name, BOT) is None


def test_without_the_host_s_api_or_with_a_bot_branch_it_may_not_push_nothing_is_written(
    git_repo: GitRepo, forge: Forge
) -> None:
    with pytest.raises(GitError, match="needs the Git host's API; set WUKONG_STATUS_TOKEN"):
        commit_manifests(request(git_repo, proposing))
    hook = '#!/bin/sh\nwhile read o n ref; do echo "$ref is reserved" >&2; exit 1; done\n'
    git_repo.server.install_hook(git_repo.name, "pre-receive", hook)
    with pytest.raises(PushRejectedError) as caught:
        commit_manifests(request(git_repo, proposing, host=host(git_repo, "github")))
    assert f"let the token push and force-push {BOT_PREFIX}* branches" in str(caught.value)
    assert caught.value.summary.endswith(f"allow the token to force-push {BOT_PREFIX}*")
    assert git_repo.server.head(git_repo.name, BOT) is None
    assert [c for c in forge.calls() if c.method != "GET"] == []
    assert git_repo.head() == git_repo.initial
