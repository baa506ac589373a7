"""GitHub's REST API: github.com, GitHub Enterprise Cloud with data residency (<tenant>.ghe.com)
and GitHub Enterprise Server.

Commit statuses: `POST {api}/repos/{owner}/{repo}/statuses/{sha}` with `state`, `description`
(at most 140 characters: GitHub answers 422 beyond), `context`, `target_url`; 201. The token
needs "Commit statuses: write" (fine-grained, GitHub App) or `repo:status` (classic).

Pull requests (the shared client's default shape): `GET …/pulls?state=open&head=<owner>:<branch>
&base=…`, `POST …/pulls` (422 "A pull request already exists for …" when one is open),
`PATCH …/pulls/{n}`, comments on `POST …/issues/{n}/comments`. The token needs "Pull requests:
write" (fine-grained, GitHub App; it covers the comments too) or `repo` (classic).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from wukong_core.git.hosts import HostClient, Repository, origin, owner_path
from wukong_core.git.hosts.http import Api


def api_base(repo: Repository) -> str:
    """api.github.com for github.com, api.<tenant>.ghe.com for <tenant>.ghe.com, else the
    Enterprise Server's <origin>/api/v3."""
    host = (urlsplit(repo.clone_url).hostname or "").lower()
    if host in ("github.com", "www.github.com"):
        return "https://api.github.com"
    if host.endswith(".ghe.com"):
        return f"https://api.{host}"
    return origin(repo.clone_url) + "/api/v3"


class GitHub(HostClient):
    STATUS_NEEDS = '"Commit statuses: write" (repo:status)'
    PULLS_NEED = '"Pull requests: write" (classic: repo)'

    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        super().__init__(repo, Api(api_base(repo), headers, deadline), owner_path(repo))
