"""A fake Git-host API on 127.0.0.1 that speaks GitHub's, GitLab's and Gitea's (Forgejo's)
commit-status and pull-request endpoints as documented, and records every request. The pull
requests live in tests/forge_pulls.py.

    GitHub  POST [/api/v3]/repos/{owner}/{repo}/statuses/{sha}   Authorization: Bearer|token
    GitLab  POST /api/v4/projects/{id}/statuses/{sha}            PRIVATE-TOKEN (or Bearer)
    Gitea   POST /api/v1/repos/{owner}/{repo}/statuses/{sha}     Authorization: token|bearer

Answers are the hosts' own (sources in /work/notes/research-14-15.md §1): 201 with the status
object (GitHub's state key is `state`, GitLab's and Gitea's `status`); GitHub's 422 "description
is too long (maximum is 140 characters)"; GitLab's 400 "Cannot transition status via :enqueue
from :pending …" when a pending or running status of that name and ref is posted again;
GitLab's 255-character limits; each host's 401 for a missing or wrong token. Tests make any
route fail (`fail`), hang (`delay`) or answer GitHub's rate limits (`rate_limit`) to see that a
failing API changes no delivery.

It serves on its own port (as api.github.com would) and can be mounted into the test Git
server (tests/gitserver.py `attach_forge`), where a clone URL's own origin is the API's, as on
GitHub Enterprise Server, GitLab and Gitea.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.forge_pulls import ROUTES as PULL_ROUTES
from tests.forge_pulls import Pulls

TOKEN = "forge-tok-91c0d2e7aa"  # distinctive, so a leak is easy to grep for

_SHA = r"([0-9a-f]{40})"
_ROUTES = (
    ("github", re.compile(rf"^(?:/api/v3)?/repos/([^/]+)/([^/]+)/statuses/{_SHA}$")),
    ("gitlab", re.compile(rf"^/api/v4/projects/([^/]+)/statuses/{_SHA}$")),
    ("gitea", re.compile(rf"^/api/v1/repos/([^/]+)/([^/]+)/statuses/{_SHA}$")),
)
_STATES = {
    "github": {"error", "failure", "pending", "success"},
    "gitlab": {"pending", "running", "success", "failed", "canceled", "skipped"},
    "gitea": {"pending", "success", "error", "failure", "warning", "skipped"},
}
_GITLAB_EVENT = {"pending": "enqueue", "running": "run"}


@dataclass
class Recorded:
    method: str
    path: str  # raw, %2F kept
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    method: str | None


@dataclass
class Forge:
    """The API's state: what it was asked, the statuses it holds, the faults armed."""

    token: str = TOKEN
    requests: list[Recorded] = field(default_factory=list)
    statuses: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    pulls: Pulls = field(default_factory=Pulls)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def fail(self, path: str, status: int, body: Any = None, times: int = 1000,
             headers: dict[str, str] | None = None, method: str | None = None) -> None:  # fmt: skip
        """Answer requests whose path matches the regex `path` (and `method`, when given)
        with `status` and `body`."""
        self.faults.append(Fault(re.compile(path), status, body, headers or {}, times, method))

    def rate_limit(self, path: str, secondary: bool = False, status: int = 403,
                   method: str | None = None) -> None:  # fmt: skip
        """Answer matching requests as GitHub does past its rate limits ("Rate limits for the
        REST API", Exceeding the rate limit): 403 or 429; the primary limit with
        `x-ratelimit-remaining: 0` and its reset time, a secondary one with `retry-after`."""
        docs = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
        if secondary:
            said = "You have exceeded a secondary rate limit. Please wait a few minutes " \
                "before you try again."  # fmt: skip
            headers = {"retry-after": "60"}
        else:
            said = "API rate limit exceeded for user ID 1."
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                       "x-ratelimit-used": "5000", "x-ratelimit-resource": "core",
                       "x-ratelimit-reset": str(int(time.time()) + 3600)}  # fmt: skip
        body = {"message": said, "documentation_url": docs, "status": str(status)}
        self.fail(path, status, body, headers=headers, method=method)

    def calls(self, kind: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if kind is None or _kind(r.path) == kind]

    def handles(self, path: str) -> bool:
        return _kind(urlsplit(path).path) is not None

    # --- one request -> one answer --------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes
               ) -> tuple[int, dict[str, str], Any]:  # fmt: skip
        parts = urlsplit(target)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.lock:
            self.requests.append(
                Recorded(method, parts.path, dict(parse_qsl(parts.query)), headers, body)
            )
        time.sleep(self.delay)
        for fault in self.faults:
            if fault.times > 0 and fault.pattern.search(parts.path) \
                    and fault.method in (None, method):  # fmt: skip
                fault.times -= 1
                return fault.status, fault.headers, fault.body
        fields = body if isinstance(body, dict) else {}
        for kind, route in _ROUTES:
            match = route.match(parts.path)
            if match and method == "POST":
                denied = self._denied(kind, headers)
                if denied:
                    return 401, {}, denied
                return getattr(self, f"_{kind}_status")(match, fields)
        for kind, route, handlers in PULL_ROUTES:
            match = route.match(parts.path)
            if match and method in handlers:
                denied = self._denied(kind, headers)
                if denied:
                    return 401, {}, denied
                host = {k.lower(): v for k, v in headers.items()}.get("host", "127.0.0.1")
                query = dict(parse_qsl(parts.query))
                return self.pulls.answer(
                    kind, match, handlers[method], query, fields, f"http://{host}"
                )
        return 404, {}, {"message": "Not Found"}

    def _denied(self, kind: str, headers: dict[str, str]) -> dict[str, str] | None:
        sent = {k.lower(): v for k, v in headers.items()}
        auth = sent.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if kind == "gitlab":
            given = sent.get("private-token") or (value if scheme.lower() == "bearer" else "")
            return None if given == self.token else {"message": "401 Unauthorized"}
        if kind == "github":
            ok = scheme.lower() in ("bearer", "token") and value == self.token
            docs = "https://docs.github.com/rest"
            return None if ok else {"message": "Bad credentials", "documentation_url": docs,
                                    "status": "401"}  # fmt: skip
        if not auth:
            return {"message": "token is required", "url": "/api/swagger"}
        ok = scheme.lower() in ("token", "bearer") and value == self.token
        return None if ok else {"message": "invalid token", "url": "/api/swagger"}

    def _github_status(self, m: re.Match[str], body: dict[str, Any]) -> tuple[int, dict, Any]:
        owner, repo, sha = unquote(m[1]), unquote(m[2]), m[3]
        state, description = body.get("state"), body.get("description")
        if state not in _STATES["github"]:
            return 422, {}, _github_invalid("state", "invalid")
        if isinstance(description, str) and len(description) > 140:
            return (
                422,
                {},
                _github_invalid(
                    "description", "custom", "description is too long (maximum is 140 characters)"
                ),
            )
        status = {"id": next(self.ids), "state": state, "description": description,
                  "target_url": body.get("target_url"),
                  "context": body.get("context") or "default"}  # fmt: skip
        return 201, {}, self._keep(("github", f"{owner}/{repo}", sha), status)

    def _gitlab_status(self, m: re.Match[str], body: dict[str, Any]) -> tuple[int, dict, Any]:
        project, sha = unquote(m[1]), m[2]
        state = body.get("state")
        if state not in _STATES["gitlab"]:
            return 400, {}, {"error": "state does not have a valid value"}
        for name in ("description", "target_url", "ref", "name"):
            if len(str(body.get(name) or "")) > 255:
                return 400, {}, {"message": {name: ["is too long (maximum is 255 characters)"]}}
        name = body.get("name") or body.get("context") or "default"
        ref = body.get("ref")
        held = self.statuses.get(("gitlab", project, sha), [])
        current = next((s for s in reversed(held) if (s["name"], s["ref"]) == (name, ref)), None)
        if current and current["status"] == state and state in _GITLAB_EVENT:
            event = _GITLAB_EVENT[state]
            return 400, {}, {"message": f"Cannot transition status via :{event} from :{state} "
                             f"(Reason(s): Status cannot transition via \"{event}\")"}  # fmt: skip
        status = {"id": next(self.ids), "sha": sha, "ref": ref, "status": state, "name": name,
                  "description": body.get("description"), "target_url": body.get("target_url"),
                  "allow_failure": False, "coverage": None}  # fmt: skip
        return 201, {}, self._keep(("gitlab", project, sha), status)

    def _gitea_status(self, m: re.Match[str], body: dict[str, Any]) -> tuple[int, dict, Any]:
        owner, repo, sha = unquote(m[1]), unquote(m[2]), m[3]
        state = body.get("state")
        if state not in _STATES["gitea"]:
            return 400, {}, {"message": f"invalid commit status state: {state}"}
        status = {"id": next(self.ids), "status": state, "description": body.get("description"),
                  "target_url": body.get("target_url"),
                  "context": body.get("context") or "default"}  # fmt: skip
        return 201, {}, self._keep(("gitea", f"{owner}/{repo}", sha), status)

    def _keep(self, key: tuple[str, str, str], status: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.statuses.setdefault(key, []).append(status)
        return status

    def latest(self, kind: str, repo: str, sha: str) -> dict[str, Any] | None:
        """The newest status a host holds on `sha` (GitHub and Gitea: `repo` is owner/name,
        GitLab: the project id or path)."""
        held = self.statuses.get((kind, repo, sha))
        return held[-1] if held else None

    # --- HTTP -----------------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request read by `handler` (this server's or the Git server's)."""
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        status, extra, body = self.answer(handler.command, handler.path, dict(handler.headers),
                                          raw)  # fmt: skip
        data = b"" if body is None else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a hung API is a test case)


def _kind(path: str) -> str | None:
    for kind, route in _ROUTES:
        if route.match(path):
            return kind
    return next((kind for kind, route, _ in PULL_ROUTES if route.match(path)), None)


def _github_invalid(name: str, code: str, message: str = "") -> dict[str, Any]:
    error = {"resource": "Status", "code": code, "field": name}
    if message:
        error["message"] = message
    docs = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
    return {"message": "Validation Failed", "errors": [error], "documentation_url": docs,
            "status": "422"}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.server.forge.serve(self)

    do_GET = do_PATCH = do_PUT = do_DELETE = do_POST


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, forge: Forge) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.forge = forge


@contextmanager
def serve_forge(forge: Forge | None = None) -> Iterator[tuple[Forge, str]]:
    """The forge on its own port: (forge, "http://127.0.0.1:<port>")."""
    forge = forge or Forge()
    server = _Server(forge)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="forge", daemon=True)
    thread.start()
    try:
        yield forge, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
