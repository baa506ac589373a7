"""The Git hosts' APIs: one small client per host behind one Protocol (README, Commit statuses).

    GitHub          github.py   api.github.com, api.<tenant>.ghe.com, or <origin>/api/v3 (GHES)
    GitLab          gitlab.py   <root>/api/v4, the project by id (or its URL-encoded path)
    Gitea, Forgejo  gitea.py    <root>/api/v1

The API's address is derived from the repository's clone URL, the one WUKONG_ALLOWED_REPOS
admitted, never from other URLs in a payload: the token goes only to the host Wukong already
fetches from. `<root>` is the clone URL without `/<owner>/<name>.git`, so a GitLab or Gitea
served under a path prefix works. A host client is cheap to make (no I/O until a call), holds
one connection pool, and bounds every call by the delivery's deadline (http.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from wukong_core.errors import UsageError
from wukong_core.git.hosts.http import Answer, Api, refused

State = Literal["pending", "success", "failure", "error"]


@dataclass(frozen=True)
class Repository:
    """A repository as a host's API knows it, from the push that named it."""

    provider: str  # github | gitlab | gitea | forgejo
    clone_url: str  # the allow-listed HTTP(S) clone URL; the API's origin comes from it
    name: str  # owner/name, or GitLab's path_with_namespace
    project_id: str = ""  # GitLab's numeric project id, when the payload has it
    web_url: str = ""  # the repository's page; "" -> the clone URL without .git


@dataclass(frozen=True)
class CommitStatus:
    state: State
    description: str  # at most 140 characters (GitHub answers 422 beyond)
    context: str = "wukong/render"
    target_url: str = ""


class GitHost(Protocol):
    """What Wukong asks of a Git host; every method is one documented API call (or two)."""

    def set_status(self, sha: str, ref: str, status: CommitStatus) -> None:
        """Set `status` on commit `sha` of branch `ref`; HostError when the host refuses."""
        ...

    def commit_url(self, sha: str) -> str:
        """The commit's page in the host's web UI."""
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

    def close(self) -> None:
        self.api.close()


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
    """Where the host is served: the clone URL without `/<name>.git` (a path prefix stays),
    else its origin."""
    parts = urlsplit(repo.clone_url)
    path = parts.path.rstrip("/").removesuffix(".git")
    suffix = "/" + repo.name.strip("/")
    prefix = path[: -len(suffix)] if path.lower().endswith(suffix.lower()) else ""
    return origin(repo.clone_url) + prefix


def web_url(repo: Repository) -> str:
    """The repository's page: the payload's, else the clone URL without `.git`."""
    if repo.web_url.lower().startswith(("https://", "http://")):
        return repo.web_url.rstrip("/")
    parts = urlsplit(repo.clone_url)
    path = parts.path.rstrip("/").removesuffix(".git")
    return origin(repo.clone_url) + path
