"""Run the performance benchmarks and print each figure as a ratio against its baseline.

    .venv/bin/python bench/run.py                 # every figure (make bench; ~5 min on 2 cores)
    .venv/bin/python bench/run.py --only P2 P5    # some of them
    .venv/bin/python bench/run.py --quick         # fewer runs, for a first look

Each figure runs in its own fresh interpreter (memory and imports of one never flatter or
burden another); the table goes to stdout and, as JSON, to bench/results.json for comparing
versions. Exit status 1 when a target is missed. Timings are never asserted in the tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import Figure, child_env  # noqa: E402

MODULES = {
    "P1": "bench.p1_cold_start",
    "P2": "bench.p2_render",
    "P3": "bench.p3_cluster",
    "P4": "bench.p4_webhook",
    "P5": "bench.p5_memory",
    "P6": "bench.p6_kustomize",
    "P7": "bench.p7_queue",
}
RESULTS = ROOT / "bench" / "results.json"


def child(figure: str, quick: bool) -> None:
    """In the fresh interpreter: measure one figure, print its rows as JSON on the last line."""
    rows = importlib.import_module(MODULES[figure]).measure(quick)
    print(json.dumps([row.as_dict() for row in rows]))


def run_one(figure: str, quick: bool) -> list[dict]:
    command = [sys.executable, str(Path(__file__)), "--child", figure]
    done = subprocess.run(
        command + (["--quick"] if quick else []),
        cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-15:]
        failed = Figure(figure, "benchmark failed", "-", "\n".join(tail), None, None, "-", False)
        return [failed.as_dict()]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(rows: list[dict]) -> None:
    print(f"\n{'figure':<12} {'median':>7} {'fastest':>7}  {'target':<30} result")
    for row in rows:
        verdict = "PASS" if row["passed"] else "FAIL"
        print(
            f"{row['id']:<12} {_ratio(row['ratio_median']):>7} {_ratio(row['ratio_fastest']):>7}  "
            f"{row['target']:<30} {verdict}"
        )
        print(f"{'':<12} {row['measure']}")
        print(f"{'':<12}   baseline: {row['baseline']}")
        print(f"{'':<12}   ours:     {row['ours']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="P", help="figures to run, e.g. P2 P5")
    parser.add_argument("--quick", action="store_true", help="3 runs a side instead of 5+")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS, help="the JSON results file")
    args = parser.parse_args()
    if args.child:
        child(args.child.upper(), args.quick)
        return 0
    wanted = [f.upper() for f in (args.only or MODULES)]
    unknown = [f for f in wanted if f not in MODULES]
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; known: {', '.join(MODULES)}")
    rows: list[dict] = []
    started = time.monotonic()
    for figure in wanted:
        print(f"{figure} ...", file=sys.stderr, flush=True)
        figure_started = time.monotonic()
        rows += run_one(figure, args.quick)
        print(f"{figure} took {time.monotonic() - figure_started:.0f}s", file=sys.stderr)
    print_table(rows)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "figures": rows,
    }  # fmt: skip
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{os.cpu_count()} CPUs; results in {args.output}", file=sys.stderr)
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
