"""P7: with the queue (WUKONG_QUEUE), `POST /webhook` answers in <= 100 ms at p95 over 50
deliveries, whatever the repository's size.

Ours: a GitHub-signed push through functions-framework's test client of main.py, the queue on
google-cloud-cli's Pub/Sub emulator, the `pending` status posted to the fake forge mounted on
the test Git server (tests/forge.py, tests/gitserver.py): everything the webhook does before it
answers 202. Nothing is cloned: the answer costs the same for a 5-spec repository (the
baseline) and a 2,000-spec one, which the figure's ratio shows. The topic has no subscription,
so no render competes for the CPU while the answers are timed (renders are P4's figure).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import statistics
import time
from pathlib import Path

from bench.common import ROOT, Figure, make_specs, scratch
from tests.forge import Forge
from tests.gitserver import serve_git
from tests.pubsub_emulator import ABSENT, run_emulator

DELIVERIES = 50
TARGET_MS = 100.0
SECRET = "bench-secret"


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] * 1000


def measure(quick: bool) -> list[Figure]:
    import functions_framework

    with (
        scratch() as tmp,
        serve_git(Path(tmp) / "repos") as server,
        run_emulator(Path(tmp) / "emulator.log") as emulator,
    ):
        if emulator is None:
            raise SystemExit(ABSENT)
        server.attach_forge(Forge(token=server.token))
        repos = {"small": dict(make_specs(5, 1)), "large": dict(make_specs(2_000, 20))}
        # owner/name, as a host names it: the payload's name must agree with the clone URL
        heads = {name: server.create_repo(f"bench/{name}", files) for name, files in repos.items()}
        os.environ.update(
            WUKONG_WEBHOOK_SECRET=SECRET, WUKONG_ALLOWED_REPOS=server.url("*"),
            WUKONG_GIT_USERNAME=server.user, WUKONG_GIT_TOKEN=server.token,
            WUKONG_QUEUE=f"pubsub:{emulator.topic()}",
        )  # fmt: skip
        client = functions_framework.create_app(
            target="wukong", source=str(ROOT / "main.py")
        ).test_client()

        def deliver(name: str, n: int) -> float:
            commit = {"id": heads[name], "message": "edit\n", "modified": []}
            repo = f"bench/{name}"
            body = json.dumps({
                "ref": "refs/heads/main", "before": "1" * 40, "after": heads[name],
                "commits": [commit], "head_commit": commit,
                "repository": {"clone_url": server.url(repo), "full_name": repo,
                               "default_branch": "main"},
            }).encode()  # fmt: skip
            digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"{name}-{n}",
                       "X-Hub-Signature-256": "sha256=" + digest}  # fmt: skip
            started = time.perf_counter()
            response = client.post("/webhook", data=body, headers=headers,
                                   content_type="application/json")  # fmt: skip
            seconds = time.perf_counter() - started
            assert response.status_code == 202, response.get_json()
            return seconds

        for n in range(3):  # warm-up: the first publish opens the client's channel
            deliver("small", -1 - n)
        times: dict[str, list[float]] = {"small": [], "large": []}
        for n in range(DELIVERIES):  # interleaved, as every bench here
            for name in times:
                times[name].append(deliver(name, n))
        server.attach_forge(None)
    small, large = _p95(times["small"]), _p95(times["large"])
    median = {name: statistics.median(t) * 1000 for name, t in times.items()}
    return [
        Figure(
            id="P7",
            measure=f"/webhook with WUKONG_QUEUE (pending status + Pub/Sub publish -> 202), "
            f"p95 of {DELIVERIES} deliveries, 2,000-spec repository",
            baseline=f"the same on a 5-spec repository: p95 {small:.1f} ms, "
            f"median {median['small']:.1f} ms",
            ours=f"p95 {large:.1f} ms, median {median['large']:.1f} ms",
            ratio_median=large / small,
            ratio_fastest=min(times["large"]) / min(times["small"]),
            target=f"p95 <= {TARGET_MS:.0f} ms at any size",
            passed=max(small, large) <= TARGET_MS,
            details={
                "p95_ms": {"small": small, "large": large},
                "median_ms": median,
                "seconds": times,
            },
        )
    ]
