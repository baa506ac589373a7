"""P4: a signed push webhook -> the rendered commit pushed, on a 2,000-spec repository.

Ours: `POST /webhook` (GitHub-signed) through functions-framework's test client of main.py:
shallow fetch, render all 2,000 specs, rebuild the output tree, commit, push (dulwich).
Baseline: the git CLI making the same change by hand: `git clone --depth 1`, write the changed
rendered files, `git add`, `git commit`, `git push`. Both against twin repositories served by
`git http-backend` behind basic auth on 127.0.0.1 (tests/gitserver.py). Before each round,
untimed, a human edit of 20 specs is pushed to every twin. The figure is for a warm instance
(the load and render memos hold the unchanged specs, as on any delivery but an instance's
first); a cold twin, a fresh instance with empty caches, is measured beside it. Everything runs
in memory (`scratch`), so the disk's throttling of the baseline's checkout does not flatter the
ratio. (bench/bench_commit.py measures the commit step alone, with a fixed render.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, Paired, make_specs, runs_for, scratch, timed
from tests.gitserver import GitServer, git, serve_git
from wukong_core import pipeline
from wukong_core.git.commit import SourceTree

COUNT = 2_000
NAMESPACES = 20
CHANGED = 20
SECRET = "bench-secret"
OUTPUT = "rendered/"


def render_files(variants: dict[int, int]) -> dict[str, bytes]:
    """The whole repository for a given set of edited specs: specs + their render, made by
    the commit-back renderer itself (so the PreSync hooks and paths match)."""
    specs = dict(make_specs(COUNT, NAMESPACES, variants))
    out = pipeline.render_repository(SourceTree.from_files("0" * 40, specs))
    assert not out.findings and out.output_path == OUTPUT
    return specs | {OUTPUT + path: data for path, data in out.files.items()}


class Twin:
    """A bare repository on the server and a local clone that plays the human."""

    def __init__(self, server: GitServer, name: str, files: dict[str, bytes], work: Path):
        self.server, self.name = server, name
        server.create_repo(name, files)
        self.human = work / f"{name}-human"
        git("clone", "-q", str(server.path(name)), str(self.human))

    def human_push(self, files: dict[str, bytes]) -> str:
        git("fetch", "-q", "origin", cwd=self.human)
        git("reset", "-q", "--hard", "origin/main", cwd=self.human)
        for rel, data in files.items():
            (self.human / rel).write_bytes(data)
        git("commit", "-q", "-am", "human edit of specs", cwd=self.human)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=self.human)
        return git("rev-parse", "HEAD", cwd=self.human)


def _delivery(url: str, head: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    commit = {"id": head, "message": "human edit of specs\n", "modified": []}
    payload = {
        "ref": "refs/heads/main", "before": "1" * 40, "after": head, "commits": [commit],
        "head_commit": commit,
        "repository": {"clone_url": url, "full_name": "bench/vms", "default_branch": "main"},
    }  # fmt: skip
    body = json.dumps(payload).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + digest,
    }
    return body, headers


def measure(quick: bool) -> list[Figure]:
    import functions_framework

    runs = runs_for(quick)
    with scratch() as tmp, serve_git(Path(tmp) / "repos") as server:
        work = Path(tmp) / "work"
        work.mkdir()
        initial = render_files({})
        state: dict[str, Any] = {"variants": {}, "files": initial}
        names = ("ours", "cold", "cli")
        twins = {n: Twin(server, n, initial, work) for n in names}
        os.environ.update(
            WUKONG_WEBHOOK_SECRET=SECRET,
            WUKONG_ALLOWED_REPOS=server.url("*"),
            WUKONG_GIT_USERNAME=server.user,
            WUKONG_GIT_TOKEN=server.token,
            WUKONG_CLUSTER="offline",
        )

        def instance() -> Any:
            """A fresh instance of the function: its own, empty caches."""
            return functions_framework.create_app(
                target="wukong", source=str(ROOT / "main.py")
            ).test_client()

        client = instance()

        def before(round_: int) -> None:
            """Push an edit of 20 specs (a different 20 each round) to every twin.

            Nothing is rendered here: that would fill the memos with the new specs and flatter
            the warm side. The git CLI side writes what the warm webhook committed."""
            first = (round_ + 1) * CHANGED * 7 % COUNT
            variants = dict(state["variants"])
            for i in range(first, first + CHANGED):
                variants[i % COUNT] = round_ + 2
            specs = dict(make_specs(COUNT, NAMESPACES, variants))
            edited = {p: d for p, d in specs.items() if state["files"].get(p) != d}
            assert len(edited) == CHANGED
            state["heads"] = {n: twin.human_push(edited) for n, twin in twins.items()}
            state["files"], state["variants"], state["round"] = specs, variants, round_
            state["fresh"] = instance()  # started untimed, as Cloud Run starts it before a request

        def committed_change() -> dict[str, bytes]:
            """The rendered files the warm webhook's commit changed (read untimed)."""
            changed = git(
                "diff", "--name-only", "HEAD~1", "HEAD", "--", OUTPUT, cwd=server.path("ours")
            ).split()
            return {p: server.read("ours", "HEAD", p) for p in changed}

        def webhook(name: str, client: Any) -> None:
            head, delivery = state["heads"][name], f"{name}-{state['round']}"
            body, headers = _delivery(server.url(name), head, delivery)
            response = client.post(
                "/webhook", data=body, headers=headers, content_type="application/json"
            )
            answer = response.get_json()
            assert response.status_code == 200 and answer["status"] == "committed", answer

        def git_cli() -> None:
            clone = Path(tempfile.mkdtemp(dir=work))
            auth = server.auth_config()
            git(*auth, "clone", "-q", "--depth", "1", "-b", "main", server.url("cli"), str(clone))
            for rel, data in state["rendered_change"].items():
                (clone / rel).write_bytes(data)
            git("add", "-A", OUTPUT, cwd=clone)
            git("commit", "-q", "-m", "render", cwd=clone)
            git(*auth, "push", "-q", "origin", "HEAD:refs/heads/main", cwd=clone)

        sides = {
            "warm": lambda: webhook("ours", client),
            "cold": lambda: webhook("cold", state["fresh"]),  # a fresh instance: nothing memoised
            "cli": git_cli,
        }
        times: dict[str, list[float]] = {n: [] for n in sides}
        for round_ in range(-1, runs):  # round -1: the untimed warm-up
            before(round_)
            for name, fn in sides.items():
                seconds = timed(fn)[0]
                if round_ >= 0:
                    times[name].append(seconds)
                if name == "warm":
                    state["rendered_change"] = committed_change()
        changed_files = len(state["rendered_change"])
    warm, coldly = Paired(times["warm"], times["cli"]), Paired(times["cold"], times["cli"])
    what = f"({COUNT:,} specs, {CHANGED} changed, {changed_files} rendered files changed)"
    baseline = f"git clone --depth 1 + commit + push: {warm.describe('b')}"
    return [
        Figure(
            id="P4",
            measure=f"signed push webhook -> rendered commit pushed, warm instance {what}",
            baseline=baseline,
            ours=f"POST /webhook (test client): {warm.describe('a')}",
            ratio_median=warm.median_ratio,
            ratio_fastest=warm.fastest_ratio,
            target="<= 1.5x",
            passed=warm.median_ratio <= 1.5,
            details={"ours_s": warm.a, "git_cli_s": warm.b},
        ),
        Figure(
            id="P4-cold",
            measure=f"the same, first delivery to a fresh instance (memos empty) {what}",
            baseline=baseline,
            ours=f"POST /webhook, memos cleared: {coldly.describe('a')}",
            ratio_median=coldly.median_ratio,
            ratio_fastest=coldly.fastest_ratio,
            target="(informational)",
            passed=True,
            details={"ours_s": coldly.a, "git_cli_s": coldly.b},
        ),
    ]
