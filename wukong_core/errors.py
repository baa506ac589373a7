"""Wukong's one exception tree.

    WukongError
    ├── SpecError          a spec (or repo config) cannot be read; carries file, line, field
    ├── UsageError         bad command line or request shape; exit 2 / HTTP 400
    ├── ClusterError       the cluster could not be read (kind: unreachable | forbidden)
    ├── GitError           fetch, commit or push failed; `retryable` says if trying again helps
    │   └── PushRejectedError   the remote ref moved (or a hook declined); see `retryable`
    ├── WebhookError       a delivery is refused; carries the HTTP status (400, 401, 403, 413)
    ├── HostError          a Git host's API (statuses, pull requests) refused or failed a call
    ├── QueueError         a delivery could not be queued (Pub/Sub); `retryable`
    └── PushIgnored        a push Wukong must not render (unwatched branch, its own output): 202

Edges wrap library errors (`kubernetes`, `dulwich`) as `raise XError(...) from e`: nothing from
those libraries escapes its module. Messages read `failed to <step>: <cause>` and never contain
secrets.
"""

from __future__ import annotations


class WukongError(Exception):
    """Base of every error Wukong raises on purpose."""


class SpecError(WukongError):
    def __init__(self, message: str, file: str = "", line: int = 0, field: str = "") -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"{where}{self.message}"


class UsageError(WukongError):
    """The caller asked for something malformed (exit 2, HTTP 400)."""


class ClusterError(WukongError):
    """Reading the cluster failed.

    `kind` is "unreachable" or "forbidden"; for forbidden, `verb`, `resource` and `namespace`
    say exactly what RBAC must grant. "not-served": the live API does not serve `resource` (its
    API group, KubeVirt or CDI, is not installed); "not-recorded": a cluster snapshot holds none
    of `resource` because it was recorded without that kind.
    """

    def __init__(
        self,
        message: str,
        kind: str = "unreachable",
        verb: str = "",
        resource: str = "",
        namespace: str = "",
    ) -> None:
        self.kind = kind
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        super().__init__(message)


class GitError(WukongError):
    def __init__(self, message: str, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class PushRejectedError(GitError):
    """The remote refused the update: a race (retryable) or a server hook (not). `summary`:
    the decline and its fix in a commit status's 140 characters."""

    def __init__(self, message: str, retryable: bool = False, summary: str = "") -> None:
        self.summary = summary
        super().__init__(message, retryable)


class WebhookError(WukongError):
    """`status` 400, 401, 403 or 413; 503 when what would check the request is missing (a
    setting, Google's certificates for Pub/Sub's OIDC token), which a retry after a fix cures."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class HostError(WukongError):
    """A Git host's API call failed: `status` is its HTTP status (0: no answer came; 429 for a
    rate limit, which GitHub may answer 403). `summary`: what to change, in a commit status's
    140 characters ("" when none is known)."""

    def __init__(self, message: str, status: int = 0, summary: str = "") -> None:
        self.status = status
        self.summary = summary
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        """No answer, a server error or a rate limit may pass; a refusal will not."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class QueueError(WukongError):
    """Publishing a delivery failed; `retryable` says whether the sender may try again."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class PushIgnored(WukongError):
    """Not a failure: the push is not Wukong's to render; the message says why."""


def quoted(value: object) -> str:
    """`value` as a message quotes it: its repr(), cut short, so that an error never echoes a
    megabyte string back to the caller (or into a log)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"
