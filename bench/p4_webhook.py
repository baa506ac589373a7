"""P4: a signed push webhook -> the rendered commit pushed, on 2,000 and 10,000 specs.

Ours: `POST /webhook` (GitHub-signed) through functions-framework's test client of main.py:
fetch (a partial clone: trees first, then the files the render reads), render every spec,
rebuild the output tree, commit, push (dulwich). Baseline: the git CLI making the same change
by hand: `git clone --depth 1`, write the rendered files the webhook changed, `git add`,
`git commit`, `git push`. All against twin repositories served by `git http-backend` behind
basic auth on 127.0.0.1 (tests/gitserver.py; partial clones allowed, as GitHub, GitLab and
Gitea allow them). Before each round, untimed, a human edit of the same specs is pushed to
every twin. Two instances render each edit, each on its own twin: a warm one (one instance for
the whole figure: its memos hold the unchanged specs, as on any delivery but an instance's
first) and a fresh one (a new App with empty caches every round, started untimed, as Cloud Run
starts an instance before its first request), which reads the plan cache the previous render
committed. Everything runs in memory (`scratch`), so the disk's throttling of the baseline's
checkout does not flatter the ratio. (bench/bench_commit.py measures the commit step alone.)

    P4            2,000 specs (one per file, 20 namespaces), 20 changed, warm
    P4-fresh      the same, a fresh instance
    P4-10k        10,000 specs (4 per file, 20 namespaces), 200 changed in 50 files, warm
    P4-10k-fresh  the same, a fresh instance
    P4-scale      P4-10k / P4, warm: how the webhook grows with the repository
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, Paired, make_specs, runs_for, scratch, spec_files, timed
from tests.gitserver import GIT_ENV, GitServer, git, serve_git
from wukong_core import pipeline
from wukong_core.git.commit import SourceTree

NAMESPACES = 20
SECRET = "bench-secret"
OUTPUT = "rendered/"
REPO = "bench/"  # repositories are owner/name, as hosts name them: payloads must agree


@dataclass(frozen=True)
class Size:
    count: int  # specs
    per_file: int  # specs per file
    changed_files: int  # files a human edits per round (every spec in them)

    @property
    def what(self) -> str:
        changed = self.changed_files * self.per_file
        files = "" if self.per_file == 1 else f" in {self.changed_files} files"
        return f"{self.count:,} specs, {changed} changed{files}"


SMALL = Size(2_000, 1, 20)
LARGE = Size(10_000, 4, 50)


def render_files(size: Size, variants: dict[int, int]) -> dict[str, bytes]:
    """The whole repository for a given set of edited specs: specs + their render, made by
    the commit-back renderer itself (PreSync hooks, paths and plan cache as it commits them)."""
    specs = dict(make_specs(size.count, NAMESPACES, variants, size.per_file))
    out = pipeline.render_repository(SourceTree.from_files("0" * 40, specs))
    assert not out.findings and out.output_path == OUTPUT
    return specs | {OUTPUT + path: data for path, data in out.files.items()}


class Twin:
    """A bare repository on the server and a local clone that plays the human."""

    def __init__(self, server: GitServer, name: str, files: dict[str, bytes], work: Path):
        self.server, self.name = server, name
        server.create_repo(REPO + name, files)
        self.human = work / f"{name}-human"
        git("clone", "-q", str(server.path(REPO + name)), str(self.human))

    def human_push(self, files: dict[str, bytes]) -> str:
        git("fetch", "-q", "origin", cwd=self.human)
        git("reset", "-q", "--hard", "origin/main", cwd=self.human)
        for rel, data in files.items():
            (self.human / rel).write_bytes(data)
        git("commit", "-q", "-am", "human edit of specs", cwd=self.human)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=self.human)
        return git("rev-parse", "HEAD", cwd=self.human)


def _delivery(url: str, head: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    full_name = REPO + url.rsplit("/", 1)[1].removesuffix(".git")
    commit = {"id": head, "message": "human edit of specs\n", "modified": []}
    payload = {
        "ref": "refs/heads/main", "before": "1" * 40, "after": head, "commits": [commit],
        "head_commit": commit,
        "repository": {"clone_url": url, "full_name": full_name, "default_branch": "main"},
    }  # fmt: skip
    body = json.dumps(payload).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + digest,
    }
    return body, headers


def _read_files(repo: Path, rev: str, paths: list[str]) -> dict[str, bytes]:
    """Files of `rev` by path, with one `git cat-file --batch`."""
    query = "".join(f"{rev}:{path}\n" for path in paths).encode()
    out = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=repo, input=query, capture_output=True, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **GIT_ENV},
    ).stdout  # fmt: skip
    files: dict[str, bytes] = {}
    for path in paths:
        head, _, out = out.partition(b"\n")
        size = int(head.split()[2])
        files[path], out = out[:size], out[size + 1 :]
    return files


def _instance() -> Any:
    """A fresh instance of the function: its own App, with empty caches."""
    import functions_framework

    return functions_framework.create_app(
        target="wukong", source=str(ROOT / "main.py")
    ).test_client()


def _measure(size: Size, runs: int) -> tuple[dict[str, list[float]], int]:
    """Seconds per round of each side (warm, fresh, cli), and the files each commit changed."""
    with scratch() as tmp, serve_git(Path(tmp) / "repos") as server:
        work = Path(tmp) / "work"
        work.mkdir()
        initial = render_files(size, {})
        names = ("warm", "fresh", "cli")
        twins = {n: Twin(server, n, initial, work) for n in names}
        os.environ.update(
            WUKONG_WEBHOOK_SECRET=SECRET,
            WUKONG_ALLOWED_REPOS=server.url("*"),
            WUKONG_GIT_USERNAME=server.user,
            WUKONG_GIT_TOKEN=server.token,
            WUKONG_CLUSTER="offline",
        )
        files = sorted(spec_files(size.count, NAMESPACES, size.per_file).items())
        state: dict[str, Any] = {"variants": {}, "specs": dict(make_specs(
            size.count, NAMESPACES, None, size.per_file))}  # fmt: skip
        warm = _instance()

        def before(round_: int) -> None:
            """Push an edit of the specs of `changed_files` files (others each round) to
            every twin. Nothing is rendered here: that would fill the memos with the new specs
            and flatter the warm side. The git CLI side writes what the warm webhook commits."""
            step = len(files) // size.changed_files
            variants = dict(state["variants"])
            for k in range(size.changed_files):
                _, members = files[((round_ + 1) * 7 + k * step) % len(files)]
                variants |= dict.fromkeys(members, round_ + 2)
            specs = dict(make_specs(size.count, NAMESPACES, variants, size.per_file))
            edited = {p: d for p, d in specs.items() if state["specs"].get(p) != d}
            assert len(edited) == size.changed_files
            state["heads"] = {n: twin.human_push(edited) for n, twin in twins.items()}
            state["specs"], state["variants"], state["round"] = specs, variants, round_
            state["fresh"] = _instance()  # untimed, as Cloud Run starts it before a request

        def committed_change() -> dict[str, bytes]:
            """The rendered files the warm webhook's commit changed (read untimed)."""
            repo = server.path(REPO + "warm")
            changed = git("diff", "--name-only", "HEAD~1", "HEAD", "--", OUTPUT, cwd=repo)
            return _read_files(repo, "HEAD", changed.split())

        def webhook(name: str, client: Any) -> None:
            head, delivery = state["heads"][name], f"{name}-{state['round']}"
            body, headers = _delivery(server.url(REPO + name), head, delivery)
            response = client.post(
                "/webhook", data=body, headers=headers, content_type="application/json"
            )
            answer = response.get_json()
            assert response.status_code == 200 and answer["status"] == "committed", answer

        def git_cli() -> None:
            clone = Path(tempfile.mkdtemp(dir=work))
            auth = server.auth_config()
            url = server.url(REPO + "cli")
            git(*auth, "clone", "-q", "--depth", "1", "-b", "main", url, str(clone))
            for rel, data in state["rendered_change"].items():
                (clone / rel).write_bytes(data)
            git("add", "-A", OUTPUT, cwd=clone)
            git("commit", "-q", "-m", "render", cwd=clone)
            git(*auth, "push", "-q", "origin", "HEAD:refs/heads/main", cwd=clone)

        sides = {
            "warm": lambda: webhook("warm", warm),
            "fresh": lambda: webhook("fresh", state["fresh"]),
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
        return times, len(state["rendered_change"])


def _figures(size: Size, prefix: str, times: dict[str, list[float]], changed: int) -> list[Figure]:
    warm, fresh = Paired(times["warm"], times["cli"]), Paired(times["fresh"], times["cli"])
    what = f"({size.what}, {changed} rendered files changed)"
    baseline = f"git clone --depth 1 + commit + push: {warm.describe('b')}"
    small = prefix == "P4"
    rows = []
    for id_, paired, how, target in (
        (prefix, warm, "warm instance", 1.5 if small else 1.0),
        (f"{prefix}-fresh", fresh, "first delivery to a fresh instance", 1.0),
    ):
        rows.append(
            Figure(
                id=id_,
                measure=f"signed push webhook -> rendered commit pushed, {how} {what}",
                baseline=baseline,
                ours=f"POST /webhook (test client): {paired.describe('a')}",
                ratio_median=paired.median_ratio,
                ratio_fastest=paired.fastest_ratio,
                target=f"<= {target}x",
                passed=paired.median_ratio <= target,
                details={"ours_s": paired.a, "git_cli_s": paired.b},
            )
        )
    return rows


def measure(quick: bool) -> list[Figure]:
    runs = runs_for(quick)
    small, small_changed = _measure(SMALL, runs)
    large, large_changed = _measure(LARGE, runs)
    scale = Paired(large["warm"], small["warm"])
    median_small, median_large = statistics.median(small["warm"]), statistics.median(large["warm"])
    return [
        *_figures(SMALL, "P4", small, small_changed),
        *_figures(LARGE, "P4-10k", large, large_changed),
        Figure(
            id="P4-scale",
            measure=f"P4-10k / P4, warm: the webhook on 5x the specs ({LARGE.what} vs "
            f"{SMALL.what})",
            baseline=f"P4 warm: {scale.describe('b')}",
            ours=f"P4-10k warm: {scale.describe('a')}",
            ratio_median=median_large / median_small,
            ratio_fastest=scale.fastest_ratio,
            target="<= 3x",
            passed=median_large / median_small <= 3.0,
            details={"p4_10k_s": large["warm"], "p4_s": small["warm"]},
        ),
    ]
