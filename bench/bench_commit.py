"""Commit-back cost: `commit_manifests` (dulwich, object store) vs the git CLI doing the same.

Both sides push a render of 2,000 files, 20 of them changed, to a repository of 2,000 specs
and 2,000 rendered files, served by `git http-backend` on 127.0.0.1 (tests/gitserver.py):

  A  commit_manifests: shallow fetch, read the specs from the tree, rebuild the output subtree,
     commit, push;
  B  git CLI: `git clone --depth 1`, write the 2,000 files, `git add`, `git commit`, `git push`.

The sides run interleaved (A B A B ...) on twin repositories after one warm-up each, and the
median ratio A/B is printed. Times are only ever compared within one run: no absolute figure
is asserted anywhere.

    .venv/bin/python bench/bench_commit.py [--runs 5] [--files 2000] [--changed 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_commit.py` puts bench/ first
    sys.path.insert(0, str(ROOT))

from bench.common import scratch  # noqa: E402
from tests.gitserver import GitServer, git, serve_git  # noqa: E402
from wukong_core.git.commit import CommitRequest, RenderOutput, SourceTree, commit_manifests  # noqa: E402
from wukong_core.render.manifests import header  # noqa: E402

NAMESPACES = 20


def spec_path(i: int) -> str:
    return f"wukong/team-{i % NAMESPACES:02d}/vm-{i:05d}.yaml"


def spec(i: int) -> bytes:
    return (
        f"apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\n"
        f"metadata: {{name: vm-{i:05d}, namespace: team-{i % NAMESPACES:02d}}}\n"
        f"spec: {{cpu: {1 + i % 8}, memory: 4Gi, disks: [{{name: system, size: 20Gi, "
        f"image: 'docker://quay.io/containerdisks/fedora:41'}}]}}\n"
    ).encode()


def rendered(count: int, edits: dict[int, int]) -> dict[str, bytes]:
    """The render after `edits` (VM number -> the round that last edited its spec)."""
    out = {}
    for i in range(count):
        cpu = 1 + i % 8
        body = (
            f"apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n"
            f"  name: vm-{i:05d}\n  namespace: team-{i % NAMESPACES:02d}\n"
            f"  annotations: {{bench/edit: '{edits.get(i, 0)}'}}\n"
            f"spec:\n  runStrategy: Always\n  template:\n    spec:\n      domain:\n"
            f"        cpu: {{cores: {cpu}}}\n        memory: {{guest: 4Gi}}\n"
        )
        path = f"team-{i % NAMESPACES:02d}/vm-{i:05d}.yaml"
        out[path] = (header(spec_path(i), "0" * 16) + body).encode()
    return out


def make_twin_repos(server: GitServer, count: int) -> tuple[str, str]:
    files = {spec_path(i): spec(i) for i in range(count)}
    files |= {f"rendered/{p}": d for p, d in rendered(count, {}).items()}
    server.create_repo("ours", files)
    server.create_repo("cli", files)
    return "ours", "cli"


def ours(server: GitServer, name: str, render: dict[str, bytes], count: int) -> Callable[[], None]:
    def renderer(tree: SourceTree) -> RenderOutput:
        specs = tree.files_under("wukong/")  # the pipeline reads every spec, so do we
        assert len(specs) == count
        return RenderOutput("rendered/", render, [], count)

    def run() -> None:
        request = CommitRequest(
            server.url(name), "main", renderer, "bench", username=server.user, token=server.token
        )
        result = commit_manifests(request)
        assert result.status == "committed", result

    return run


def cli(server: GitServer, name: str, render: dict[str, bytes], work: Path) -> Callable[[], None]:
    def run() -> None:
        wt = Path(tempfile.mkdtemp(dir=work))
        auth = server.auth_config()
        git(*auth, "clone", "-q", "--depth", "1", "-b", "main", server.url(name), str(wt))
        for rel, data in render.items():
            target = wt / "rendered" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        git("add", "-A", "rendered", cwd=wt)
        git("commit", "-q", "-m", "render", cwd=wt)
        git(*auth, "push", "-q", "origin", "HEAD:refs/heads/main", cwd=wt)

    return run


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(runs: int, count: int, changed: int) -> dict[str, object]:
    """Interleaved A B timings; returns the medians and the median ratio A/B."""
    with scratch() as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        (root / "work").mkdir()
        a_times, b_times, edits = [], [], {}
        with serve_git(root / "repos") as server:
            a_repo, b_repo = make_twin_repos(server, count)
            for round_ in range(1, runs + 2):  # round 1 is the untimed warm-up
                # A human edits `changed` specs per round: a fresh block of VMs each time.
                edits |= {(round_ * changed + k) % count: round_ for k in range(changed)}
                render = rendered(count, edits)
                a = timed(ours(server, a_repo, render, count))
                b = timed(cli(server, b_repo, render, root / "work"))
                if round_ > 1:
                    a_times.append(a)
                    b_times.append(b)
    ratios = [a / b for a, b in zip(a_times, b_times, strict=True)]
    return {
        "files": count,
        "changed": changed,
        "runs": runs,
        "ours_median_s": statistics.median(a_times),
        "cli_median_s": statistics.median(b_times),
        "median_ratio": statistics.median(a_times) / statistics.median(b_times),
        "median_of_pair_ratios": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--changed", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if shutil.which("git") is None:
        sys.exit("bench_commit needs the git CLI for the server and the baseline")
    figures = measure(args.runs, args.files, args.changed)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"commit_manifests / git CLI, {args.files} files ({args.changed} changed), "
        f"{args.runs} interleaved runs each: median ratio {figures['median_ratio']:.2f}x "
        f"(ours {figures['ours_median_s']:.3f}s, git CLI {figures['cli_median_s']:.3f}s; "
        f"median of per-pair ratios {figures['median_of_pair_ratios']:.2f}x)"
    )


if __name__ == "__main__":
    main()
