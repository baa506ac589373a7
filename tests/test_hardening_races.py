"""Races: many deliveries and human pushes at once on one repository; nothing is lost.

Ten spec commits are pushed one after another by a "human" (the git CLI, over HTTP, retrying
like `git pull --rebase && git push` when the bot got in first), and each push fires two
deliveries at once through functions-framework's app, in threads: twenty deliveries, all
overlapping the pushes and each other. Afterwards:

- the output is byte for byte the render of the newest specs (computed independently, by the
  same pipeline on the newest human commit's files);
- every human commit is an ancestor of the branch (no push was lost or overwritten) and the
  branch holds the newest human commit's files unchanged outside the output folder;
- at most one render commit carries `Wukong-Source-Commit: <sha>` for any source sha, and each
  names a human commit (never a render of a render).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.hardening import (
    SPECS,
    deliver,
    make_app,
    new_repo,
    render_commits_by_source,
    webhook_env,
)
from wukong_core.git.commit import SourceTree
from wukong_core.pipeline import render_repository

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]

PUSHES = 10
DELIVERIES_PER_PUSH = 2


def _spec(i: int) -> bytes:
    """Push i: the VM `grows` has i CPUs, and VMs vm-1 .. vm-i exist."""
    doc = "apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\n"
    doc += "metadata: {{name: {name}, namespace: race}}\nspec: {{cpu: {cpu}, memory: 1Gi}}\n"
    docs = [doc.format(name="grows", cpu=i)]
    docs += [doc.format(name=f"vm-{n}", cpu=1) for n in range(1, i + 1)]
    return "---\n".join(docs).encode()


class _Human:
    """A person with a clone: edit, commit, push; when the bot got in first, redo the edit on
    top of the new head and push again."""

    def __init__(self, server: GitServer, name: str, work: Path) -> None:
        from tests.gitserver import git

        self.git, self.work, self.auth = git, work, server.auth_config()
        git(*self.auth, "clone", "-q", server.url(name), str(work))

    def push(self, i: int) -> str:
        for _ in range(30):
            (self.work / "wukong" / "race.yaml").write_bytes(_spec(i))
            self.git("add", "-A", cwd=self.work)
            self.git("commit", "-q", "-m", f"human {i}", cwd=self.work)
            try:
                self.git(*self.auth, "push", "-q", "origin", "HEAD:main", cwd=self.work)
                return self.git("rev-parse", "HEAD", cwd=self.work)
            except RuntimeError as e:  # the bot got in first: start from its commit, edit again
                assert "rejected" in str(e), e
                self.git(*self.auth, "fetch", "-q", "origin", cwd=self.work)
                self.git("reset", "-q", "--hard", "origin/main", cwd=self.work)  # a temp clone
        raise AssertionError("the human could not push for 30 tries")


def _is_ancestor(server: GitServer, name: str, ancestor: str, rev: str) -> bool:
    from tests.gitserver import git

    try:
        git("merge-base", "--is-ancestor", ancestor, rev, cwd=server.path(name))
    except RuntimeError:
        return False
    return True


def _initial(server: GitServer, name: str) -> str:
    from tests.gitserver import git

    return git("rev-list", "--max-parents=0", "refs/heads/main", cwd=server.path(name))


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


def test_twenty_concurrent_deliveries_for_ten_pushes_lose_nothing(  # type: ignore[no-untyped-def]
    app, git_server, monkeypatch, tmp_path
) -> None:
    webhook_env(monkeypatch, git_server)
    name = new_repo(git_server, {**SPECS, "README.md": b"the humans' file\n"})
    human = _Human(git_server, name, tmp_path / "human")
    humans: list[str] = []
    answers: dict[tuple[int, int], tuple[int, dict[str, Any]] | BaseException] = {}
    lock = threading.Lock()

    def delivery(i: int, k: int) -> None:
        try:
            response = deliver(app.test_client(), git_server, name, f"race-{i}-{k}")
            answer: tuple[int, dict[str, Any]] | BaseException = (
                response.status_code,
                response.get_json(),
            )
        except BaseException as e:  # reported below, not lost in the thread
            answer = e
        with lock:
            answers[i, k] = answer

    threads: list[threading.Thread] = []
    for i in range(1, PUSHES + 1):
        # Spread the human's pushes over the deliveries' fetch-render-push windows.
        time.sleep(random.uniform(0.0, 0.3) if i > 1 else 0)
        humans.append(human.push(i))
        for k in range(DELIVERIES_PER_PUSH):
            thread = threading.Thread(target=delivery, args=(i, k))
            thread.start()
            threads.append(thread)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    # Every delivery answered cleanly: a render, nothing to do, or (only when the branch kept
    # moving under it, i.e. newer pushes with deliveries of their own exist) a retryable 502.
    assert len(answers) == PUSHES * DELIVERIES_PER_PUSH
    errors = [a for a in answers.values() if isinstance(a, BaseException)]
    assert not errors, errors
    replies: dict[tuple[int, int], tuple[int, dict[str, Any]]] = answers  # type: ignore[assignment]
    gave_up = {key: body for key, (status, body) in replies.items() if status != 200}
    for status, body in replies.values():
        if status == 200:
            assert body["status"] in ("committed", "unchanged"), body
        else:
            assert status == 502 and body["retryable"] is True, body
            assert "kept moving" in body["error"], body
    assert len(gave_up) <= len(replies) // 2, gave_up
    # The deliveries of the last push came after every human push: they must all succeed.
    assert not [key for key in gave_up if key[0] == PUSHES], gave_up

    head = git_server.head(name)
    files = git_server.files(name, "main")
    newest = humans[-1]
    human_files = {
        p: d for p, d in git_server.files(name, newest).items() if not p.startswith("rendered/")
    }
    # No human commit lost; the humans' files are exactly those of the newest human commit.
    assert all(_is_ancestor(git_server, name, sha, head) for sha in humans)
    assert {p: d for p, d in files.items() if not p.startswith("rendered/")} == human_files
    # The output is the render of the newest specs, and nothing else.
    expected = render_repository(SourceTree.from_files(newest, human_files))
    assert not [f for f in expected.findings if f.severity == "error"]
    rendered = {
        p.removeprefix("rendered/"): d for p, d in files.items() if p.startswith("rendered/")
    }
    assert rendered == expected.files
    assert b"sockets: 10" in rendered["race/grows.yaml"]
    # At most one render commit per source commit, and only of human commits.
    counts = render_commits_by_source(git_server, name)
    assert counts and max(counts.values()) == 1, counts
    assert set(counts) <= {*humans, _initial(git_server, name)}, counts
