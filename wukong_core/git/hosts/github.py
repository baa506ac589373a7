"""GitHub's REST API: github.com, GitHub Enterprise Cloud with data residency (<tenant>.ghe.com)
and GitHub Enterprise Server.

Commit statuses: `POST {api}/repos/{owner}/{repo}/statuses/{sha}` with `state`, `description`
(at most 140 characters: GitHub answers 422 beyond), `context`, `target_url`; 201. The token
needs "Commit statuses: write" (fine-grained, GitHub App) or `repo:status` (classic).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from wukong_core.git.hosts import CommitStatus, Repository, origin, owner_path, status_body, web_url
from wukong_core.git.hosts.http import Api, refused


def api_base(repo: Repository) -> str:
    """api.github.com for github.com, api.<tenant>.ghe.com for <tenant>.ghe.com, else the
    Enterprise Server's <origin>/api/v3."""
    host = (urlsplit(repo.clone_url).hostname or "").lower()
    if host in ("github.com", "www.github.com"):
        return "https://api.github.com"
    if host.endswith(".ghe.com"):
        return f"https://api.{host}"
    return origin(repo.clone_url) + "/api/v3"


class GitHub:
    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        self.repo = repo
        self.path = owner_path(repo)
        self.api = Api(
            api_base(repo),
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            deadline,
        )

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        answer = self.api.call("POST", f"{self.path}/statuses/{sha}", status_body(status))
        if not answer.ok:
            raise refused("set the commit status", answer, '"Commit statuses: write" (repo:status)')

    def commit_url(self, sha: str) -> str:
        return f"{web_url(self.repo)}/commit/{sha}"

    def close(self) -> None:
        self.api.close()
