"""Google's Pub/Sub emulator (google-cloud-cli's `cloud-pubsub-emulator`, Java) on 127.0.0.1.

Started once per session, directly (not through `gcloud beta emulators pubsub start`, which only
adds half a second of Python around the same script), on a free port; the client library finds
it through PUBSUB_EMULATOR_HOST and needs no credentials. Tests set up topics and push
subscriptions over its REST surface with urllib, as `gcloud pubsub …` would.

What the emulator does differently from Pub/Sub (measured; /work/notes/research-14-15.md §4.2):
a push answered 202 counts as a failure (Pub/Sub acks it); pushes carry no `orderingKey`,
`deliveryAttempt` or OIDC `Authorization` header; a push subscription with a dead-letter policy
drops the message after the last attempt instead of forwarding it. Where the emulator is not
installed, the tests that need it skip and say so.

Use it with `pytest_plugins = ["tests.pubsub_emulator"]`; the fixture is `pubsub_emulator`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT = "wukong-tests"
_names = itertools.count()


def _emulator_script() -> Path | None:
    roots = [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.insert(0, Path(os.path.realpath(gcloud)).parents[1])
    for root in roots:
        script = root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
        if script.is_file():
            return script
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    host: str  # 127.0.0.1:<port>, what PUBSUB_EMULATOR_HOST holds

    def _rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{self.host}/v1/{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def topic(self, prefix: str = "deliveries", path: str = "") -> str:
        """A new topic's path (`path`: that one)."""
        path = path or f"projects/{PROJECT}/topics/{prefix}-{next(_names)}"
        self._rest("PUT", path, {})
        return path

    def push_subscription(self, topic: str, endpoint: str, ack_deadline: int = 30,
                          min_backoff: str = "1s", max_backoff: str = "2s") -> str:  # fmt: skip
        """A push subscription of `topic` to `endpoint`, with ordering and a retry policy,
        as deploy/cloudrun.sh makes it (the dead-letter policy aside: see the docstring)."""
        path = f"projects/{PROJECT}/subscriptions/push-{next(_names)}"
        self._rest("PUT", path, {
            "topic": topic, "ackDeadlineSeconds": ack_deadline,
            "pushConfig": {"pushEndpoint": endpoint}, "enableMessageOrdering": True,
            "retryPolicy": {"minimumBackoff": min_backoff, "maximumBackoff": max_backoff},
        })  # fmt: skip
        return path

    def delete(self, path: str) -> None:
        with contextlib.suppress(urllib.error.HTTPError):
            self._rest("DELETE", path)


ABSENT = (
    "the Pub/Sub emulator is absent (install google-cloud-cli's cloud-pubsub-emulator component "
    "and a Java runtime): the queue's end-to-end tests need it"
)


@contextmanager
def run_emulator(log: Path) -> Iterator[Emulator | None]:
    """The emulator on a free port, PUBSUB_EMULATOR_HOST pointing at it; None when absent.
    Its output goes to `log`: each failed push logs a Java stack trace."""
    script = _emulator_script()
    if script is None or shutil.which("java") is None:
        yield None
        return
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(script), "--host=127.0.0.1", f"--port={port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the Pub/Sub emulator did not start: "
                                       f"{log.read_text()[-2000:]}") from None  # fmt: skip
                time.sleep(0.05)
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        yield Emulator(f"127.0.0.1:{port}")
    finally:
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous
        process.terminate()  # the script execs java: this pid is the emulator itself
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with run_emulator(tmp_path_factory.mktemp("pubsub") / "emulator.log") as emulator:
        if emulator is None:
            pytest.skip(ABSENT)
        yield emulator
