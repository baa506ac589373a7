"""POST /webhook: a signed Git push -> render the branch -> commit and push back (README).

Order of the gates, each before anything costlier:
    no WUKONG_WEBHOOK_SECRET  503   the server cannot authenticate anyone; say so to the operator
    body over the limit       413
    bad or missing signature  401   (webhooks.parse_delivery; nothing of the body is read before)
    ping                      200
    other event, tag push     202   {"ignored": reason}
    repo not allow-listed     403   before any clone
    branch deleted            202   (webhooks.not_rendered: what the event alone says)
    a wukong/render-* branch  202
    Wukong's own commit       202   (trailer; the output-path half of the loop guard runs once
                                     `.wukong.yaml` is read, since the output path lives there)
    WUKONG_QUEUE set          202   {"queued": id} once Pub/Sub holds it; 503 and an `error`
                                     status when it cannot be published, all within what the
                                     sender waits (QUEUE_SECONDS). No `pending` here: whether
                                     the branch is rendered at all is for the worker to read
                                     in `.wukong.yaml` (delivery.py)
    render + commit           200   committed | unchanged | failure | error (delivery.py), 5xx
                                     only when a redelivery may help

Without a queue the answer is synchronous: senders show it in their delivery log, and the
outcome is also set on the pushed commit as its status. Idempotency lives in Git:
every delivery renders the branch's current head and commits only a changed tree, so a
redelivery answers "unchanged". A small per-instance memory of delivery ids only saves the
clone for a redelivery that already succeeded here; nothing depends on it.
"""

from __future__ import annotations

import time
from typing import Any

from werkzeug.wrappers import Request

from wukong_core.endpoints import statuses
from wukong_core.endpoints.common import (
    Config,
    Instance,
    Refusal,
    Reply,
    ignored,
    public_url,
    read_body,
)
from wukong_core.errors import QueueError, UsageError, WebhookError
from wukong_core.git import webhooks
from wukong_core.git.queued import encode_event, ordering_key

# The publish, within what each sender waits for an answer by default: GitHub and GitLab 10 s,
# Gitea and Forgejo 5 s ([webhook] DELIVER_TIMEOUT).
QUEUE_SECONDS = {"github": 8.0, "gitlab": 8.0, "gitea": 4.0, "forgejo": 4.0}
# How that time is shared: the publish must end by 80 %, and the rest is kept for the `error`
# status of a publish that failed.
PUBLISH_SHARE = 0.8


def webhook(request: Request, config: Config, kept: Instance) -> Reply:
    if not config.webhook_secret:
        # 503, not 401: no sender can get in until the operator sets the secret, and a 401
        # would send the repository owner hunting for a wrong secret on their side.
        raise Refusal(
            503,
            "server misconfigured: WUKONG_WEBHOOK_SECRET is not set, so no delivery can be "
            "authenticated",
        )
    body = read_body(request, config.max_body_bytes)
    try:
        event = webhooks.parse_delivery(request.headers, body, config.webhook_secret)
    except WebhookError as e:
        raise Refusal(e.status, str(e)) from e
    fields: dict[str, Any] = {"provider": event.provider, "delivery": event.delivery_id}
    if isinstance(event, webhooks.PingEvent):
        return Reply(200, {"status": "pong", "provider": event.provider}, log=fields)
    if isinstance(event, webhooks.IgnoredEvent):
        return ignored(event.reason, fields | {"event": event.event})
    fields |= {"repo": event.repo_name, "branch": event.branch, "commit": event.after}
    if not webhooks.repo_allowed(event.repo_url, config.allowed_repos):
        raise Refusal(
            403,
            f"repository {public_url(event.repo_url)} is not in WUKONG_ALLOWED_REPOS",
            provider=event.provider,
            repo=event.repo_name,
        )
    if reason := webhooks.not_rendered(event):
        return ignored(reason, fields)
    if config.queue:
        return _enqueue(event, config, fields, kept)
    # The pipeline (and the spec models) load only for a push rendered here, never to queue one.
    from wukong_core.endpoints import delivery

    key = (event.provider, event.delivery_id, event.repo_url, event.branch)
    seen = kept.caches.deliveries.get(key) if event.delivery_id else None
    if seen is not None:
        status, answer = seen
        return Reply(status, {**answer, "redelivery": True}, log=fields | {"redelivery": True})
    reply = delivery.render_push(event, config, fields, kept)
    if event.delivery_id and delivery.succeeded(reply) and isinstance(reply.body, dict):
        kept.caches.deliveries.put(key, (reply.status, reply.body))
    return reply


def _enqueue(
    event: webhooks.PushEvent, config: Config, fields: dict[str, Any], kept: Instance
) -> Reply:
    """The message on the queue, then 202, within what the sender waits. A message that
    cannot be published is an `error` on the pushed commit, before the answer (Cloud Run
    throttles an instance's CPU once it has answered): like a synchronous delivery that could
    not fetch, it failed before `.wukong.yaml` could say whether the branch is rendered."""
    started = time.monotonic()
    seconds = QUEUE_SECONDS.get(event.provider, min(QUEUE_SECONDS.values()))
    deadline = started + seconds
    try:
        queue = kept.queues.open(config.queue)
    except UsageError as e:  # a malformed WUKONG_QUEUE, or the queue extra not installed
        raise Refusal(503, f"server misconfigured: {e}") from e
    attributes = {"provider": event.provider, "delivery": event.delivery_id}
    try:
        queued = queue.publish(
            encode_event(event), ordering_key(event), {k: v for k, v in attributes.items() if v},
            started + seconds * PUBLISH_SHARE - time.monotonic(),
        )  # fmt: skip
    except QueueError as e:
        message = config.scrub(str(e))
        host = statuses.open_api(event, config, deadline)
        try:
            said = statuses.could_not(message)
            fields["commit_status"] = statuses.post(event, config, kept, host, "error", said)
        finally:
            if host is not None:
                host.close()
        return Reply(503, {"error": message, "retryable": e.retryable}, log=fields)
    body = {"queued": queued, "provider": event.provider, "repo": event.repo_name,
            "branch": event.branch}  # fmt: skip
    return Reply(202, body, log=fields | {"queued": queued})
