"""POST /webhook: a signed Git push -> render the branch -> commit and push back (README).

Order of the gates, each before anything costlier:
    no WUKONG_WEBHOOK_SECRET  503   the server cannot authenticate anyone; say so to the operator
    body over the limit       413
    bad or missing signature  401   (webhooks.parse_delivery; nothing of the body is read before)
    ping                      200
    other event, tag push     202   {"ignored": reason}
    repo not allow-listed     403   before any clone
    branch deleted            202
    Wukong's own commit       202   (trailer; the output-path half of the loop guard runs once
                                     `.wukong.yaml` is read, since the output path lives there)
    render + commit           200 committed | unchanged, 422 failed-checks, 502 Git failure

The answer is synchronous: senders show it in their delivery log. Idempotency lives in Git:
every delivery renders the branch's current head and commits only a changed tree, so a
redelivery answers "unchanged". A small per-instance memory of delivery ids only saves the
clone for a redelivery that already succeeded here; nothing depends on it.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from wukong_core import pipeline
from wukong_core.caches import Caches
from wukong_core.endpoints.common import (
    Config,
    Refusal,
    Reply,
    open_cluster,
    public_url,
    read_body,
    summary_fields,
)
from wukong_core.errors import GitError, PushIgnored, UsageError, WebhookError
from wukong_core.git import webhooks
from wukong_core.git.commit import (
    AUTHOR,
    CommitRequest,
    RenderOutput,
    SourceTree,
    commit_manifests,
)
from wukong_core.report import as_dict


def webhook(request: Request, config: Config, caches: Caches) -> Reply:
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
        return _ignored(event.reason, fields | {"event": event.event})
    fields |= {"repo": event.repo_name, "branch": event.branch, "commit": event.after}
    if not webhooks.repo_allowed(event.repo_url, config.allowed_repos):
        raise Refusal(
            403,
            f"repository {public_url(event.repo_url)} is not in WUKONG_ALLOWED_REPOS",
            provider=event.provider,
            repo=event.repo_name,
        )
    if event.deleted:
        return _ignored(f"branch {event.branch} was deleted; nothing to render", fields)
    if webhooks.is_loop(event, ""):  # "" = the trailer test only; see the module docstring
        return _ignored("the head commit is Wukong's own render", fields)
    key = (event.provider, event.delivery_id, event.repo_url, event.branch)
    seen = caches.deliveries.get(key) if event.delivery_id else None
    if seen is not None:
        status, answer = seen
        return Reply(status, {**answer, "redelivery": True}, log=fields | {"redelivery": True})
    reply = _commit(event, config, fields, caches)
    if event.delivery_id and reply.status == 200:
        assert isinstance(reply.body, dict)
        caches.deliveries.put(key, (reply.status, reply.body))
    return reply


def _ignored(reason: str, fields: dict[str, Any]) -> Reply:
    return Reply(202, {"ignored": reason, "provider": fields["provider"]}, log=fields)


def _commit(
    event: webhooks.PushEvent, config: Config, fields: dict[str, Any], caches: Caches
) -> Reply:
    if not AUTHOR.fullmatch(config.git_author):
        raise Refusal(503, "server misconfigured: WUKONG_GIT_AUTHOR must look like 'Name <email>'")
    cluster = open_cluster(config)

    def renderer(tree: SourceTree) -> RenderOutput:
        out = pipeline.render_repository(
            tree, cluster, branch=event.branch, default_branch=event.default_branch, caches=caches
        )
        if webhooks.is_loop(event, out.output_path):
            raise PushIgnored(f"the push only touched the output path {out.output_path}")
        return out

    commit = CommitRequest(
        repo_url=event.repo_url,
        branch=event.branch,
        renderer=renderer,
        delivery_id=event.delivery_id,
        author=config.git_author,
        username=config.git_username or None,
        token=config.git_token or None,
    )
    try:
        result = commit_manifests(commit)
    except PushIgnored as e:
        return _ignored(str(e), fields)
    except GitError as e:
        raise Refusal(502, config.scrub(str(e)), retryable=e.retryable, repo=event.repo_name) from e
    except UsageError as e:  # a branch name or delivery id that Git refuses
        raise Refusal(400, config.scrub(str(e))) from e
    # After the checks: a snapshot's label names the checks it could not serve.
    label = cluster.source if cluster is not None else pipeline.OFFLINE
    body: dict[str, Any] = {
        "status": result.status,
        "provider": event.provider,
        "repo": event.repo_name,
        "branch": event.branch,
        "source_sha": result.source_sha,
        "commit_sha": result.commit_sha,
        "vm_count": result.vm_count,
        "attempts": result.attempts,
        "cluster": label,
        **as_dict(result.findings),
    }
    fields |= {
        "result": result.status,
        "commit": result.source_sha,
        "vms": result.vm_count,
        "attempts": result.attempts,
        "cluster": label,
    } | summary_fields(result.findings)
    if result.status == "failed-checks":
        errors = body["summary"]["error"]
        body["error"] = f"{errors} error finding(s): nothing committed; see findings"
        return Reply(422, body, log=fields)
    return Reply(200, body, log=fields)
