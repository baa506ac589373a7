"""What every HTTP endpoint shares: the configuration, the reply, refusals, body reading.

Light on purpose (stdlib and werkzeug only): it is imported on every cold start.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from wukong_core.caches import Caches
from wukong_core.errors import WukongError
from wukong_core.git.failures import without_userinfo
from wukong_core.names import is_dns_label
from wukong_core.queue import Queues
from wukong_core.queue.push_auth import GoogleCerts

if TYPE_CHECKING:
    from wukong_core.findings import Finding
    from wukong_core.objects import ClusterView

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_AUTHOR = "Wukong <wukong@localhost>"
JSON = "application/json"


class Refusal(Exception):
    """A request answered with a JSON error: `{"error": message, **extra}` and `status`."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class Config:
    """The environment variables the README lists. Secrets stay out of repr()."""

    webhook_secret: str = field(default="", repr=False)
    allowed_repos: tuple[str, ...] = ()
    git_username: str = ""
    git_token: str = field(default="", repr=False)
    cluster: str = "offline"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    git_author: str = DEFAULT_AUTHOR
    api_token: str = field(default="", repr=False)
    status_token: str = field(default="", repr=False)  # "" -> git_token
    queue: str = ""  # "pubsub:projects/<p>/topics/<t>": /webhook publishes, /pubsub renders
    pubsub_token: str = field(default="", repr=False)
    pubsub_audience: str = ""  # set: /pubsub takes Pub/Sub's OIDC token for this audience
    pubsub_service_account: str = ""  # the push subscription's service account (OIDC email)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the variables; 503 when one is unusable (the server's fault, not the caller's)."""
        env = os.environ if env is None else env
        raw_limit = env.get("WUKONG_MAX_BODY_BYTES", "").strip()
        try:
            limit = int(raw_limit) if raw_limit else DEFAULT_MAX_BODY_BYTES
        except ValueError:
            limit = 0
        if limit < 1:
            raise Refusal(
                503,
                f"server misconfigured: WUKONG_MAX_BODY_BYTES={raw_limit[:40]!r} is not a "
                "positive number of bytes",
            )
        repos = env.get("WUKONG_ALLOWED_REPOS", "")
        return cls(
            webhook_secret=env.get("WUKONG_WEBHOOK_SECRET", ""),
            allowed_repos=tuple(r.strip() for r in repos.split(",") if r.strip()),
            git_username=env.get("WUKONG_GIT_USERNAME", "").strip(),
            git_token=env.get("WUKONG_GIT_TOKEN", "").strip(),
            cluster=env.get("WUKONG_CLUSTER", "").strip() or "offline",
            max_body_bytes=limit,
            git_author=env.get("WUKONG_GIT_AUTHOR", "").strip() or DEFAULT_AUTHOR,
            api_token=env.get("WUKONG_API_TOKEN", "").strip(),
            status_token=env.get("WUKONG_STATUS_TOKEN", "").strip(),
            queue=env.get("WUKONG_QUEUE", "").strip(),
            pubsub_token=env.get("WUKONG_PUBSUB_TOKEN", "").strip(),
            pubsub_audience=env.get("WUKONG_PUBSUB_AUDIENCE", "").strip(),
            pubsub_service_account=env.get("WUKONG_PUBSUB_SERVICE_ACCOUNT", "").strip(),
        )

    def scrub(self, text: str) -> str:
        """`text` without URL credentials or the values of the secret variables."""
        text = without_userinfo(text)
        secrets = (self.webhook_secret, self.git_token, self.api_token, self.status_token,
                   self.pubsub_token)  # fmt: skip
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    log: dict[str, Any] = field(default_factory=dict)  # fields for the request's log line


def ignored(reason: str, fields: dict[str, Any]) -> Reply:
    """202: the delivery is not Wukong's to render, and `reason` says why."""
    return Reply(202, {"ignored": reason, "provider": fields["provider"]}, log=fields)


@dataclass(eq=False)
class Instance:
    """What one instance of the function keeps between requests, handed to every handler: the
    render memos, its Pub/Sub publishers, Google's certificates, what it has logged once.
    Nothing in it is needed for a correct answer (idempotency lives in Git), and nothing is
    global: a test makes its own."""

    caches: Caches = field(default_factory=Caches)
    queues: Queues = field(default_factory=Queues)  # /webhook publishes (WUKONG_QUEUE)
    google_certs: GoogleCerts = field(default_factory=GoogleCerts)  # /pubsub's OIDC check
    # "no commit statuses: set WUKONG_STATUS_TOKEN" is logged once per instance
    told_no_token: threading.Event = field(default_factory=threading.Event)


Handler = Callable[[Request, Config, Instance], Reply]


def authorize_ci(request: Request, config: Config) -> None:
    """/render and /validate: `Authorization: Bearer $WUKONG_API_TOKEN` when a token is set.

    Against a live cluster these endpoints answer whether any PVC exists and who mounts it, so
    a live cluster without a token is refused rather than opened to whoever reaches the URL.
    """
    if not config.api_token:
        if config.cluster.startswith(("in-cluster", "kubeconfig:")):
            raise Refusal(
                503,
                "server misconfigured: set WUKONG_API_TOKEN before serving /render and /validate "
                "against a live cluster (they would reveal its PVCs to any caller)",
            )
        return
    sent = request.headers.get("Authorization", "")
    scheme, _, token = sent.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), config.api_token.encode()
    ):
        raise Refusal(401, "send Authorization: Bearer <WUKONG_API_TOKEN>")


def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes: 413 from Content-Length before reading a byte, and
    a cap on the read itself for bodies that declare no length (chunked)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Refusal(413, f"request body is {declared} bytes; the limit is {limit}", limit=limit)
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = request.stream.read(min(1 << 16, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise Refusal(413, f"request body exceeds the limit of {limit} bytes", limit=limit)
    return b"".join(chunks)


def namespace_param(request: Request) -> str | None:
    """The `namespace` query parameter: the default namespace for specs that set none."""
    namespace = request.args.get("namespace")
    if namespace is None:
        return None
    if not is_dns_label(namespace):
        raise Refusal(
            400,
            f"namespace {namespace[:100]!r} is not a valid Kubernetes namespace name: use "
            "lower-case letters, digits and '-', at most 63 characters",
        )
    return namespace


def open_cluster(config: Config) -> ClusterView | None:
    """The cluster WUKONG_CLUSTER names; kubernetes is imported only for a live one."""
    if config.cluster == "offline":
        return None
    from wukong_core.cluster import open_cluster as _open

    try:
        return _open(config.cluster)
    except WukongError as e:
        raise Refusal(503, f"server misconfigured: WUKONG_CLUSTER: {e}") from e


def public_url(url: str) -> str:
    """A URL fit for a response or a log line: no userinfo."""
    return without_userinfo(url)


def summary_fields(findings: Iterable[Finding]) -> dict[str, int]:
    """Finding counts for the log line."""
    from wukong_core.findings import summarize

    counts = summarize(findings)
    return {"errors": counts["error"], "warnings": counts["warning"], "infos": counts["info"]}
