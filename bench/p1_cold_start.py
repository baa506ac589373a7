"""P1: process start -> first `GET /healthz` 200, `functions-framework --target wukong`.

Baseline: the same CLI serving bench/p1_bare_app.py, which sets up the same logging handler.
Both run as `python -m functions_framework` (gunicorn, as deployed) with bytecode caches
allowed (a deployed image has them; the untimed warm-up start writes them here).
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time

from bench.common import ROOT, Figure, child_env, interleave, runs_for

TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthz(port: int) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def start_to_healthy(target: str, source: str) -> float:
    """Seconds from spawning the server to its first 200 on /healthz."""
    port = _free_port()
    env = child_env(THREADS="2")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [
        str(ROOT / ".venv/bin/python"), "-m", "functions_framework", "--target", target,
        "--source", source, "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if _healthz(port) == 200:
                return time.perf_counter() - started
            if process.poll() is not None:
                raise RuntimeError(f"{target} exited with {process.returncode} before /healthz")
            if time.perf_counter() - started > TIMEOUT_S:
                raise RuntimeError(f"{target} did not answer /healthz within {TIMEOUT_S}s")
            time.sleep(0.005)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(quick: bool) -> list[Figure]:
    runs = runs_for(quick, full=7)
    paired = interleave(
        lambda: start_to_healthy("wukong", str(ROOT / "main.py")),
        lambda: start_to_healthy("app", str(ROOT / "bench" / "p1_bare_app.py")),
        runs,
    )
    return [
        Figure(
            id="P1",
            measure="process start -> first GET /healthz 200 (functions-framework, gunicorn)",
            baseline=f"bare app + StructuredLogHandler: {paired.describe('b')}",
            ours=f"main.py: {paired.describe('a')}",
            ratio_median=paired.median_ratio,
            ratio_fastest=paired.fastest_ratio,
            target="<= 1.15x",
            passed=paired.median_ratio <= 1.15,
            details={"ours_s": paired.a, "baseline_s": paired.b},
        )
    ]
