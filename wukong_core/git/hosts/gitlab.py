"""GitLab's REST API (v4), gitlab.com or self-managed, also under a path prefix.

The project `:id` is its URL-encoded full path (`team%2Fvms`): a reverse proxy in front of
GitLab must pass `%2F` on undecoded (Apache: `AllowEncodedSlashes NoDecode`).

Commit statuses: `POST <root>/api/v4/projects/:id/statuses/:sha` with `state` (pending, running,
success, failed, canceled: no `error`, so both failure and error are `failed`), `name`, `ref`,
`description`, `target_url` (each at most 255 characters); 201. Posting the pending or running
state a commit already has for that name and ref is answered 400 "Cannot transition status via
…": the status is already what was asked, so that is no failure. The token (`PRIVATE-TOKEN`)
needs the `api` scope and the Developer role.

Merge requests, by iid (the project's own number): `GET …/merge_requests?state=opened&
source_branch=…&target_branch=…` (without `state` GitLab lists all), `POST …/merge_requests`
(409 "Another open merge request already exists for this source branch: !12" when one is
open), `PUT …/merge_requests/:iid` with `title`, `description` or `state_event: close`,
comments on `POST …/merge_requests/:iid/notes`. The same `api` scope and Developer role.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from wukong_core.git.hosts import CommitStatus, HostClient, PullRequest, Repository, root
from wukong_core.git.hosts.http import Answer, Api

_STATES = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}
_LIMIT = 255
_EXISTING = re.compile(r"already exists for this source branch: !(\d+)")


class GitLab(HostClient):
    STATUS_NEEDS = "the api scope and the Developer role"
    COMMIT_PATH = "/-/commit/"
    KIND, PULLS, PULLS_NEED = "merge request", "merge_requests", STATUS_NEEDS
    NUMBER, URL, BODY = "iid", "web_url", "description"
    UPDATE_METHOD = "PUT"
    CLOSING = {"state_event": "close"}

    def __init__(self, repo: Repository, token: str, deadline: float) -> None:
        # `:id` as the URL-encoded full path (documented beside the numeric id), which the
        # clone URL vouches for; the payload's numeric `project.id` could name any project.
        project = quote(repo.name, safe="")
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

    def find_pull_request(self, head: str, base: str) -> PullRequest | None:
        # Without `state`, GitLab lists merged and closed requests too.
        query = {"state": "opened", "source_branch": head, "target_branch": base}
        return self._find(query, head, base)

    def pair(self, pull: dict[str, Any]) -> tuple[str, str]:
        return str(pull.get("source_branch")), str(pull.get("target_branch"))

    def new_pull(self, head: str, base: str) -> dict[str, str]:
        return {"source_branch": head, "target_branch": base}

    def already_open(self, answer: Answer) -> int | None:
        found = _EXISTING.search(answer.message()) if answer.status == 409 else None
        return int(found[1]) if found else None

    def comments_path(self, number: int) -> str:
        return f"{self.path}/merge_requests/{number}/notes"

    def ref(self, number: int) -> str:
        return f"!{number}"
