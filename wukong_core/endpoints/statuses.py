"""The commit status `wukong/render`: what each outcome says, and posting it without ever
failing the delivery (README, Commit statuses).

    pending   a queued delivery is rendering  "rendering"
    success   rendered, or nothing to change  "rendered 3 VMs in 1a2b3c4", "no change"
              proposed (pull-request mode)    "render proposed in https://…/pull/12"
    failure   error findings: nothing written "2 errors: spec.invalid wukong/a.yaml:4, …"
    error     Git or cluster failures         "could not push main: …"

The outcome goes on the commit whose specs were rendered: the branch's head, read from the
remote (or, when that head is Wukong's own render commit, the commit it rendered). That is the
pushed commit unless the branch moved on meanwhile; the pushed commit is then `success`
"superseded by <short sha>": it is never blamed for specs it does not hold.

A status that cannot be posted is logged (secrets scrubbed) and changes nothing else: the
delivery's answer is the same with or without it. Each call is bounded by the delivery's
deadline and the API client's limit per call. One client serves a delivery (open_api); its token
is WUKONG_STATUS_TOKEN, else WUKONG_GIT_TOKEN; with neither, no request is made, and the log
says so once per instance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from wukong_core.endpoints.common import Config, Instance, public_url
from wukong_core.findings import Finding
from wukong_core.git.hosts import CommitStatus, GitHost, Repository, State, open_host
from wukong_core.git.webhooks import PushEvent

LIMIT = 140  # GitHub refuses a longer description (422)
log = logging.getLogger("wukong.status")


def clip(text: str, limit: int = LIMIT) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def failure_summary(findings: Iterable[Finding]) -> str:
    """`N error(s): code file:line, code file:line, …` within the limit."""
    errors = [f for f in findings if f.severity == "error"]
    text = f"{len(errors)} error{'' if len(errors) == 1 else 's'}: "
    shown = 0
    for finding in errors:
        where = f"{finding.file}:{finding.line}" if finding.line else finding.file or "request"
        item = ("" if shown == 0 else ", ") + f"{finding.code} {where}"
        if len(text) + len(item) > LIMIT - 3:
            return text + ", …" if shown else clip(text + item)
        text, shown = text + item, shown + 1
    return text


def could_not(message: str) -> str:
    """A failure message ("failed to push main: …") as a status ("could not push main: …")."""
    return clip(message.replace("failed to ", "could not ", 1))


def repository(event: PushEvent) -> Repository:
    """The pushed repository as its host's API knows it."""
    return Repository(event.provider, public_url(event.repo_url), event.repo_name, event.web_url)


def superseded(rendered: str) -> str:
    """What the pushed commit says when the delivery rendered a newer head."""
    return f"superseded by {rendered[:7]}"


def open_api(event: PushEvent, config: Config, deadline: float) -> GitHost | None:
    """The client of the pushed repository's host, for one delivery's statuses and requests:
    WUKONG_STATUS_TOKEN, else WUKONG_GIT_TOKEN; None with neither. The caller closes it."""
    token = config.status_token or config.git_token
    return open_host(repository(event), token, deadline) if token else None


def post(event: PushEvent, config: Config, kept: Instance, host: GitHost | None, state: State,
         description: str, sha: str | None = None, link: str = "",
         on: str = "") -> str:  # fmt: skip
    """Set the status on commit `on` (default: the pushed `event.after`), linking to `link` or
    else to commit `sha`; what happened, for the request's log line."""
    if host is None:
        if not kept.told_no_token.is_set():  # a log line's dedup, nothing depends on it
            kept.told_no_token.set()
            log.warning("no commit statuses: set WUKONG_STATUS_TOKEN (or WUKONG_GIT_TOKEN)")
        return "not posted: no token"
    try:
        target = link or (host.commit_url(sha) if sha else "")
        host.set_status(
            on or event.after, event.branch,
            CommitStatus(state, clip(description), target_url=target),
        )  # fmt: skip
    except Exception as e:  # whatever went wrong, the delivery's answer stays what it is
        said = config.scrub(str(e))[:300]
        log.warning("commit status %s on %s of %s not posted: %s", state,
                    (on or event.after)[:12], event.repo_name, said)  # fmt: skip
        return f"not posted: {said}"
    return state
