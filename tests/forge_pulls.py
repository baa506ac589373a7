"""The fake forge's pull requests (GitLab: merge requests), in each host's documented shapes
(sources: /work/notes/research-14-15.md §2; GitHub's OpenAPI description, GitLab's
lib/api/merge_requests.rb and app/models/merge_request.rb, Gitea's routers/api/v1/repo/pull.go
and models/issues/pull.go).

    GitHub  GET/POST [/api/v3]/repos/{o}/{r}/pulls   ?state=open&head=<owner>:<branch>&base=
            GET/PATCH …/pulls/{n}  (200)             POST …/issues/{n}/comments (201)
            POST answers 422 "A pull request already exists for <owner>:<branch>." when one is
            open; a head without "<owner>:" is ignored by the list, as GitHub ignores it
    GitLab  GET/POST /api/v4/projects/{id}/merge_requests   ?state=&source_branch=&target_branch=
            (the list's state defaults to all), GET/PUT …/merge_requests/{iid} (200,
            state_event: close|reopen), POST …/merge_requests/{iid}/notes (201); POST answers 409
            ["Another open merge request already exists for this source branch: !<iid>"]
    Gitea   GET/POST /api/v1/repos/{o}/{r}/pulls (list: no head filter), GET …/pulls/{n},
            GET …/pulls/{base}/{head}: the pair's request by branches only, whatever its state
            (the lowest number, as a query without ORDER BY tends to answer), PATCH …/pulls/{n}
            (201, sic), POST …/issues/{n}/comments (201); POST answers 409 "pull request already
            exists for these targets [id: …, issue_id: <n>, …]" for an open, unmerged one

With `heads` set (branch -> sha, or None: the test reads its Git server), a request can only be
opened from and into branches that exist, as on the real hosts, and shows its head's sha. A
test merges a request on the Git server itself, then tells the forge so with `merged`.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

Answer = tuple[int, dict[str, str], Any]

_GH = r"^(?:/api/v3)?/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_GL = r"^/api/v4/projects/(?P<project>[^/]+)"
_GT = r"^/api/v1/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
ROUTES = (  # (kind, pattern, {method: handler name}); the first match wins
    ("github", re.compile(_GH + r"/pulls$"), {"GET": "list", "POST": "create"}),
    ("github", re.compile(_GH + r"/pulls/(?P<n>\d+)$"), {"GET": "one", "PATCH": "edit"}),
    ("github", re.compile(_GH + r"/issues/(?P<n>\d+)/comments$"), {"POST": "comment"}),
    ("gitlab", re.compile(_GL + r"/merge_requests$"), {"GET": "list", "POST": "create"}),
    ("gitlab", re.compile(_GL + r"/merge_requests/(?P<n>\d+)$"), {"GET": "one", "PUT": "edit"}),
    ("gitlab", re.compile(_GL + r"/merge_requests/(?P<n>\d+)/notes$"), {"POST": "comment"}),
    ("gitea", re.compile(_GT + r"/pulls$"), {"GET": "list", "POST": "create"}),
    ("gitea", re.compile(_GT + r"/pulls/(?P<n>\d+)$"), {"GET": "one", "PATCH": "edit"}),
    ("gitea", re.compile(_GT + r"/pulls/(?P<base>[^/]+)/(?P<head>.+)$"), {"GET": "pair"}),
    ("gitea", re.compile(_GT + r"/issues/(?P<n>\d+)/comments$"), {"POST": "comment"}),
)
_OPEN = {"github": "open", "gitlab": "opened", "gitea": "open"}


@dataclass
class Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    sha: str = ""
    state: str = "open"  # open | closed | merged, whatever the host calls them


@dataclass
class Pulls:
    """Every repository's requests and comments, as the three hosts keep them."""

    held: dict[tuple[str, str], list[Pull]] = field(default_factory=dict)  # (kind, repo)
    comments: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)
    heads: Callable[[str], str | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    def open(self, kind: str, repo: str) -> list[Pull]:
        """The open requests of `repo` (GitHub, Gitea: owner/name; GitLab: the project)."""
        return [p for p in self.held.get((kind, repo), []) if p.state == "open"]

    def merged(self, kind: str, repo: str, number: int) -> None:
        """The test merged request `number` on the Git server: the host marks it merged."""
        with self.lock:
            self._get(kind, repo, number).state = "merged"

    def answer(self, kind: str, match: re.Match[str], handler: str, query: dict[str, str],
               body: dict[str, Any], origin: str) -> Answer:  # fmt: skip
        groups = match.groupdict()
        repo = unquote(groups["project"]) if kind == "gitlab" else \
            f"{unquote(groups['owner'])}/{unquote(groups['name'])}"  # fmt: skip
        with self.lock:
            return getattr(self, f"_{handler}")(_Call(kind, repo, groups, query, body, origin))

    # --- handlers ---------------------------------------------------------------------------------

    def _list(self, c: _Call) -> Answer:
        pulls = self.held.get((c.kind, c.repo), [])
        state = c.query.get("state", "all" if c.kind == "gitlab" else "open")
        if c.kind == "gitlab":
            wanted = {"opened": "open", "closed": "closed", "merged": "merged"}.get(state)
            pulls = [p for p in pulls if wanted is None or p.state == wanted]
            for key, attr in (("source_branch", "head"), ("target_branch", "base")):
                if key in c.query:
                    pulls = [p for p in pulls if getattr(p, attr) == c.query[key]]
        else:
            if state != "all":
                pulls = [p for p in pulls if (p.state == "open") == (state == "open")]
            owner, _, head = c.query.get("head", "").rpartition(":")
            if c.kind == "github" and owner:  # a bare branch name filters nothing
                pulls = [p for p in pulls if p.head == head and owner == c.repo.split("/")[0]]
            if c.kind == "github" and "base" in c.query:
                pulls = [p for p in pulls if p.base == c.query["base"]]
            if c.kind == "gitea":
                size, page = int(c.query.get("limit", "30")), int(c.query.get("page", "1"))
                pulls = pulls[(page - 1) * size : page * size]
        return 200, {}, [self._shape(c, p) for p in pulls]

    def _one(self, c: _Call) -> Answer:
        pull = self._find(c)
        return (200, {}, self._shape(c, pull)) if pull else _not_found(c.kind)

    def _pair(self, c: _Call) -> Answer:
        base, head = unquote(c.groups["base"]), unquote(c.groups["head"])
        same = [p for p in self.held.get((c.kind, c.repo), []) if (p.head, p.base) == (head, base)]
        return (200, {}, self._shape(c, same[0])) if same else _not_found(c.kind)

    def _create(self, c: _Call) -> Answer:
        b = c.body
        head, base = (b.get("source_branch"), b.get("target_branch")) if c.kind == "gitlab" \
            else (b.get("head"), b.get("base"))  # fmt: skip
        title = b.get("title")
        if not (isinstance(head, str) and isinstance(base, str) and isinstance(title, str)):
            return _invalid(c.kind, "head, base and title are required")
        head = head.rpartition(":")[2]  # "owner:branch" names a branch of this repository
        if head == base:
            return _invalid(c.kind, "same branch")
        sha = self.heads(head) if self.heads else "0" * 40
        if sha is None or (self.heads and self.heads(base) is None):
            return _invalid(c.kind, "no such branch", missing=True)
        for pull in self.open(c.kind, c.repo):
            if (pull.head, pull.base) == (head, base):
                return _exists(c, pull)
        pulls = self.held.setdefault((c.kind, c.repo), [])
        text = b.get("description" if c.kind == "gitlab" else "body") or ""
        pull = Pull(len(pulls) + 1, head, base, title, text, sha)
        pulls.append(pull)
        return 201, {}, self._shape(c, pull)

    def _edit(self, c: _Call) -> Answer:
        pull = self._find(c)
        if pull is None:
            return _not_found(c.kind)
        b = c.body
        if isinstance(b.get("title"), str):
            pull.title = b["title"]
        text = b.get("description" if c.kind == "gitlab" else "body")
        if isinstance(text, str):
            pull.body = text
        event = b.get("state_event") if c.kind == "gitlab" else \
            {"closed": "close", "open": "reopen"}.get(b.get("state", ""))  # fmt: skip
        if event and pull.state == "merged":
            if c.kind == "gitea":
                said = "cannot change state of this pull request, it was already merged"
                return 412, {}, {"message": said, "url": "/api/swagger"}
            return _invalid(c.kind, "merged")
        if event == "close":
            pull.state = "closed"
        elif event == "reopen":
            pull.state = "open"
        return (201 if c.kind == "gitea" else 200), {}, self._shape(c, pull)

    def _comment(self, c: _Call) -> Answer:
        pull = self._find(c)
        text = c.body.get("body")
        if pull is None:
            return _not_found(c.kind)
        if not isinstance(text, str) or not text:
            return _invalid(c.kind, "body is required")
        said = self.comments.setdefault((c.kind, c.repo, pull.number), [])
        said.append(text)
        shape = {"id": next(self.ids), "body": text, "created_at": "2026-01-01T00:00:00Z"}
        if c.kind == "gitlab":
            shape |= {"noteable_type": "MergeRequest", "noteable_iid": pull.number,
                      "system": False}  # fmt: skip
        else:
            shape["html_url"] = f"{self._page(c, pull)}#issuecomment-{shape['id']}"
        return 201, {}, shape

    # --- shapes -----------------------------------------------------------------------------------

    def _find(self, c: _Call) -> Pull | None:
        number = int(c.groups["n"])
        return next((p for p in self.held.get((c.kind, c.repo), []) if p.number == number), None)

    def _get(self, kind: str, repo: str, number: int) -> Pull:
        return next(p for p in self.held[kind, repo] if p.number == number)

    def _page(self, c: _Call, pull: Pull) -> str:
        if c.kind == "gitlab":
            return f"{c.origin}/{c.repo}/-/merge_requests/{pull.number}"
        return f"{c.origin}/{c.repo}/{'pull' if c.kind == 'github' else 'pulls'}/{pull.number}"

    def _shape(self, c: _Call, pull: Pull) -> dict[str, Any]:
        sha = (self.heads(pull.head) if self.heads else None) or pull.sha
        if c.kind == "gitlab":
            state = "opened" if pull.state == "open" else pull.state
            return {"id": 9000 + pull.number, "iid": pull.number, "project_id": c.repo,
                    "title": pull.title, "description": pull.body, "state": state,
                    "source_branch": pull.head, "target_branch": pull.base, "sha": sha,
                    "web_url": self._page(c, pull)}  # fmt: skip
        owner = c.repo.split("/")[0]
        return {"id": 5000 + pull.number, "number": pull.number, "title": pull.title,
                "body": pull.body, "state": "open" if pull.state == "open" else "closed",
                "merged": pull.state == "merged", "html_url": self._page(c, pull),
                "head": {"ref": pull.head, "sha": sha, "label": f"{owner}:{pull.head}"},
                "base": {"ref": pull.base, "label": f"{owner}:{pull.base}"}}  # fmt: skip


@dataclass(frozen=True)
class _Call:
    kind: str
    repo: str
    groups: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    origin: str  # scheme://host of the API, where its web pages live too


def _not_found(kind: str) -> Answer:
    if kind == "gitlab":
        return 404, {}, {"message": "404 Not found"}
    if kind == "gitea":
        return 404, {}, {"message": "The target couldn't be found.", "url": "/api/swagger"}
    return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest",
                     "status": "404"}  # fmt: skip


def _invalid(kind: str, what: str, missing: bool = False) -> Answer:
    if kind == "gitlab":
        return 422, {}, {"message": [f"Validation failed: {what}"]}
    if kind == "gitea":
        if missing:
            return _not_found(kind)
        return 422, {}, {"message": f"Invalid PullRequest: {what}", "url": "/api/swagger"}
    error = {"resource": "PullRequest", "code": "invalid", "field": "head"}
    return 422, {}, {"message": "Validation Failed", "errors": [error], "status": "422"}


def _exists(c: _Call, pull: Pull) -> Answer:
    if c.kind == "gitlab":
        said = f"Another open merge request already exists for this source branch: !{pull.number}"
        return 409, {}, {"message": [said]}
    if c.kind == "gitea":
        said = (f"pull request already exists for these targets [id: {5000 + pull.number}, "
                f"issue_id: {pull.number}, head_repo_id: 5, base_repo_id: 5, head_branch: "
                f"{pull.head}, base_branch: {pull.base}]")  # fmt: skip
        return 409, {}, {"message": said, "url": "/api/swagger"}
    owner = c.repo.split("/")[0]
    error = {"resource": "PullRequest", "code": "custom",
             "message": f"A pull request already exists for {owner}:{pull.head}."}  # fmt: skip
    docs = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
    return 422, {}, {"message": "Validation Failed", "errors": [error], "documentation_url": docs,
                     "status": "422"}  # fmt: skip
