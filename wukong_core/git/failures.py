"""How a Git failure reads: a short cause a person acts on, credentials scrubbed, and whether
trying again may help. Nothing from dulwich or urllib3 escapes the `step` it happened in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from wukong_core.errors import GitError


def wrap(step: str, e: BaseException, secrets: list[str]) -> GitError:
    """A library failure as GitError("failed to <step>: <cause>"); retryable if it may pass.

    The cause is a short sentence a person acts on, never the library's own text: urllib3's
    carries the pool, the URL and any proxy's address, and none of it helps the reader."""
    cause, retryable = _cause(_chain(e))
    return GitError(f"failed to {step}: {scrub(cause, secrets)}", retryable=retryable)


_AGAIN = "; redeliver to retry"
_HTTP_STATUS = re.compile(r"^unexpected http resp (\d{3}) ")


def _chain(e: BaseException) -> list[BaseException]:
    """`e` and what it wraps: dulwich raises GitProtocolError from urllib3's error, urllib3's
    MaxRetryError holds the last attempt's error as `reason`, a ProxyError the proxy's."""
    chain: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        inner = getattr(current, "reason", None) or getattr(current, "original_error", None)
        if not isinstance(inner, BaseException) and len(current.args) > 1:
            inner = current.args[-1]  # ProxyError(message, error)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return chain


def _cause(chain: list[BaseException]) -> tuple[str, bool]:
    """(a short cause, whether trying again may help) for a chain of library errors."""
    import urllib3.exceptions as u3
    from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized
    from dulwich.errors import NotGitRepository

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(x, types) for x in chain)

    status = next((m for x in chain if (m := _HTTP_STATUS.match(str(x)))), None)
    if has(HTTPUnauthorized):
        return "authentication failed: the Git server refused the credentials (HTTP 401)", False
    if has(HTTPProxyUnauthorized):
        return "authentication failed at the HTTP proxy (HTTP 407)", False
    if status is not None and status[1] == "403":
        return "authentication failed: the Git server denied access (HTTP 403)", False
    if has(NotGitRepository):
        return "no Git repository at that URL", False
    if status is not None:
        code = int(status[1])
        return f"the Git server answered HTTP {code}" + (_AGAIN if code >= 500 else ""), code >= 500
    if has(u3.ProxyError):
        return "could not reach the Git server through the HTTP proxy" + _AGAIN, True
    if has(u3.NameResolutionError):
        return "could not reach the Git server: its name does not resolve" + _AGAIN, True
    if has(u3.SSLError):
        return "could not reach the Git server: the TLS handshake failed", False
    if has(u3.NewConnectionError, u3.ConnectTimeoutError, ConnectionRefusedError):
        return "could not reach the Git server" + _AGAIN, True
    if has(u3.TimeoutError, TimeoutError):
        return "the Git server did not answer in time" + _AGAIN, True
    if has(ConnectionError, u3.ProtocolError):
        return "the Git server closed the connection before answering" + _AGAIN, True
    return f"the Git server's answer could not be read ({type(chain[0]).__name__})" + _AGAIN, True


_USERINFO = re.compile(r"(\w+://)[^/@\s]*@")


def without_userinfo(text: str) -> str:
    """`text` with the userinfo (user:password@) of every URL in it removed."""
    return _USERINFO.sub(r"\1", text)


def scrub(text: str, secrets: list[str]) -> str:
    text = without_userinfo(text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@contextmanager
def step(name: str, secrets: list[str]) -> Iterator[None]:
    """Turn library and network failures inside the block into a scrubbed GitError."""
    import urllib3.exceptions
    from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized
    from dulwich.errors import (
        ChecksumMismatch,
        FileFormatException,
        GitProtocolError,
        NotGitRepository,
        ObjectMissing,
    )

    try:
        yield
    except (GitProtocolError, NotGitRepository, HTTPUnauthorized, HTTPProxyUnauthorized,
            ChecksumMismatch, FileFormatException, ObjectMissing, urllib3.exceptions.HTTPError,
            OSError) as e:  # fmt: skip
        raise wrap(name, e, secrets) from e
