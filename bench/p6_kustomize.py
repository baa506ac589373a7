"""P6: the slowest `kubectl kustomize <out>/<namespace>` of the 10,000-spec render.

That build is what each Argo CD Application (one per namespace directory) runs on every
refresh. Baseline: one flat build of 1,000 of the same VMs in one directory (the flat build of
all 10,000 took 417 s and 580 MB here, see the README's Argo CD section; kustomize grows about
quadratically, so it is not run). Every namespace directory is built once to find the slowest;
then the slowest and the flat 1,000 are built interleaved.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from bench.common import Figure, interleave, make_specs, runs_for, scratch
from wukong_core import pipeline
from wukong_core.render.manifests import KUSTOMIZATION
from wukong_core.render.presync import presync_hooks

COUNT = 10_000
NAMESPACES = 20
FLAT = 1_000
LIMIT_S = 1.0


def build(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["kubectl", "kustomize", str(directory)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def flat_tree(files: dict[str, bytes], count: int) -> dict[str, bytes]:
    """`count` of the rendered VMs in one directory with one kustomization listing them."""
    vms = sorted(p for p in files if "/" in p and Path(p).name.startswith("vm-"))[:count]
    flat = {p.replace("/", "--"): files[p] for p in vms}
    body = "resources:\n" + "".join(f"- {name}\n" for name in sorted(flat))
    return flat | {KUSTOMIZATION: body.encode()}


def measure(quick: bool) -> list[Figure]:
    if shutil.which("kubectl") is None:
        raise RuntimeError("P6 needs kubectl (with kustomize) on PATH")
    outcome = pipeline.run(make_specs(COUNT, NAMESPACES), extras=presync_hooks())
    with scratch() as tmp:  # 10,000 files written to disk: their writeback slowed the builds
        out, flat = Path(tmp) / "out", Path(tmp) / "flat"
        write(out, outcome.files)
        write(flat, flat_tree(outcome.files, FLAT))
        directories = sorted(p for p in out.iterdir() if p.is_dir())
        first = {d.name: build(d) for d in directories}
        slowest = max(first, key=first.__getitem__)
        paired = interleave(lambda: build(out / slowest), lambda: build(flat), runs_for(quick))
    per_ns = COUNT // NAMESPACES
    ours_median = sorted(paired.a)[len(paired.a) // 2]
    return [
        Figure(
            id="P6",
            measure=f"slowest kubectl kustomize <out>/<namespace> ({per_ns} VMs + PreSync hook)",
            baseline=f"flat build of {FLAT:,} VMs: {paired.describe('b')}",
            ours=f"{slowest}: {paired.describe('a')}; first pass over "
            f"{len(first)} dirs: {min(first.values()):.2f}-{max(first.values()):.2f}s",
            ratio_median=paired.median_ratio,
            ratio_fastest=paired.fastest_ratio,
            target=f"<= {LIMIT_S:g} s per namespace directory",
            passed=ours_median <= LIMIT_S,
            unit="x (pass on seconds)",
            details={"first_pass_s": first, "slowest_s": paired.a, "flat_s": paired.b},
        )
    ]
