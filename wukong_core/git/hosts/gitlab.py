"""GitLab's REST API (v4), gitlab.com or self-managed, also under a path prefix.

Commit statuses: `POST <root>/api/v4/projects/:id/statuses/:sha` with `state` (pending, running,
success, failed, canceled: no `error`, so both failure and error are `failed`), `name`, `ref`,
`description`, `target_url` (each at most 255 characters); 201. Posting the pending or running
state a commit already has for that name and ref is answered 400 "Cannot transition status via
…": the status is already what was asked, so that is no failure. The token (`PRIVATE-TOKEN`)
needs the `api` scope and the Developer role.
"""

from __future__ import annotations

from urllib.parse import quote

from wukong_core.git.hosts import CommitStatus, HostClient, Repository, root
from wukong_core.git.hosts.http import Answer, Api

_STATES = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}
_LIMIT = 255


class GitLab(HostClient):
    STATUS_NEEDS = "the api scope and the Developer role"
    COMMIT_PATH = "/-/commit/"

    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        project = repo.project_id or quote(repo.name, safe="")  # the id, or the encoded path
        api = Api(root(repo) + "/api/v4", {"PRIVATE-TOKEN": token}, deadline)
        super().__init__(repo, api, f"/projects/{project}")

    def status_body(self, ref: str, status: CommitStatus) -> dict[str, str]:
        body = {"state": _STATES[status.state], "name": status.context, "ref": ref,
                "description": status.description[:_LIMIT]}  # fmt: skip
        if status.target_url and len(status.target_url) <= _LIMIT:
            body["target_url"] = status.target_url
        return body

    def already(self, answer: Answer) -> bool:
        return answer.status == 400 and answer.message().startswith("Cannot transition status")
