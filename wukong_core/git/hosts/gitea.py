"""Gitea's and Forgejo's REST API (v1; Forgejo keeps Gitea's).

Commit statuses: `POST <root>/api/v1/repos/{owner}/{repo}/statuses/{sha}` with `state`
(pending, success, error, failure), `context`, `description`, `target_url`; 201. Auth header
`Authorization: token …`; the token needs the `write:repository` scope and write access to the
repository's code.
"""

from __future__ import annotations

from wukong_core.git.hosts import HostClient, Repository, owner_path, root
from wukong_core.git.hosts.http import Api


class Gitea(HostClient):
    STATUS_NEEDS = "the write:repository scope"

    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        api = Api(root(repo) + "/api/v1", {"Authorization": f"token {token}"}, deadline)
        super().__init__(repo, api, owner_path(repo))
