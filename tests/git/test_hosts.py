"""The Git hosts' API clients: one behavioural suite, run against every host (GitHub, GitLab,
Gitea, Forgejo) on the fake forge (tests/forge.py), plus where each host's API lives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.forge import TOKEN, Forge, serve_forge
from wukong_core.errors import HostError, UsageError
from wukong_core.git.hosts import CommitStatus, GitHost, Repository, open_host, root, web_url
from wukong_core.git.hosts.github import api_base

SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


@dataclass
class Host:
    """One host implementation behind the Protocol, and how the forge sees its calls."""

    provider: str
    kind: str  # the forge's name for the API: github | gitlab | gitea
    forge: Forge
    repo: Repository
    path: str  # the status URL's path on the forge
    held: str  # the repository key the forge stores statuses under

    def client(self, token: str = TOKEN, seconds: float = 5.0) -> GitHost:
        return open_host(self.repo, token, time.monotonic() + seconds)

    def state(self, wukong_state: str) -> str:
        """The host's word for a Wukong state: GitLab has no `error` (README)."""
        return {"failure": "failed", "error": "failed"}.get(wukong_state, wukong_state) \
            if self.kind == "gitlab" else wukong_state  # fmt: skip


HOSTS = {
    "github": ("github", "/api/v3/repos/team/vms/statuses/", "team/vms"),
    "gitlab": ("gitlab", "/api/v4/projects/team%2Fvms/statuses/", "team/vms"),
    "gitea": ("gitea", "/api/v1/repos/team/vms/statuses/", "team/vms"),
    "forgejo": ("gitea", "/api/v1/repos/team/vms/statuses/", "team/vms"),
}


@pytest.fixture(params=sorted(HOSTS))
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    kind, path, held = HOSTS[request.param]
    with serve_forge() as (forge, url):
        repo = Repository(request.param, f"{url}/team/vms.git", "team/vms", f"{url}/team/vms")
        yield Host(request.param, kind, forge, repo, path + SHA, held)


@pytest.mark.parametrize("state", ["pending", "success", "failure", "error"])
def test_a_status_reaches_the_documented_url_with_the_host_s_fields(host: Host, state) -> None:
    client = host.client()
    status = CommitStatus(state, "rendered 3 VMs in 1a2b3c4", target_url="https://x.test/c/1")
    client.set_status(SHA, "main", status)
    [call] = host.forge.calls()
    assert (call.method, call.path) == ("POST", host.path)
    assert call.body["description"] == "rendered 3 VMs in 1a2b3c4"
    assert call.body["target_url"] == "https://x.test/c/1"
    assert call.body["state"] == host.state(state)
    held = host.forge.latest(host.kind, host.held, SHA)
    assert held is not None
    assert held.get("context", held.get("name")) == "wukong/render"
    if host.kind == "gitlab":
        assert (call.body["name"], call.body["ref"]) == ("wukong/render", "main")
    else:
        assert call.body["context"] == "wukong/render"


def test_each_host_gets_its_own_auth_header(host: Host) -> None:
    host.client().set_status(SHA, "main", CommitStatus("success", "no change"))
    headers = {k.lower(): v for k, v in host.forge.calls()[0].headers.items()}
    expected = {"github": ("authorization", f"Bearer {TOKEN}"),
                "gitlab": ("private-token", TOKEN),
                "gitea": ("authorization", f"token {TOKEN}")}[host.kind]  # fmt: skip
    assert headers[expected[0]] == expected[1]
    if host.kind == "github":
        assert headers["x-github-api-version"] == "2022-11-28"
        assert headers["accept"] == "application/vnd.github+json"


def test_posting_the_same_pending_status_twice_is_no_failure(host: Host) -> None:
    """GitLab answers the second one 400 "Cannot transition status": already so, no error."""
    client = host.client()
    for _ in range(2):
        client.set_status(SHA, "main", CommitStatus("pending", "rendering"))
    answers = len(host.forge.statuses[host.kind, host.held, SHA])
    assert answers == (1 if host.kind == "gitlab" else 2)


def test_a_refused_token_is_an_error_naming_what_the_token_needs(host: Host) -> None:
    with pytest.raises(HostError) as caught:
        host.client(token="not-the-token").set_status(SHA, "main", CommitStatus("success", "x"))
    assert caught.value.status == 401
    assert "the token needs" in str(caught.value)
    assert "not-the-token" not in str(caught.value)


def test_a_forbidden_call_says_which_right_is_missing(host: Host) -> None:
    said = {"github": {"message": "Resource not accessible by personal access token"},
            "gitlab": {"error": "insufficient_scope", "scope": "api",
                       "error_description": "The request requires higher privileges than "
                                            "provided by the access token."},
            "gitea": {"message": "token does not have at least one of required scope(s): "
                                 "[write:repository]"}}[host.kind]  # fmt: skip
    accepted = {"X-Accepted-GitHub-Permissions": "statuses=write"} if host.kind == "github" else {}
    host.forge.fail("/statuses/", 403, said, headers=accepted)
    with pytest.raises(HostError) as caught:
        host.client().set_status(SHA, "main", CommitStatus("success", "x"))
    text = str(caught.value)
    assert caught.value.status == 403
    needs = {"github": "Commit statuses: write", "gitlab": "api scope",
             "gitea": "write:repository"}[host.kind]  # fmt: skip
    assert needs in text
    assert not caught.value.retryable
    if host.kind == "github":
        assert "(GitHub accepts: statuses=write)" in text


@pytest.mark.parametrize("status", [403, 429])
@pytest.mark.parametrize("secondary", [False, True], ids=["primary", "secondary"])
def test_a_github_rate_limit_may_pass_and_blames_no_token(status: int, secondary: bool) -> None:
    """GitHub answers a rate limit 403 or 429: a retry later cures it, no right is missing."""
    with serve_forge() as (forge, url):
        forge.rate_limit("/statuses/", secondary, status)
        repo = Repository("github", f"{url}/team/vms.git", "team/vms", f"{url}/team/vms")
        with pytest.raises(HostError) as caught:
            open_host(repo, TOKEN, time.monotonic() + 5).set_status(
                SHA, "main", CommitStatus("success", "x")
            )
    error = caught.value
    assert error.retryable
    assert "needs" not in str(error) and "needs" not in error.summary
    wait = "retry after 60 s" if secondary else "retry once it resets"
    assert error.summary == f"could not set the commit status (HTTP {status}): the API's rate " \
        f"limit; {wait}"  # fmt: skip


def test_a_description_over_140_characters_is_refused_by_github_only(host: Host) -> None:
    long = CommitStatus("failure", "x" * 141)
    if host.kind == "github":
        with pytest.raises(HostError, match="description is too long"):
            host.client().set_status(SHA, "main", long)
    else:
        host.client().set_status(SHA, "main", long)


def test_a_server_error_and_a_hung_api_are_errors_within_the_deadline(host: Host) -> None:
    host.forge.fail("/statuses/", 502, None, times=1)
    with pytest.raises(HostError) as caught:
        host.client().set_status(SHA, "main", CommitStatus("success", "x"))
    assert caught.value.status == 502
    host.forge.delay = 2.0
    started = time.monotonic()
    with pytest.raises(HostError, match="did not answer in time"):
        host.client(seconds=0.5).set_status(SHA, "main", CommitStatus("success", "x"))
    assert time.monotonic() - started < 1.5


def test_a_commit_links_to_the_host_s_web_ui(host: Host) -> None:
    link = host.client().commit_url(SHA)
    web = host.repo.web_url
    assert link == (f"{web}/-/commit/{SHA}" if host.kind == "gitlab" else f"{web}/commit/{SHA}")


# --- where each host's API lives ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("clone_url", "name", "api"),
    [
        ("https://github.com/Codertocat/Hello-World.git", "Codertocat/Hello-World",
         "https://api.github.com"),
        ("https://acme.ghe.com/platform/vms.git", "platform/vms", "https://api.acme.ghe.com"),
        ("https://ghe.example.com/platform/vms.git", "platform/vms",
         "https://ghe.example.com/api/v3"),
        ("https://x-access-token:secret@GHE.example.com:8443/platform/vms.git", "platform/vms",
         "https://ghe.example.com:8443/api/v3"),
    ],
)  # fmt: skip
def test_github_s_api_for_github_com_ghe_com_and_enterprise_server(clone_url, name, api) -> None:
    assert api_base(Repository("github", clone_url, name)) == api


@pytest.mark.parametrize(
    ("clone_url", "name", "served_at"),
    [
        ("http://example.com/mike/diaspora.git", "mike/diaspora", "http://example.com"),
        ("https://example.com/gitlab/group/sub/app.git", "group/sub/app",
         "https://example.com/gitlab"),
        ("http://localhost:3000/gitea/webhooks.git", "gitea/webhooks", "http://localhost:3000"),
    ],
)  # fmt: skip
def test_a_host_under_a_path_prefix_keeps_it(clone_url, name, served_at) -> None:
    assert root(Repository("gitlab", clone_url, name)) == served_at


@pytest.mark.parametrize("kind", sorted(HOSTS))
def test_no_call_goes_to_a_repository_the_clone_url_does_not_name(kind) -> None:
    """The API's repository is the clone URL's, never only a name (or GitLab id) beside it."""
    repo = Repository(kind, "https://git.example.com/other/path.git", "team/vms")
    with pytest.raises(UsageError, match="not the one its clone URL names"):
        open_host(repo, TOKEN, time.monotonic() + 5)


def test_the_web_ui_is_the_payload_s_page_else_the_clone_url() -> None:
    page = Repository("gitea", "http://h/o/r.git", "o/r", web_url="http://h/o/r/")
    assert web_url(page) == "http://h/o/r"
    assert web_url(Repository("gitea", "http://u:p@h/o/r.git", "o/r")) == "http://h/o/r"


# --- pull requests (GitLab: merge requests) -----------------------------------------------------

BOT = "wukong/render-main"


def test_an_open_request_is_found_opened_and_then_found(host: Host) -> None:
    client = host.client()
    assert client.find_pull_request(BOT, "main") is None
    opened, new = client.open_pull_request(BOT, "main", "wukong: render 2 VMs", "the body")
    assert new and opened.number == 1 and opened.title == "wukong: render 2 VMs"
    page = {"github": "/team/vms/pull/1", "gitlab": "/team/vms/-/merge_requests/1",
            "gitea": "/team/vms/pulls/1"}[host.kind]  # fmt: skip
    assert opened.url.endswith(page)
    assert client.find_pull_request(BOT, "main") == opened
    assert client.find_pull_request(BOT, "release") is None
    [create] = [c for c in host.forge.calls() if c.method == "POST"]
    fields = {"github": ("head", "base", "body"), "gitea": ("head", "base", "body"),
              "gitlab": ("source_branch", "target_branch", "description")}[host.kind]  # fmt: skip
    assert [create.body[f] for f in fields] == [BOT, "main", "the body"]
    if host.kind == "github":  # GitHub ignores a head without its owner and lists every PR
        lookups = [c.query for c in host.forge.calls() if c.method == "GET"]
        assert {"head": f"team:{BOT}", "base": "main", "state": "open"}.items() <= \
            lookups[0].items()  # fmt: skip
    if host.kind == "gitlab":  # GitLab lists merged and closed ones without a state
        assert host.forge.calls()[0].query["state"] == "opened"


def test_opening_one_that_is_open_already_updates_it(host: Host) -> None:
    """GitHub 422 "already exists", GitLab 409 "!iid", Gitea 409 "issue_id": one request."""
    client = host.client()
    first, _ = client.open_pull_request(BOT, "main", "first", "old body")
    again, new = client.open_pull_request(BOT, "main", "second", "new body")
    assert not new
    assert (again.number, again.title, again.body) == (first.number, "second", "new body")
    assert len(host.forge.pulls.open(host.kind, host.held)) == 1


def test_closing_says_why_then_closes(host: Host) -> None:
    client = host.client()
    opened, _ = client.open_pull_request(BOT, "main", "t", "b")
    updated = client.update_pull_request(opened.number, "t2", "b2")
    assert (updated.title, updated.body) == ("t2", "b2")
    client.close_pull_request(opened.number, "nothing left to render")
    assert host.forge.pulls.comments[host.kind, host.held, opened.number] == [
        "nothing left to render"
    ]
    assert host.forge.pulls.open(host.kind, host.held) == []
    assert client.find_pull_request(BOT, "main") is None
    close = [c for c in host.forge.calls() if c.method in ("PATCH", "PUT")][-1]
    assert close.body == ({"state_event": "close"} if host.kind == "gitlab"
                          else {"state": "closed"})  # fmt: skip


@pytest.mark.parametrize("base", ["main", "release/1.2"])
def test_a_merged_request_is_not_the_open_one(host: Host, base: str) -> None:
    """Gitea's lookup by branches may answer the merged request of the pair (and cannot take a
    base with "/"): the open one is then found in the list."""
    client = host.client()
    merged, _ = client.open_pull_request(BOT, base, "merged one", "b")
    host.forge.pulls.merged(host.kind, host.held, merged.number)
    assert client.find_pull_request(BOT, base) is None
    opened, new = client.open_pull_request(BOT, base, "open one", "b")
    assert new and opened.number == merged.number + 1
    assert client.find_pull_request(BOT, base) == opened


def test_a_refused_pull_request_call_names_the_missing_scope(host: Host) -> None:
    said = {"github": {"message": "Resource not accessible by personal access token"},
            "gitlab": {"error": "insufficient_scope", "scope": "api"},
            "gitea": {"message": "token does not have at least one of required scope(s): "
                                 "[write:repository]"}}[host.kind]  # fmt: skip
    host.forge.fail("/(pulls|merge_requests)$", 403, said, method="POST")
    with pytest.raises(HostError) as caught:
        host.client().open_pull_request(BOT, "main", "t", "b")
    needs = {"github": '"Pull requests: write" (classic: repo)',
             "gitlab": "the api scope and the Developer role",
             "gitea": "the write:repository scope"}[host.kind]  # fmt: skip
    kind = "merge request" if host.kind == "gitlab" else "pull request"
    assert caught.value.status == 403 and not caught.value.retryable
    assert caught.value.summary == f"could not open the {kind} (HTTP 403): the token needs {needs}"
    assert str(caught.value).startswith(f"failed to open the {kind}: HTTP 403: ")
    assert len(caught.value.summary) <= 140


def test_a_refused_comment_names_its_own_scope_on_gitea(host: Host) -> None:
    """Gitea guards /issues with write:issue, apart from the pulls' write:repository."""
    client = host.client()
    opened, _ = client.open_pull_request(BOT, "main", "t", "b")
    host.forge.fail("/(comments|notes)$", 403, {"message": "no"})
    with pytest.raises(HostError) as caught:
        client.close_pull_request(opened.number, "why")
    assert ("write:issue" in str(caught.value)) == (host.kind == "gitea")
    assert host.forge.pulls.open(host.kind, host.held) != []  # not closed without its reason
