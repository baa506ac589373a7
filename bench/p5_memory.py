"""P5: peak RSS of an offline render of 10,000 and of 20,000 specs, each in a fresh process.

The child generates the spec bytes, records its RSS (the baseline: interpreter, imports and
the input), renders them like P2, and prints `ru_maxrss` (peak resident set, KiB on Linux).
Growth is linear when the render's own memory (peak - baseline) at 20,000 is about twice that
at 10,000.
"""

from __future__ import annotations

import json
import subprocess

from bench.common import ROOT, Figure, child_env

_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
from bench.common import make_specs
from wukong_core import pipeline
from wukong_core.collector import collector_paused
from wukong_core.render.presync import presync_hooks

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

sources = make_specs({count}, 20)
before = rss_mb()
with collector_paused():  # as `wukong render` runs it
    outcome = pipeline.run(sources, extras=presync_hooks())
assert outcome.ok and len(outcome.plans) == {count}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"baseline_mb": before, "peak_mb": peak}}))
"""

LIMIT_MB = 250
MAX_GROWTH = 2.2  # linear is 2.0; allow allocator slack


def peak_rss(count: int) -> dict[str, float]:
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-c", _CHILD.format(root=str(ROOT), count=count)],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"P5 child failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(quick: bool) -> list[Figure]:
    runs = 1 if quick else 2  # RSS hardly varies; the second run only confirms it
    small = min((peak_rss(10_000) for _ in range(runs)), key=lambda r: r["peak_mb"])
    large = min((peak_rss(20_000) for _ in range(runs)), key=lambda r: r["peak_mb"])
    own_small = small["peak_mb"] - small["baseline_mb"]
    own_large = large["peak_mb"] - large["baseline_mb"]
    growth = own_large / own_small
    return [
        Figure(
            id="P5",
            measure="peak RSS rendering 10,000 specs (fresh process)",
            baseline=f"before the render (imports + input): {small['baseline_mb']:.0f} MB",
            ours=f"peak {small['peak_mb']:.0f} MB",
            ratio_median=small["peak_mb"] / small["baseline_mb"],
            ratio_fastest=None,
            target=f"<= {LIMIT_MB} MB",
            passed=small["peak_mb"] <= LIMIT_MB,
            details=small,
        ),
        Figure(
            id="P5-scale",
            measure="render memory (peak - before) at 20,000 specs vs 10,000",
            baseline=f"10,000: {own_small:.0f} MB (peak {small['peak_mb']:.0f} MB)",
            ours=f"20,000: {own_large:.0f} MB (peak {large['peak_mb']:.0f} MB)",
            ratio_median=growth,
            ratio_fastest=None,
            target=f"linear: <= {MAX_GROWTH}x",
            passed=growth <= MAX_GROWTH,
            details={"10000": small, "20000": large},
        ),
    ]
