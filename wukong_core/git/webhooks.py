"""One webhook delivery (headers + raw body) -> a typed event, authenticated.

Pure: no I/O, no web framework. The HTTP layer reads the request, calls `parse_delivery`, and
maps a `WebhookError` to its `status`. Every failure on any input is a `WebhookError`.

Sender facts the code relies on (read in the senders' sources, see the tests' docstring):
- Gitea sends X-Gitea-*, X-Gogs-*, X-GitHub-Event/-Delivery and X-Hub-Signature-256 on every
  delivery; Forgejo sends X-Forgejo-* on top of all of those. So the GitHub headers prove
  nothing: detection tries Forgejo, then Gitea, then GitLab, and only then GitHub.
- GitHub signs with "sha256=" + hex HMAC-SHA256 of the raw body; Gitea/Forgejo send the bare
  hex; GitLab sends the configured secret token itself.
- GitHub and Gitea/Forgejo can also send `application/x-www-form-urlencoded`: the body is then
  `payload=<the JSON, URL-encoded>`. GitHub still signs the raw body it sends (the form);
  Gitea/Forgejo sign the JSON inside it (`deliver.go` hashes `PayloadContent` for either
  type). GitLab sends JSON only.
- Only GitHub has a ping event; the "test" buttons of the others send a push.
- Commit lists can be cut short: GitLab keeps 20 (`total_commits_count`), Gitea/Forgejo a few
  (`total_commits`), GitHub at most 2048.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from wukong_core.errors import WebhookError
from wukong_core.git.failures import without_userinfo
from wukong_core.marks import BOT_PREFIX, is_render_commit

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256 object names
_TOKEN = re.compile(r"[\x21-\x7e]{1,200}")  # delivery ids end up in commit trailers and logs
_GITHUB_MAX_COMMITS = 2048


@dataclass(frozen=True)
class PushEvent:
    provider: str  # "github" | "gitlab" | "gitea" | "forgejo"
    delivery_id: str  # "" when the sender sent none
    repo_url: str  # HTTP(S) clone URL
    repo_name: str  # owner/name (GitLab: the full path), as the clone URL spells it
    branch: str
    before: str
    after: str
    head_message: str  # "" when the payload has no head commit
    # Files added, modified or removed by the pushed commits; informational only. Empty when
    # the sender's list is incomplete, so that it can never make `is_loop` drop a real change.
    changed_paths: tuple[str, ...]
    deleted: bool  # the branch was deleted
    default_branch: str = ""  # the repository's default branch; "" when the sender omits it
    web_url: str = ""  # the repository's page (commit status links); "" when absent


@dataclass(frozen=True)
class PingEvent:
    provider: str
    delivery_id: str


@dataclass(frozen=True)
class IgnoredEvent:
    provider: str
    event: str
    delivery_id: str
    reason: str


WebhookEvent = PushEvent | PingEvent | IgnoredEvent


@dataclass(frozen=True)
class _Sender:
    provider: str
    event_header: str
    auth_header: str
    delivery_headers: tuple[str, ...]
    push_event: str
    ping_event: str = ""


# Detection order matters: see the module docstring.
_SENDERS = (
    _Sender("forgejo", "X-Forgejo-Event", "X-Forgejo-Signature", ("X-Forgejo-Delivery",), "push"),
    _Sender("gitea", "X-Gitea-Event", "X-Gitea-Signature", ("X-Gitea-Delivery",), "push"),
    # Idempotency-Key (GitLab 17.4+) is the one id documented to survive retries.
    _Sender(
        "gitlab",
        "X-Gitlab-Event",
        "X-Gitlab-Token",
        ("Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"),
        "Push Hook",
    ),
    _Sender(
        "github", "X-GitHub-Event", "X-Hub-Signature-256", ("X-GitHub-Delivery",), "push", "ping"
    ),
)


_FORM = "application/x-www-form-urlencoded"


def parse_delivery(headers: Mapping[str, str], body: bytes, secret: str | None) -> WebhookEvent:
    """Authenticate one delivery, then read it. Raises WebhookError (400 or 401)."""
    h = _normalise(headers)
    sender = _detect(h)
    body = bytes(body)
    form = h.get("content-type", "").partition(";")[0].strip().lower() == _FORM
    # What the sender signed: GitHub the bytes it sent, so nothing of them is read before the
    # signature checks out; Gitea and Forgejo the JSON itself, which a form carries in its
    # `payload` field and a bounded parse splits off first. GitLab sends its token.
    if sender.provider in ("gitea", "forgejo"):
        payload = _form_payload(body) if form else body
        _authenticate(sender, h, payload, secret)
    else:
        _authenticate(sender, h, body, secret)
        payload = _form_payload(body) if form else body
    delivery_id = _delivery_id(sender, h)
    event = h[sender.event_header.lower()]
    if event == sender.ping_event:
        _load_object(payload)  # a payload Wukong cannot read fails here, at setup
        return PingEvent(sender.provider, delivery_id)
    if event != sender.push_event:
        reason = f"{event!r} events are not rendered; only branch pushes are"
        return IgnoredEvent(sender.provider, event, delivery_id, reason)
    return _push_event(sender, delivery_id, event, _load_object(payload))


def _form_payload(body: bytes) -> bytes:
    """The JSON in the `payload` field of a form-encoded delivery, as the bytes it was."""
    try:
        fields = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
            max_num_fields=8, errors="strict",
        )  # fmt: skip
    except ValueError as e:  # not ASCII, not a form, a payload that is not UTF-8, too many
        raise WebhookError(
            f"form-encoded body is not a form of UTF-8 fields: {e}"[:300], 400
        ) from e
    payloads = [value for name, value in fields if name == "payload"]
    if len(payloads) != 1:
        raise WebhookError(
            "form-encoded delivery has no single payload field; set the webhook's content type "
            "to application/json",
            400,
        )
    return payloads[0].encode("utf-8")


def _normalise(headers: Mapping[str, str]) -> dict[str, str]:
    # HTTP header names are case-insensitive; frameworks disagree on the case they hand over.
    return {
        k.strip().lower(): v.strip()
        for k, v in headers.items()
        if isinstance(k, str) and isinstance(v, str)
    }


def _detect(h: dict[str, str]) -> _Sender:
    for sender in _SENDERS:
        if h.get(sender.event_header.lower()):
            return sender
    names = ", ".join(s.event_header for s in reversed(_SENDERS))
    raise WebhookError(f"unknown webhook sender: no {names} header", 400)


def _utf8(text: str) -> bytes:
    # surrogateescape gives back the original bytes of an environment variable that was not
    # valid UTF-8; lone surrogates from elsewhere must not crash the comparison.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _authenticate(sender: _Sender, h: dict[str, str], body: bytes, secret: str | None) -> None:
    # Messages name the header, never the secret or what was received.
    if not secret:
        raise WebhookError(
            "webhook secret is not configured (set WUKONG_WEBHOOK_SECRET); refusing deliveries", 401
        )
    received = h.get(sender.auth_header.lower(), "")
    if not received:
        raise WebhookError(
            f"{sender.provider} delivery has no {sender.auth_header} header: "
            "set the webhook's secret to the value of WUKONG_WEBHOOK_SECRET",
            401,
        )
    key = _utf8(secret)
    if sender.provider == "gitlab":
        expected, given = key, _utf8(received)
    else:
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        prefix = "sha256=" if sender.provider == "github" else ""
        expected, given = (prefix + digest).encode(), _utf8(received.lower())
    if not hmac.compare_digest(expected, given):
        what = "token" if sender.provider == "gitlab" else "signature"
        raise WebhookError(f"{sender.provider} delivery has a bad {sender.auth_header} {what}", 401)


def _delivery_id(sender: _Sender, h: dict[str, str]) -> str:
    for name in sender.delivery_headers:
        value = h.get(name.lower())
        if value:
            if not _TOKEN.fullmatch(value):
                raise WebhookError(f"{name} header is not a printable token (<= 200 chars)", 400)
            return value
    return ""


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(bytes(body).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise WebhookError("request body is not UTF-8", 400) from e
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise WebhookError(
            "request body is not JSON: set the webhook's content type to application/json", 400
        ) from e
    if not isinstance(payload, dict):
        raise WebhookError("request body is not a JSON object", 400)
    return payload


def _field(payload: dict[str, Any], path: str) -> str:
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            raise WebhookError(f"push payload has no {path}", 400)
        node = node[part]
    # Printable: these values reach git, commit trailers and logs.
    if not isinstance(node, str) or not node or not node.isprintable():
        raise WebhookError(f"push payload {path} is not a printable string", 400)
    return node


def _push_event(sender: _Sender, delivery_id: str, event: str, p: dict[str, Any]) -> WebhookEvent:
    ref = _field(p, "ref")
    if not ref.startswith("refs/heads/") or ref == "refs/heads/":
        kind = "tag push" if ref.startswith("refs/tags/") else "push to a ref that is no branch"
        reason = f"{kind} ({ref[:200]}); only branch pushes are rendered"
        return IgnoredEvent(sender.provider, event, delivery_id, reason)
    before, after = _field(p, "before"), _field(p, "after")
    for name, sha in (("before", before), ("after", after)):
        if not valid_sha(sha):
            raise WebhookError(f"push payload {name} is not a commit SHA", 400)
    repo = "project" if sender.provider == "gitlab" else "repository"
    if sender.provider == "gitlab":
        repo_url = _field(p, "project.git_http_url")
        repo_name = _field(p, "project.path_with_namespace")
    else:
        repo_url = _field(p, "repository.clone_url")
        repo_name = _field(p, "repository.full_name")
    repo_fields = p.get(repo) if isinstance(p.get(repo), dict) else {}
    default_branch = repo_fields.get("default_branch")
    web_url = repo_fields.get("web_url" if sender.provider == "gitlab" else "html_url")
    if not repo_url.lower().startswith(("https://", "http://")):
        raise WebhookError("push payload clone URL is not an HTTP(S) URL", 400)
    name_field = "project.path_with_namespace" if repo == "project" else "repository.full_name"
    repo_name = repository_path(sender.provider, repo_url, repo_name, f"push payload {name_field}")
    commits = p.get("commits")
    commits = commits if isinstance(commits, list) else []
    return PushEvent(
        provider=sender.provider,
        delivery_id=delivery_id,
        repo_url=repo_url,
        repo_name=repo_name,
        branch=ref.removeprefix("refs/heads/"),
        before=before,
        after=after,
        head_message=_head_message(p, commits, after),
        changed_paths=_changed_paths(p, commits),
        deleted=p.get("deleted") is True or set(after) == {"0"},
        default_branch=default_branch if isinstance(default_branch, str) else "",
        web_url=web_url if _printable(web_url) else "",
    )


def repository_path(provider: str, clone_url: str, name: str, what: str) -> str:
    """The repository's path on its host, read from its clone URL: owner/name (GitLab: the
    full path, subgroups included), i.e. the URL path's last segments without `.git`, as many
    as `name` (the payload's) has; whatever precedes them is the host's path prefix.

    The clone URL is what WUKONG_ALLOWED_REPOS admits, and one webhook secret serves every
    repository, so the name a payload gives may not point the host's API at another one:
    WebhookError(400) unless `name` is that path, but for case (`what` names the field)."""
    try:
        path = urlsplit(clone_url).path.strip("/").removesuffix(".git")
    except ValueError:  # e.g. a "[" urlsplit reads as a broken IPv6 literal
        path = ""
    segments, claimed = path.split("/"), name.strip("/").split("/")
    fits = len(claimed) == 2 if provider != "gitlab" else len(claimed) >= 2
    tail = segments[-len(claimed) :] if fits and len(claimed) <= len(segments) else []
    if "" in segments or [s.lower() for s in tail] != [c.lower() for c in claimed]:
        raise WebhookError(
            f"{what} {name[:200]!r} is not the repository of its clone URL "
            f"{without_userinfo(clone_url)[:300]}",
            400,
        )
    return "/".join(tail)


def _printable(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 2000 and value.isprintable()


def valid_sha(text: str) -> bool:
    return _SHA.fullmatch(text) is not None


def _head_message(p: dict[str, Any], commits: list[Any], after: str) -> str:
    head = p.get("head_commit")  # GitHub, Gitea, Forgejo; GitLab has none
    if not isinstance(head, dict):
        head = next((c for c in commits if isinstance(c, dict) and c.get("id") == after), None)
    message = head.get("message") if isinstance(head, dict) else None
    return message if isinstance(message, str) else ""


def _changed_paths(p: dict[str, Any], commits: list[Any]) -> tuple[str, ...]:
    # Only a complete list may say "this push touched nothing but the output"; a partial one
    # says nothing at all (empty), which `is_loop` reads as "not a loop".
    total = p.get("total_commits_count", p.get("total_commits"))
    if (isinstance(total, int) and total > len(commits)) or len(commits) >= _GITHUB_MAX_COMMITS:
        return ()
    paths: dict[str, None] = {}  # ordered set
    for commit in commits:
        if not isinstance(commit, dict):
            return ()
        lists = [commit.get(key) for key in ("added", "modified", "removed")]
        if not all(isinstance(names, list) for names in lists):
            return ()  # old Gitea payloads do not list files
        for names in lists:
            for name in names:
                if not isinstance(name, str) or not name:
                    return ()
                paths[name] = None
    return tuple(paths)


def _normalise_url(url: str) -> str:
    """Clone URL in comparable form: lower-case scheme and host, no userinfo, default port,
    query, fragment, trailing "/" or ".git"."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    port = parts.port  # ValueError on a bad port; callers catch it
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        netloc += f":{port}"
    path = parts.path.rstrip("/")
    path = path.removesuffix(".git").rstrip("/")
    return f"{parts.scheme.lower()}://{netloc}{path}"


_UNCLEAR_PATH = re.compile(r"[%\\\s\x00-\x1f\x7f]")


def _unambiguous(url: str) -> bool:
    """Does the HTTP client fetch exactly the path the allow-list sees?

    urllib3 resolves "." and ".." segments before sending ("/allowed/../other" fetches
    "/other"), and servers decode %2e, %2f and "\\" their own ways; a clone URL never needs
    any of these, nor a query or fragment. Such a URL is refused rather than interpreted.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    path = parts.path
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return False
    if _UNCLEAR_PATH.search(path) or _UNCLEAR_PATH.search(parts.hostname or ""):
        return False
    return not any(segment in (".", "..") for segment in path.split("/"))


def repo_allowed(repo_url: str, allowed: str | Iterable[str]) -> bool:
    """Is `repo_url` in the allow-list (WUKONG_ALLOWED_REPOS)? Empty list: nothing is.

    Entries are clone URLs or `fnmatch` patterns of them, compared after normalising both
    sides. `*` also matches "/", so "https://gitlab.example.com/team/*" covers subgroups.
    """
    entries = allowed.split(",") if isinstance(allowed, str) else list(allowed)
    if not _unambiguous(repo_url):
        return False
    try:
        url = _normalise_url(repo_url)
    except ValueError:
        return False
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    for entry in (e.strip() for e in entries if isinstance(e, str)):
        if not entry:
            continue
        try:
            pattern = _normalise_url(entry) if "://" in entry else entry
        except ValueError:  # e.g. a "[" that urlsplit reads as a broken IPv6 literal
            pattern = entry.rstrip("/").removesuffix(".git")
        if fnmatch.fnmatchcase(url, pattern):
            return True
    return False


def not_rendered(event: PushEvent) -> str | None:
    """Why a push is never rendered, whatever `.wukong.yaml` says, or None: read off the event
    alone, so the webhook drops it before queueing and the worker before fetching."""
    if event.deleted:
        return f"branch {event.branch} was deleted; nothing to render"
    if event.branch.startswith(BOT_PREFIX):  # whatever `branches` matches
        return f"{event.branch} holds Wukong's own proposal; it is not rendered"
    if is_loop(event, ""):  # "" = the trailer test only: the output path is in .wukong.yaml
        return "the head commit is Wukong's own render"
    return None


def is_loop(event: PushEvent, output_path: str) -> bool:
    """Was this push made by Wukong itself, or does it only touch rendered output?

    Errs towards False: a needless render is a no-op (no change, no commit), while a wrong
    True would leave a spec change unrendered.
    """
    if is_render_commit(event.head_message):
        return True
    out = output_path.strip().removeprefix("./").strip("/")
    if not out or out == "." or not event.changed_paths:
        return False
    return all(path == out or path.startswith(out + "/") for path in event.changed_paths)
