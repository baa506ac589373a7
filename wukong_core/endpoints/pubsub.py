"""POST /pubsub: Pub/Sub's push subscription delivers a queued push; render it as /webhook
would have (README, Queued deliveries).

Order of the gates, each before anything costlier:
    neither WUKONG_PUBSUB_TOKEN nor WUKONG_PUBSUB_AUDIENCE   503   no push can be authenticated
    WUKONG_PUBSUB_AUDIENCE without                           503   any Google account's token
      WUKONG_PUBSUB_SERVICE_ACCOUNT                                would pass
    body over the limit                                      413
    wrong ?token=, or an OIDC token that does not verify     401   nothing of the body is read
    Google's certificates cannot be fetched                  503   Pub/Sub redelivers
    malformed envelope or message                            400   never renders; Pub/Sub
                                                                   redelivers it until its
                                                                   dead-letter topic takes it
    repository not allow-listed                              200   {"ignored"}: nothing cloned
    render + commit                                          200   whatever it found (the
                                                                   commit status says it);
                                                                   5xx when a redelivery may help

Every handled push is answered 200: Pub/Sub acks 102, 200, 201, 202 and 204, but its emulator
takes 202 for a failure, and a 4xx would only be redelivered in vain. A redelivered push (the
ack deadline passed, or a 5xx) renders again, which Git makes a no-op, even while the first
render of it still runs.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from wukong_core.endpoints import delivery
from wukong_core.endpoints.common import Config, Instance, Refusal, Reply, public_url, read_body
from wukong_core.errors import WebhookError
from wukong_core.git import webhooks
from wukong_core.git.queued import decode_event
from wukong_core.queue import envelope, push_auth


def pubsub(request: Request, config: Config, kept: Instance) -> Reply:
    if not config.pubsub_token and not config.pubsub_audience:
        raise Refusal(
            503,
            "server misconfigured: set WUKONG_PUBSUB_TOKEN or WUKONG_PUBSUB_AUDIENCE, so that "
            "pushes from Pub/Sub can be authenticated",
        )
    if config.pubsub_audience and not config.pubsub_service_account:
        raise Refusal(
            503,
            "server misconfigured: WUKONG_PUBSUB_AUDIENCE is set without "
            "WUKONG_PUBSUB_SERVICE_ACCOUNT: set it to the push subscription's service account "
            "(any Google account can get a token for an audience)",
        )
    try:
        _authenticate(request, config, kept.google_certs)
        message = envelope.parse_push(read_body(request, config.max_body_bytes))
        event = decode_event(message.data)
    except WebhookError as e:
        raise Refusal(e.status, str(e)) from e
    fields: dict[str, Any] = {
        "provider": event.provider, "delivery": event.delivery_id, "message": message.message_id,
        "attempt": message.delivery_attempt, "repo": event.repo_name, "branch": event.branch,
        "commit": event.after,
    }  # fmt: skip
    if not webhooks.repo_allowed(event.repo_url, config.allowed_repos):
        reason = f"repository {public_url(event.repo_url)} is not in WUKONG_ALLOWED_REPOS"
        return Reply(200, {"ignored": reason, "provider": event.provider}, log=fields)
    if reason := webhooks.not_rendered(event):  # the webhook drops these; anyone else may not
        return Reply(200, {"ignored": reason}, log=fields)
    try:
        reply = delivery.render_push(event, config, fields, kept, queued=True)
    except Refusal as e:
        if e.status >= 500:  # the server's settings: a redelivery after the fix will do
            raise
        # e.g. a branch name Git refuses: redelivering it cannot help
        return Reply(200, {"status": "error", "error": e.message}, log=fields)
    if reply.status < 500:
        reply.status = 200  # handled: the outcome is on the commit and in the body
    return reply


def _authenticate(request: Request, config: Config, certs: push_auth.GoogleCerts) -> None:
    sent = request.args.get("token")
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if config.pubsub_token and sent is not None:
        push_auth.check_token(sent, config.pubsub_token)
    elif config.pubsub_audience and scheme.lower() == "bearer" and bearer.strip():
        push_auth.verify_oidc(
            bearer.strip(), config.pubsub_audience, config.pubsub_service_account, certs,
            certs_url=push_auth.GOOGLE_CERTS_URL,  # read per call: tests serve their own
        )  # fmt: skip
    else:
        raise WebhookError(
            "Pub/Sub push is not authenticated: give the push endpoint ?token=<WUKONG_PUBSUB_"
            "TOKEN>, or the subscription a push service account (OIDC)", 401,
        )  # fmt: skip
