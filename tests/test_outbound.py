"""Outbound HTTP: a server that trickles its answer cannot hold a Git fetch or a Git host's API
call past the delivery's deadline (urllib3's read timeout alone bounds only each wait between
two packets), and the environment's proxy is used."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.loopback import clear_proxies, serve
from wukong_core.errors import GitError, HostError
from wukong_core.git.commit import CommitRequest, commit_manifests
from wukong_core.git.hosts import CommitStatus, Repository, open_host
from wukong_core.outbound import pool_for

# A Git server's first answer, as git-http-backend starts it.
ADVERTISEMENT = b"001e# service=git-upload-pack\n0000"


@pytest.fixture
def trickling() -> Iterator[str]:
    """A server on 127.0.0.1 whose every answer is a byte every 0.1 s, for up to 8 s."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _trickle(self, content_type: str, body: bytes) -> None:
            self.send_response(200 if self.command == "GET" else 201)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                if stop.wait(0.1):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()

        def do_GET(self) -> None:
            self._trickle("application/x-git-upload-pack-advertisement", ADVERTISEMENT * 3)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._trickle("application/json", b'{"state": "success"' + b" " * 60 + b"}")

    with serve(Handler) as url:
        try:
            yield url
        finally:
            stop.set()


def test_a_git_server_that_trickles_cannot_hold_a_delivery_past_its_deadline(trickling) -> None:  # type: ignore[no-untyped-def]
    request = CommitRequest(f"{trickling}/team/vms.git", "main", lambda tree: None,  # type: ignore[arg-type,return-value]
                            max_attempts=1, max_seconds=1.0)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(GitError, match="did not answer in time") as caught:
        commit_manifests(request)
    assert time.monotonic() - started < 2.5  # not the 10 s the trickle lasts
    assert caught.value.retryable


def test_a_host_api_that_trickles_cannot_hold_a_status_past_the_deadline(trickling) -> None:  # type: ignore[no-untyped-def]
    repo = Repository("github", f"{trickling}/team/vms.git", "team/vms")
    host = open_host(repo, "token", time.monotonic() + 1.0)
    started = time.monotonic()
    with pytest.raises(HostError, match="did not answer in time"):
        host.set_status("a" * 40, "main", CommitStatus("success", "rendered"))
    assert time.monotonic() - started < 2.5
    host.close()


def test_the_environment_s_proxy_is_used_unless_the_host_is_exempt(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clear_proxies(monkeypatch)
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "internal.example")
    assert pool_for("https://www.googleapis.com/oauth2/v1/certs").proxy.host == "proxy.example"
    assert pool_for("https://git.internal.example/a.git").proxy is None
    assert pool_for("http://git.example/a.git").proxy is None  # no http_proxy set
