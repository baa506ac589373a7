"""A push as a queued message (WUKONG_QUEUE): JSON bytes with what the render needs, and back.

The message carries no secret: the clone URL loses any userinfo (the worker authenticates with
WUKONG_GIT_TOKEN), and the webhook's signature stays with the webhook. A long list of changed
paths is dropped, which `is_loop` reads as "unknown" (it only ever errs towards rendering).
Reading a message checks every field as strictly as the webhook's payload was checked, since a
message may come from anyone who can publish to the topic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from wukong_core.errors import WebhookError
from wukong_core.git.failures import without_userinfo
from wukong_core.git.webhooks import PushEvent, repo_allowed, repository_path, valid_sha

VERSION = 1
MAX_PATHS = 1000  # ~100 KB at most; Pub/Sub takes 10 MB, the list is an optimisation only
_TEXT = {f.name for f in fields(PushEvent)} - {"changed_paths", "deleted"}
_REQUIRED = ("provider", "repo_url", "repo_name", "branch", "before", "after")
_PROVIDERS = ("github", "gitlab", "gitea", "forgejo")


def encode_event(event: PushEvent) -> bytes:
    data: dict[str, Any] = asdict(event)
    data["repo_url"] = without_userinfo(event.repo_url)
    paths = event.changed_paths
    data["changed_paths"] = list(paths) if len(paths) <= MAX_PATHS else []
    return json.dumps({"version": VERSION, **data}, sort_keys=True).encode()


def ordering_key(event: PushEvent) -> str:
    """Deliveries of one branch are rendered in the order they were published."""
    return f"{without_userinfo(event.repo_url)} {event.branch}"[:1024]


def decode_event(data: bytes) -> PushEvent:
    """The PushEvent in a queued message; WebhookError(400) for anything else."""
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WebhookError("queued message is not UTF-8 JSON", 400) from e
    if not isinstance(message, dict) or message.get("version") != VERSION:
        raise WebhookError(f"queued message is not a version {VERSION} Wukong delivery", 400)
    values: dict[str, Any] = {}
    for name in _TEXT:
        value = message.get(name, "")
        # A commit message has line breaks; every other field is one printable line.
        line = value.replace("\n", " ").replace("\t", " ") if name == "head_message" else value
        limit = 65536 if name == "head_message" else 2000
        if not isinstance(value, str) or not line.isprintable() or len(value) > limit:
            raise WebhookError(f"queued message field {name} is not a printable string", 400)
        values[name] = value
    missing = [name for name in _REQUIRED if not values[name]]
    if missing:
        raise WebhookError(f"queued message lacks {', '.join(missing)}", 400)
    paths = message.get("changed_paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise WebhookError("queued message field changed_paths is not a list of paths", 400)
    if not isinstance(message.get("deleted", False), bool):
        raise WebhookError("queued message field deleted is not a boolean", 400)
    if values["provider"] not in _PROVIDERS:
        raise WebhookError(f"queued message names no known Git host: {values['provider']!r}", 400)
    if not (valid_sha(values["before"]) and valid_sha(values["after"])):
        raise WebhookError("queued message before/after is not a commit SHA", 400)
    if not repo_allowed(values["repo_url"], ["*"]):  # an unambiguous HTTP(S) URL
        raise WebhookError("queued message repo_url is not a plain HTTP(S) clone URL", 400)
    values["repo_name"] = repository_path(
        values["provider"], values["repo_url"], values["repo_name"], "queued message repo_name"
    )
    return PushEvent(**values, changed_paths=tuple(paths), deleted=message.get("deleted", False))
