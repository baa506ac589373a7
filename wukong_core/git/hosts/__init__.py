"""The Git hosts' APIs: one small client per host behind one Protocol (README, Commit statuses).

    GitHub          github.py   api.github.com, api.<tenant>.ghe.com, or <origin>/api/v3 (GHES)
    GitLab          gitlab.py   <root>/api/v4, the project by its URL-encoded full path
    Gitea, Forgejo  gitea.py    <root>/api/v1

Two jobs: the commit status on a pushed commit, and, in pull-request mode, the one open
pull request (GitLab: merge request) from Wukong's bot branch: find it, open it (or update the
one the host says is open already), update its title and body, comment on it, close it.
GitHub's shape is the default here; Gitea keeps GitHub's paths, GitLab has its own.

The API's address and the repository's path in it are derived from the repository's clone
URL, the one WUKONG_ALLOWED_REPOS admitted, never from other URLs or ids in a payload: the
token goes only to the host Wukong already fetches from, and only for that repository (the
payload's name must be the URL's: git/webhooks.py `repository_path`). `<root>` is the clone
URL without `/<owner>/<name>.git`, so a GitLab or Gitea served under a path prefix works. A
host client is cheap to make (no I/O until a call), holds one connection pool, and bounds
every call by the delivery's deadline (http.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from wukong_core.errors import UsageError
from wukong_core.git.hosts.http import Answer, Api, refused

State = Literal["pending", "success", "failure", "error"]


@dataclass(frozen=True)
class Repository:
    """A repository as a host's API knows it, from the push that named it."""

    provider: str  # github | gitlab | gitea | forgejo
    clone_url: str  # the allow-listed HTTP(S) clone URL; the API's origin comes from it
    name: str  # owner/name (GitLab: the full path): the clone URL's last path segments
    web_url: str = ""  # the repository's page; "" -> the clone URL without .git


@dataclass(frozen=True)
class CommitStatus:
    state: State
    description: str  # at most 140 characters (GitHub answers 422 beyond)
    context: str = "wukong/render"
    target_url: str = ""


@dataclass(frozen=True)
class PullRequest:
    """An open pull request (GitLab: merge request), as Wukong reads and writes it."""

    number: int  # GitHub's and Gitea's number, GitLab's iid: what the API's paths take
    url: str  # its page in the web UI
    title: str = ""
    body: str = ""


class GitHost(Protocol):
    """What Wukong asks of a Git host; every method is one documented API call (or two).
    Each raises HostError when the host refuses or does not answer."""

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        """Set `status` on commit `sha` of branch `ref`."""
        ...

    def commit_url(self, sha: str) -> str:
        """The commit's page in the host's web UI."""
        ...

    def find_pull_request(self, head: str, base: str) -> PullRequest | None:
        """The open request from branch `head` into `base`, or None."""
        ...

    def open_pull_request(self, head: str, base: str, title: str, body: str
                          ) -> tuple[PullRequest, bool]:  # fmt: skip
        """Open `head` -> `base`; when the host answers that one is open already, update that
        one instead. The request, and whether it is new."""
        ...

    def update_pull_request(self, number: int, title: str, body: str) -> PullRequest: ...

    def comment(self, number: int, text: str) -> None: ...

    def close_pull_request(self, number: int, comment: str) -> None:
        """Say why on the request, then close it."""
        ...

    def ref(self, number: int) -> str:
        """How the web UI names a request: #12 (GitLab: !12)."""
        ...

    def close(self) -> None: ...


class HostClient:
    """What every host's client shares: its API, the status call, commit links.

    A host sets where its API lives (`api`), how a repository's paths start (`path`), the
    JSON of a status (`status_body`), what a token needs to set one (`STATUS_NEEDS`) and its
    web UI's commit path (`COMMIT_PATH`)."""

    STATUS_NEEDS = ""
    COMMIT_PATH = "/commit/"

    def __init__(self, repo: Repository, api: Api, path: str) -> None:
        root(repo)  # UsageError unless the clone URL names this very repository
        self.repo, self.api, self.path = repo, api, path

    def status_body(self, ref: str, status: CommitStatus) -> dict[str, str]:
        body = {"state": status.state, "description": status.description,
                "context": status.context}  # fmt: skip
        if status.target_url:
            body["target_url"] = status.target_url
        return body

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        answer = self.api.call("POST", f"{self.path}/statuses/{sha}", self.status_body(ref, status))
        if not answer.ok and not self.already(answer):
            raise refused("set the commit status", answer, self.STATUS_NEEDS)

    def already(self, answer: Answer) -> bool:
        """Does this refusal mean the commit already has the status asked for?"""
        return False

    def commit_url(self, sha: str) -> str:
        return f"{web_url(self.repo)}{self.COMMIT_PATH}{sha}"

    # --- pull requests, as GitHub shapes them (Gitea keeps the shape) ------------------------

    KIND = "pull request"  # GitLab: merge request
    PULLS = "pulls"  # the collection's path
    NUMBER, URL, BODY = "number", "html_url", "body"  # a request's fields
    PULLS_NEED = ""  # what a token needs to open, update and close a request
    COMMENT_NEEDS = ""  # ... and to comment on one ("": the same)
    UPDATE_METHOD = "PATCH"
    CLOSING = {"state": "closed"}

    def find_pull_request(self, head: str, base: str) -> PullRequest | None:
        owner = self.repo.name.split("/", 1)[0]
        # `head` must be owner:branch: GitHub ignores a bare branch name and lists every PR.
        query = {"state": "open", "head": f"{owner}:{head}", "base": base, "per_page": "100"}
        return self._find(query, head, base)

    def _find(self, query: dict[str, str], head: str, base: str) -> PullRequest | None:
        answer = self.api.call("GET", f"{self.path}/{self.PULLS}", query=query)
        if not answer.ok:
            raise refused(f"look up the open {self.KIND}", answer, self.PULLS_NEED)
        listed = answer.body if isinstance(answer.body, list) else []
        found = [p for p in listed if isinstance(p, dict) and self.pair(p) == (head, base)]
        return self.pull_request(found[0]) if found else None

    def pair(self, pull: dict[str, Any]) -> tuple[str, str]:
        """A listed request's (head, base) branches."""
        return pull_branch(pull, "head"), pull_branch(pull, "base")

    def open_pull_request(self, head: str, base: str, title: str, body: str
                          ) -> tuple[PullRequest, bool]:  # fmt: skip
        fields = self.new_pull(head, base) | {"title": title, self.BODY: body}
        answer = self.api.call("POST", f"{self.path}/{self.PULLS}", fields)
        if answer.ok:
            return self.pull_request(answer.body), True
        number = self.already_open(answer)
        if number == 0:  # the host said so without naming it
            found = self.find_pull_request(head, base)
            number = found.number if found else None
        if number is None:
            raise refused(f"open the {self.KIND}", answer, self.PULLS_NEED)
        return self.update_pull_request(number, title, body), False

    def new_pull(self, head: str, base: str) -> dict[str, str]:
        return {"head": head, "base": base}

    def already_open(self, answer: Answer) -> int | None:
        """Does this refusal say the request is open already? Its number (0: not named), or
        None when it says something else. GitHub: 422 "A pull request already exists for
        owner:branch." (in `errors`), naming no number."""
        return 0 if answer.status == 422 and "already exists" in answer.message() else None

    def update_pull_request(self, number: int, title: str, body: str) -> PullRequest:
        answer = self._edit(number, {"title": title, self.BODY: body})
        if not answer.ok:
            raise refused(f"update {self.KIND} {self.ref(number)}", answer, self.PULLS_NEED)
        return self.pull_request(answer.body)

    def comment(self, number: int, text: str) -> None:
        answer = self.api.call("POST", self.comments_path(number), {"body": text})
        if not answer.ok:
            needs = self.COMMENT_NEEDS or self.PULLS_NEED
            raise refused(f"comment on {self.KIND} {self.ref(number)}", answer, needs)

    def close_pull_request(self, number: int, comment: str) -> None:
        self.comment(number, comment)
        answer = self._edit(number, self.CLOSING)
        if not answer.ok:
            raise refused(f"close {self.KIND} {self.ref(number)}", answer, self.PULLS_NEED)

    def _edit(self, number: int, fields: dict[str, str]) -> Answer:
        return self.api.call(self.UPDATE_METHOD, f"{self.path}/{self.PULLS}/{number}", fields)

    def comments_path(self, number: int) -> str:
        return f"{self.path}/issues/{number}/comments"  # a pull request is an issue with code

    def pull_request(self, data: Any) -> PullRequest:
        got = data if isinstance(data, dict) else {}
        number, url = got.get(self.NUMBER), got.get(self.URL)
        return PullRequest(number if isinstance(number, int) else 0, str(url or ""),
                           str(got.get("title") or ""), str(got.get(self.BODY) or ""))  # fmt: skip

    def ref(self, number: int) -> str:
        return f"#{number}"

    def close(self) -> None:
        self.api.close()


def pull_branch(pull: dict[str, Any], side: str) -> str:
    """The branch of a GitHub-shaped request's `head` or `base`."""
    branch = pull.get(side)
    return str(branch.get("ref") or "") if isinstance(branch, dict) else ""


def open_host(repo: Repository, token: str, deadline: float) -> GitHost:
    """The client of `repo`'s host, authenticated with `token`, bounded by `deadline`
    (time.monotonic)."""
    if repo.provider == "github":
        from wukong_core.git.hosts.github import GitHub

        return GitHub(repo, token, deadline)
    if repo.provider == "gitlab":
        from wukong_core.git.hosts.gitlab import GitLab

        return GitLab(repo, token, deadline)
    if repo.provider in ("gitea", "forgejo"):
        from wukong_core.git.hosts.gitea import Gitea

        return Gitea(repo, token, deadline)
    raise UsageError(f"no API client for Git host {repo.provider!r}")


def owner_path(repo: Repository) -> str:
    """`/repos/{owner}/{name}`, each part URL-encoded (GitHub, Gitea)."""
    return "/repos/" + "/".join(quote(part, safe="") for part in repo.name.split("/", 1))


def origin(url: str) -> str:
    """scheme://host[:port] of `url`, without userinfo."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower(), "", "", ""))


def root(repo: Repository) -> str:
    """Where the host is served: the clone URL without `/<name>.git` (a path prefix stays).
    UsageError when the clone URL does not end in the name: the API would be another
    repository's."""
    parts = urlsplit(repo.clone_url)
    path = parts.path.rstrip("/").removesuffix(".git")
    suffix = "/" + repo.name.strip("/")
    if not path.lower().endswith(suffix.lower()):
        raise UsageError(f"repository {repo.name!r} is not the one its clone URL names")
    return origin(repo.clone_url) + path[: -len(suffix)]


def web_url(repo: Repository) -> str:
    """The repository's page: the payload's, else the clone URL without `.git`."""
    if repo.web_url.lower().startswith(("https://", "http://")):
        return repo.web_url.rstrip("/")
    parts = urlsplit(repo.clone_url)
    path = parts.path.rstrip("/").removesuffix(".git")
    return origin(repo.clone_url) + path
