"""Gitea's and Forgejo's REST API (v1; Forgejo keeps Gitea's).

Commit statuses: `POST <root>/api/v1/repos/{owner}/{repo}/statuses/{sha}` with `state`
(pending, success, error, failure), `context`, `description`, `target_url`; 201. Auth header
`Authorization: token …`; the token needs the `write:repository` scope and write access to the
repository's code.

Pull requests keep GitHub's paths and fields, with three differences. The list has no head
filter, so the pair is looked up with `GET /repos/{o}/{r}/pulls/{base}/{head}` (Gitea 1.22+),
which selects by branches only: it may answer a closed or merged request of the pair while
another is open, and it cannot take a base with a "/". Then the open requests are listed and
filtered instead. `POST …/pulls` answers 409 "pull request already exists for these targets
[id: 11, issue_id: 30, …]" when one is open, where `issue_id` is the request's number; `PATCH
…/pulls/{n}` answers 201. Comments go to `/issues/{n}/comments`, which needs `write:issue`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from wukong_core.git.hosts import HostClient, PullRequest, Repository, owner_path, root
from wukong_core.git.hosts.http import Answer, Api, refused

_EXISTING = re.compile(r"\bissue_id: (\d+)")
_PAGE = 50  # Gitea's default MAX_RESPONSE_ITEMS
_PAGES = 20  # 1,000 open requests: beyond that, the lookup alone has to do


class Gitea(HostClient):
    STATUS_NEEDS = "the write:repository scope"
    PULLS_NEED = "the write:repository scope"
    COMMENT_NEEDS = "the write:issue scope"

    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        api = Api(root(repo) + "/api/v1", {"Authorization": f"token {token}"}, deadline)
        super().__init__(repo, api, owner_path(repo))

    def find_pull_request(self, head: str, base: str) -> PullRequest | None:
        if "/" not in base:
            path = f"{self.path}/pulls/{quote(base, safe='')}/{quote(head, safe='/')}"
            answer = self.api.call("GET", path)
            if answer.status == 404:
                return None
            if not answer.ok:
                raise refused(f"look up the open {self.KIND}", answer, self.PULLS_NEED)
            data = answer.body if isinstance(answer.body, dict) else {}
            if data.get("state") == "open" and not data.get("merged"):
                return self.pull_request(data)
        # A base with "/", or the lookup found a closed request of the pair: list the open ones.
        for page in range(1, _PAGES + 1):
            query = {"state": "open", "limit": str(_PAGE), "page": str(page)}
            answer = self.api.call("GET", f"{self.path}/pulls", query=query)
            if not answer.ok:
                raise refused(f"list the open {self.KIND}s", answer, self.PULLS_NEED)
            pulls = answer.body if isinstance(answer.body, list) else []
            for pull in pulls:
                if isinstance(pull, dict) and self.pair(pull) == (head, base):
                    return self.pull_request(pull)
            if len(pulls) < _PAGE:
                break
        return None

    def already_open(self, answer: Answer) -> int | None:
        found = _EXISTING.search(answer.message()) if answer.status == 409 else None
        return int(found[1]) if found else None
