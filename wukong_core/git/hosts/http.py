"""The one small HTTP client of the Git hosts' APIs: JSON in, JSON out, over urllib3.

Every call ends by the delivery's deadline, reading its answer included (outbound.py), follows
no redirect (a token header must not travel to another host), retries nothing (the caller
decides what a failure means), and turns transport failures into `HostError` with no URL,
proxy address or token in its text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from wukong_core.errors import HostError
from wukong_core.outbound import pool_for, read_by

CALL_TIMEOUT_S = 10.0  # one API call; the delivery's deadline may cut it shorter
USER_AGENT = "wukong"
_SHOWN = 200  # characters of a host's error message worth showing


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the parsed JSON; None when the answer had none
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        """What the host said: its `message` (GitHub, GitLab, Gitea) or `error` field."""
        body = self.body if isinstance(self.body, dict) else {}
        said = body.get("message", body.get("error_description", body.get("error", "")))
        if isinstance(said, list | dict):
            said = json.dumps(said, sort_keys=True)
        errors = body.get("errors")  # GitHub's validation errors say what was wrong
        if isinstance(errors, list):
            details = [e.get("message") for e in errors if isinstance(e, dict)]
            said = "; ".join([str(said), *(str(d) for d in details if d)])
        return str(said)[:_SHOWN] or f"HTTP {self.status}"


class Api:
    """One host's API at `base` (e.g. https://api.github.com), with its auth headers."""

    def __init__(self, base: str, headers: Mapping[str, str], deadline: float) -> None:
        self.base = base.rstrip("/")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        self.deadline = deadline
        self._pool: Any = None

    def call(self, method: str, path: str, body: Any = None,
             query: Mapping[str, str] | None = None) -> Answer:  # fmt: skip
        """One request; the answer whatever its status. HostError only when none came."""
        import urllib3

        ends = min(time.monotonic() + CALL_TIMEOUT_S, self.deadline)
        left = ends - time.monotonic()
        if left <= 0:
            raise HostError(f"{method} {path}: the delivery ran out of time before the call")
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._pool is None:
            self._pool = pool_for(url)
        try:
            response = self._pool.request(
                method, url, body=data, headers=headers, redirect=False, retries=False,
                timeout=urllib3.Timeout(connect=left, read=left), preload_content=False,
            )  # fmt: skip
            try:  # the whole answer within the call's time, however slowly it arrives
                text = read_by(response, ends)()
            except BaseException:
                response.close()  # half read: the connection cannot serve another call
                raise
            response.release_conn()
        except urllib3.exceptions.HTTPError as e:
            raise HostError(f"{method} {path}: {_cause(e)}") from e
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Answer(response.status, _json(text), headers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8")) if data else None
    except (UnicodeDecodeError, ValueError):
        return None


def _cause(e: BaseException) -> str:
    import urllib3.exceptions as u3

    if isinstance(e, u3.TimeoutError):
        return "the API did not answer in time"
    if isinstance(e, u3.NewConnectionError | u3.NameResolutionError | u3.ProxyError):
        return "could not reach the API"
    if isinstance(e, u3.SSLError):
        return "the TLS handshake with the API failed"
    return f"the API's answer could not be read ({type(e).__name__})"


def rate_limited(answer: Answer) -> bool:
    """GitHub answers its primary and secondary rate limits 403 or 429, with no requests left
    or a `retry-after` (docs: "Rate limits for the REST API", Exceeding the rate limit)."""
    return answer.status in (403, 429) and (
        answer.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in answer.headers
    )


def refused(what: str, answer: Answer, needs: str) -> HostError:
    """A refused call as HostError("failed to <what>: ..."): the host's words, and for
    401/403/404 the token's missing right (`needs`), which is what the reader has to change.
    A rate limit is no missing right: it is HostError 429 (retryable), whatever status came."""
    text = f"failed to {what}: HTTP {answer.status}: {answer.message()}"
    if rate_limited(answer):
        after = answer.headers.get("retry-after", "")
        wait = f"retry after {after[:10]} s" if after else "retry once it resets"
        summary = f"could not {what} (HTTP {answer.status}): the API's rate limit; {wait}"
        return HostError(f"{text}; the API's rate limit: {wait}", 429, summary)
    summary = ""
    if answer.status in (401, 403, 404):
        text += f"; the token needs {needs}"
        summary = f"could not {what} (HTTP {answer.status}): the token needs {needs}"
        accepted = answer.headers.get("x-accepted-github-permissions")
        if accepted:  # GitHub names the fine-grained permission the call needs
            text += f" (GitHub accepts: {accepted[:100]})"
    return HostError(text, answer.status, summary)
