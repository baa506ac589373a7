"""Render one push and report it: commit-back, the answer, the commit status (README).

/webhook runs this inside the request, or, with WUKONG_QUEUE, /pubsub runs it for the queued
message. A delivery Wukong handled is answered 2xx whatever it found, since the outcome is
reported on the commit; 5xx is kept for failures a redelivery may cure:

    outcome                               answer                                   status
    committed, or nothing to change       200 {"status": "committed"|"unchanged"}  success
    proposed (pull-request mode)          200 {"status": "proposed", "request"}    success
    error findings                        200 {"status": "failure", findings}      failure
    only cluster errors (forbidden, ...)  200 {"status": "error", findings}        error
      ... the cluster was unreachable     503 {"status": "error", "retryable"}     error
    Git or host API failure that may pass 502 {"error", "retryable": true}         error
    final Git failure (push declined,     200 {"status": "error", "error",         error
      credentials refused, no repo), or        "retryable": false}
      the host's API refused a request
    not Wukong's to render                202 {"ignored"}                          none

The status goes on the commit rendered, the branch's head; when that is newer than the pushed
commit, the pushed one says `success` "superseded by <short sha>" (statuses.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from wukong_core import pipeline
from wukong_core.collector import collector_paused
from wukong_core.endpoints import statuses
from wukong_core.endpoints.common import (
    Config,
    Instance,
    Refusal,
    Reply,
    ignored,
    open_cluster,
    summary_fields,
)
from wukong_core.errors import GitError, HostError, PushIgnored, PushRejectedError, UsageError
from wukong_core.findings import Finding
from wukong_core.git import webhooks
from wukong_core.git.commit import (
    AUTHOR,
    CommitRequest,
    CommitResult,
    RenderOutput,
    SourceTree,
    commit_manifests,
)
from wukong_core.git.hosts import GitHost
from wukong_core.report import as_dict

if TYPE_CHECKING:
    from wukong_core.spec.repoconfig import RepoConfig

DELIVERY_SECONDS = 60.0  # fetch, render, push and the status, all attempts included


def succeeded(reply: Reply) -> bool:
    """Rendered and pushed (or proposed), or nothing to change: an answer worth remembering per
    delivery id (a failure is not: a redelivery after a fix must try again)."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return reply.status == 200 and body.get("status") in ("committed", "proposed", "unchanged")


def render_push(event: webhooks.PushEvent, config: Config, fields: dict[str, Any],
                kept: Instance, queued: bool = False) -> Reply:  # fmt: skip
    """Fetch, render, commit and push `event`'s branch; answer, and set the commit status on
    the commit rendered. `queued`: the webhook has long answered, so the pushed commit says
    `pending` "rendering" once its branch is known to be rendered; a branch that is not gets
    no status, as in the synchronous mode."""
    if not AUTHOR.fullmatch(config.git_author):
        raise Refusal(503, "server misconfigured: WUKONG_GIT_AUTHOR must look like 'Name <email>'")
    deadline = time.monotonic() + DELIVERY_SECONDS
    # One client of the host's API serves the statuses and pull-request mode; it costs nothing
    # until it is called.
    host = statuses.open_api(event, config, deadline)
    try:
        return _render(event, config, fields, kept, queued, host, deadline)
    finally:
        if host is not None:
            host.close()


def _render(event: webhooks.PushEvent, config: Config, fields: dict[str, Any], kept: Instance,
            queued: bool, host: GitHost | None, deadline: float) -> Reply:  # fmt: skip
    cluster = open_cluster(config)

    def status(state: statuses.State, text: str, sha: str | None = None, link: str = "",
               on: str = "") -> None:  # fmt: skip
        """`state` on commit `on`, by default the pushed one, linking to `link` or commit `sha`."""
        said = statuses.post(event, config, kept, host, state, text, sha, link, on)
        fields["commit_status" if on in ("", event.after) else "rendered_status"] = said

    heads: list[str] = []  # the head each round rendered
    pending = False

    def admit(repo_config: RepoConfig) -> None:
        nonlocal pending
        if webhooks.is_loop(event, repo_config.output_path):
            raise PushIgnored(f"the push only touched the output path {repo_config.output_path}")
        if queued and not pending:
            pending = True
            status("pending", "rendering")

    def renderer(tree: SourceTree) -> RenderOutput:
        heads.append(tree.sha)
        with collector_paused():
            return pipeline.render_repository(
                tree, cluster, branch=event.branch, default_branch=event.default_branch,
                caches=kept.caches, admit=admit,
            )  # fmt: skip

    commit = CommitRequest(
        repo_url=event.repo_url,
        branch=event.branch,
        renderer=renderer,
        delivery_id=event.delivery_id,
        author=config.git_author,
        username=config.git_username or None,
        token=config.git_token or None,
        max_seconds=DELIVERY_SECONDS,
        host=host,
    )
    try:
        result = commit_manifests(commit)
    except PushIgnored as e:
        if pending and heads[-1] != event.after:  # a later round's head is not rendered
            status("success", statuses.superseded(heads[-1]))
        return ignored(str(e), fields)
    except (GitError, HostError) as e:
        message = config.scrub(str(e))
        summary = e.summary if isinstance(e, PushRejectedError | HostError) else ""
        status("error", summary or statuses.could_not(message))
        fields |= {"result": "error", "retryable": e.retryable}
        body = {"error": message, "retryable": e.retryable, "repo": event.repo_name}
        if e.retryable:
            return Reply(502, body, log=fields)
        return Reply(200, {"status": "error", "provider": event.provider, **body}, log=fields)
    except UsageError as e:  # a branch name or delivery id that Git refuses
        raise Refusal(400, config.scrub(str(e))) from e

    def settle(state: statuses.State, text: str, sha: str | None = None, link: str = "") -> None:
        """The outcome on the commit whose specs were rendered; the pushed one, when the branch
        had moved on, is superseded (linking where the outcome links)."""
        status(state, text, sha, link, on=result.specs_sha)
        if result.specs_sha != event.after:
            status("success", statuses.superseded(result.specs_sha), sha, link)

    # After the checks: a snapshot's label names the checks it could not serve.
    label = cluster.source if cluster is not None else pipeline.OFFLINE
    return _answer(result, event, label, fields, settle)


def _answer(result: CommitResult, event: webhooks.PushEvent, label: str, fields: dict[str, Any],
            settle: Any) -> Reply:  # fmt: skip
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
    if result.status == "committed":
        if result.commit_sha is None:  # commit.py's promise; a bug otherwise (500, logged)
            raise RuntimeError("a committed render names no commit")
        short = result.commit_sha[:7]
        settle("success", f"rendered {result.vm_count} VMs in {short}", result.commit_sha)
        return Reply(200, body, log=fields)
    proposal = result.proposal
    if proposal is not None:
        body["request"] = asdict(proposal)
        fields["request"] = proposal.action
    if result.status == "proposed":
        if proposal is None:
            raise RuntimeError("a proposed render names no request")
        text = f"render proposed in {proposal.url}"
        if len(text) > statuses.LIMIT:
            text = f"render of {result.vm_count} VMs proposed in {proposal.ref}"
        settle("success", text, link=proposal.url)
        return Reply(200, body, log=fields)
    if result.status == "unchanged":
        closed = proposal.ref if proposal is not None and proposal.action == "closed" else ""
        settle("success", f"no change; closed {closed}" if closed else "no change")
        return Reply(200, body, log=fields)
    errors = [f for f in result.findings if f.severity == "error"]
    body["error"] = f"{len(errors)} error finding(s): nothing committed; see findings"
    cluster = [f for f in errors if f.code.startswith("cluster.")]
    if len(cluster) < len(errors):  # the specs need a person
        body["status"] = fields["result"] = "failure"
        settle("failure", statuses.failure_summary(errors))
        return Reply(200, body, log=fields)
    body["status"] = fields["result"] = "error"
    settle("error", _cluster_summary(cluster))
    unreachable = any(f.code == "cluster.unreachable" for f in cluster)
    body["retryable"] = unreachable
    return Reply(503 if unreachable else 200, body, log=fields)


def _cluster_summary(findings: list[Finding]) -> str:
    first = findings[0]
    return f"could not check the cluster ({first.code}): {first.message}"
