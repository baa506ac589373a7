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

from wukong_core.git.hosts import CommitStatus, Repository, root, web_url
from wukong_core.git.hosts.http import Api, refused

_STATES = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}
_LIMIT = 255


class GitLab:
    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        self.repo = repo
        project = repo.project_id or quote(repo.name, safe="")  # the id, or the encoded path
        self.path = f"/projects/{project}"
        self.api = Api(root(repo) + "/api/v4", {"PRIVATE-TOKEN": token}, deadline)

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        body = {"state": _STATES[status.state], "name": status.context, "ref": ref,
                "description": status.description[:_LIMIT]}  # fmt: skip
        if status.target_url and len(status.target_url) <= _LIMIT:
            body["target_url"] = status.target_url
        answer = self.api.call("POST", f"{self.path}/statuses/{sha}", body)
        if answer.status == 400 and answer.message().startswith("Cannot transition status"):
            return  # the commit already has this state
        if not answer.ok:
            raise refused("set the commit status", answer, "the api scope and the Developer role")

    def commit_url(self, sha: str) -> str:
        return f"{web_url(self.repo)}/-/commit/{sha}"

    def close(self) -> None:
        self.api.close()
