"""Gitea's and Forgejo's REST API (v1; Forgejo keeps Gitea's).

Commit statuses: `POST <root>/api/v1/repos/{owner}/{repo}/statuses/{sha}` with `state`
(pending, success, error, failure), `context`, `description`, `target_url`; 201. Auth header
`Authorization: token …`; the token needs the `write:repository` scope and write access to the
repository's code.
"""

from __future__ import annotations

from wukong_core.git.hosts import CommitStatus, Repository, owner_path, root, status_body, web_url
from wukong_core.git.hosts.http import Api, refused


class Gitea:
    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        self.repo = repo
        self.path = owner_path(repo)
        self.api = Api(root(repo) + "/api/v1", {"Authorization": f"token {token}"}, deadline)

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        answer = self.api.call("POST", f"{self.path}/statuses/{sha}", status_body(status))
        if not answer.ok:
            raise refused("set the commit status", answer, "the write:repository scope")

    def commit_url(self, sha: str) -> str:
        return f"{web_url(self.repo)}/commit/{sha}"

    def close(self) -> None:
        self.api.close()
