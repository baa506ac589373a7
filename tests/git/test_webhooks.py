"""Webhook deliveries: who sent them, whether they are genuine, and what they ask for.

Headers are built the way each sender builds them, as read in their sources:
- Gitea `services/webhook/deliver.go`: X-Gitea-{Delivery,Event,Event-Type,Signature}, the same
  four as X-Gogs-*, X-Hub-Signature (sha1=...), X-Hub-Signature-256 (sha256=...) and
  X-GitHub-{Delivery,Event,Event-Type}.
- Forgejo `services/webhook/shared/payloader.go` (AddDefaultHeaders): X-Forgejo-* and then all
  of Gitea's headers.
- GitLab: X-Gitlab-Event, X-Gitlab-Token, X-Gitlab-Event-UUID, X-Gitlab-Webhook-UUID (16.2,
  MR 125338), Idempotency-Key (17.4, MR 160952, kept across retries).
Payloads are the public examples in ../shared/reference/webhooks (see its SOURCES.md), read at
test time; WUKONG_REFERENCE_DIR points elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REFERENCE
from wukong_core.errors import WebhookError
from wukong_core.git.webhooks import (
    IgnoredEvent,
    PingEvent,
    PushEvent,
    is_loop,
    not_rendered,
    parse_delivery,
    repo_allowed,
)

SECRET = "s3cret-for-tests"
ZERO = "0" * 40
SHA_A = "a" * 40
SHA_B = "b" * 40


def _reference(relative: str) -> bytes:
    path = REFERENCE / relative
    if not path.is_file():
        pytest.skip(f"reference data is absent: {path} (set WUKONG_REFERENCE_DIR)")
    return path.read_bytes()


def _hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _headers(provider: str, event: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The headers `provider` sends with one delivery, signed with `secret`."""
    sig = _hex(secret, body)
    sha1 = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    if provider == "github":
        return {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature": sha1,
            "X-Hub-Signature-256": "sha256=" + sig,
        }
    if provider == "gitlab":
        return {
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": secret,
            "Idempotency-Key": "d-1",
            "X-Gitlab-Event-UUID": "event-uuid",
            "X-Gitlab-Webhook-UUID": "webhook-uuid",
        }
    gitea = {}
    for name in ("Gitea", "Gogs"):
        gitea |= {
            f"X-{name}-Delivery": "d-1",
            f"X-{name}-Event": event,
            f"X-{name}-Event-Type": event,
            f"X-{name}-Signature": sig,
        }
    gitea |= {
        "X-Hub-Signature": sha1,
        "X-Hub-Signature-256": "sha256=" + sig,
        "X-GitHub-Delivery": "d-1",
        "X-GitHub-Event": event,
        "X-GitHub-Event-Type": event,
    }
    if provider == "gitea":
        return gitea
    forgejo = {
        "X-Forgejo-Delivery": "d-1",
        "X-Forgejo-Event": event,
        "X-Forgejo-Event-Type": event,
        "X-Forgejo-Signature": sig,
    }
    return forgejo | gitea


def _push(**overrides: object) -> bytes:
    """A minimal GitHub-shaped push payload."""
    payload = {
        "ref": "refs/heads/main",
        "before": SHA_A,
        "after": SHA_B,
        "repository": {"clone_url": "https://git.example.com/o/r.git", "full_name": "o/r"},
        "head_commit": {"id": SHA_B, "message": "edit vm"},
        "commits": [{"id": SHA_B, "added": ["wukong/a.yaml"], "modified": [], "removed": []}],
    }
    payload |= overrides
    return json.dumps(payload).encode()


GITHUB = "webhooks/github/octokit-payload-examples/"
GITHUB_NEW_BRANCH = PushEvent(
    "github", "d-1", "https://github.com/Codertocat/Hello-World.git", "Codertocat/Hello-World",
    "master", ZERO,
    "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "Initial commit", ("README.md",), False,
    "master", "https://github.com/Codertocat/Hello-World",
)  # fmt: skip
GITHUB_TAG = IgnoredEvent(
    "github", "push", "d-1", "tag push (refs/tags/simple-tag); only branch pushes are rendered"
)
GITEA_PUSH = {
    "repo_url": "http://localhost:3000/gitea/webhooks.git",
    "repo_name": "gitea/webhooks",
    "branch": "develop",
    "before": "28e1879d029cb852e4844d9c718537df08844e03",
    "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
    "head_message": "Webhooks Yay!",
    "changed_paths": (),  # this old example lists no files per commit
    "deleted": False,
    "default_branch": "master",
    "web_url": "http://localhost:3000/gitea/webhooks",
}

REFERENCE_CASES = [
    (GITHUB + "push/with-new-branch.payload.json", "github", "push", GITHUB_NEW_BRANCH),
    (GITHUB + "push/with-no-username-committer.payload.json", "github", "push", GITHUB_NEW_BRANCH),
    (GITHUB + "push/payload.json", "github", "push", GITHUB_TAG),
    (GITHUB + "push/1.payload.json", "github", "push", GITHUB_TAG),
    (GITHUB + "push/with-installation.payload.json", "github", "push", GITHUB_TAG),
    (GITHUB + "push/with-organization.payload.json", "github", "push", GITHUB_TAG),
    (GITHUB + "ping/payload.json", "github", "ping", PingEvent("github", "d-1")),
    (GITHUB + "ping/with-app_id.payload.json", "github", "ping", PingEvent("github", "d-1")),
    (GITHUB + "ping/with-organization.payload.json", "github", "ping", PingEvent("github", "d-1")),
    (
        "webhooks/gitlab/gitlab-docs-push-event-example.json",
        "gitlab",
        "Push Hook",
        PushEvent(
            provider="gitlab",
            delivery_id="d-1",
            repo_url="http://example.com/mike/diaspora.git",
            repo_name="mike/diaspora",
            branch="master",
            before="95790bf891e76fee5e1747ab589903a6a1f80f22",
            after="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            head_message="fixed readme",
            changed_paths=(),  # total_commits_count is 4, 2 commits listed: a partial list
            deleted=False,
            default_branch="master",
            web_url="http://example.com/mike/diaspora",
        ),
    ),
    (
        "webhooks/gitea/push-event-example.extracted.json",
        "gitea",
        "push",
        PushEvent("gitea", "d-1", **GITEA_PUSH),
    ),
    (
        "webhooks/gitea/push-event-example.extracted.json",
        "forgejo",
        "push",
        PushEvent("forgejo", "d-1", **GITEA_PUSH),
    ),
]


@pytest.mark.parametrize(("path", "provider", "event", "expected"), REFERENCE_CASES)
def test_reference_payloads_parse_to_the_expected_event(path, provider, event, expected):
    body = _reference(path)
    assert parse_delivery(_headers(provider, event, body), body, SECRET) == expected


def test_every_reference_payload_is_in_the_table():
    root = REFERENCE / "webhooks"
    if not root.is_dir():
        pytest.skip(f"reference data is absent: {root} (set WUKONG_REFERENCE_DIR)")
    on_disk = {
        p.relative_to(root.parent).as_posix()
        for p in root.rglob("*.json")
        if not p.name.endswith(".schema.json") and "signature-test-vector" not in p.name
    }
    assert on_disk == {path for path, *_ in REFERENCE_CASES}


def test_githubs_documented_signature_test_vector():
    vector = json.loads(_reference("webhooks/github/signature-test-vector.json"))
    body = vector["payload"].encode()
    assert _hex(vector["secret"], body) == vector["signature_hex"]
    headers = {
        "X-GitHub-Event": "issues",
        "X-Hub-Signature-256": vector["x_hub_signature_256"],
    }
    assert isinstance(parse_delivery(headers, body, vector["secret"]), IgnoredEvent)
    with pytest.raises(WebhookError) as err:
        parse_delivery(headers, body + b"!", vector["secret"])
    assert err.value.status == 401


# -- form-encoded deliveries (GitHub's default content type; Gitea/Forgejo offer it too) ----

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(payload: bytes) -> bytes:
    """The body a sender posts with that content type: payload=<the JSON, URL-encoded>."""
    return b"payload=" + urllib.parse.quote_plus(payload).encode()


@pytest.mark.parametrize(("path", "provider", "event", "expected"), REFERENCE_CASES[:9])
def test_github_form_deliveries_are_signed_over_the_raw_form_body(path, provider, event, expected):
    """GitHub signs what it sends: the HMAC covers the form-encoded bytes, not the JSON."""
    body = _form(_reference(path))
    assert parse_delivery(_headers("github", event, body) | FORM, body, SECRET) == expected
    signed_json = _headers("github", event, _reference(path)) | FORM
    with pytest.raises(WebhookError) as err:
        parse_delivery(signed_json, body, SECRET)
    assert err.value.status == 401


@pytest.mark.parametrize(
    "body", [b"payload=%ZZ", b"a=1&b=2", b"\xff" * 100, b"x=" + b"&x=" * 20],
    ids=["bad escape", "no payload", "not ascii", "too many fields"],
)  # fmt: skip
def test_a_github_form_is_not_read_before_its_signature_checks_out(body):
    """An unsigned form is a 401 whatever it holds: nothing of it is parsed first."""
    with pytest.raises(WebhookError) as err:
        parse_delivery(_headers("github", "push", b"other") | FORM, body, SECRET)
    assert err.value.status == 401
    with pytest.raises(WebhookError) as err:  # signed, it is read, and refused as malformed
        parse_delivery(_headers("github", "push", body) | FORM, body, SECRET)
    assert err.value.status == 400


def test_githubs_test_vector_holds_for_a_form_body():
    """The documented vector (secret, payload -> signature), with the form as the payload."""
    vector = json.loads(_reference("webhooks/github/signature-test-vector.json"))
    body = _form(json.dumps({"zen": vector["payload"]}).encode())
    headers = {
        "X-GitHub-Event": "ping",
        "X-Hub-Signature-256": "sha256=" + _hex(vector["secret"], body),
    }
    assert parse_delivery(headers | FORM, body, vector["secret"]) == PingEvent("github", "")


@pytest.mark.parametrize("provider", ["gitea", "forgejo"])
def test_gitea_and_forgejo_form_deliveries_are_signed_over_the_json(provider):
    """deliver.go hashes PayloadContent, the JSON, whatever the content type."""
    payload = _reference("webhooks/gitea/push-event-example.extracted.json")
    body = _form(payload)
    headers = _headers(provider, "push", payload) | FORM
    assert parse_delivery(headers, body, SECRET) == PushEvent(provider, "d-1", **GITEA_PUSH)
    with pytest.raises(WebhookError) as err:
        parse_delivery(_headers(provider, "push", body) | FORM, body, SECRET)
    assert err.value.status == 401


def test_the_content_type_may_carry_parameters_and_any_case():
    body = _form(BODY)
    headers = _headers("github", "push", body) | {
        "content-type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"
    }
    assert isinstance(parse_delivery(headers, body, SECRET), PushEvent)


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


BODY = _push()
GH, GL = _headers("github", "push", BODY), _headers("gitlab", "Push Hook", BODY)
AUTH_FAILURES = {
    "github, other secret": (_headers("github", "push", BODY, "other"), SECRET),
    "github, sha1 only": (_without(GH, "X-Hub-Signature-256"), SECRET),
    "github, no sha256= prefix": (GH | {"X-Hub-Signature-256": _hex(SECRET, BODY)}, SECRET),
    "gitea, other secret": (_headers("gitea", "push", BODY, "other"), SECRET),
    "gitea hook without secret": (
        _headers("gitea", "push", BODY, "") | {"X-Gitea-Signature": ""},
        SECRET,
    ),
    "forgejo, other secret": (_headers("forgejo", "push", BODY, "other"), SECRET),
    "forgejo, rescued by a good X-Gitea-Signature": (
        _headers("forgejo", "push", BODY) | {"X-Forgejo-Signature": _hex("other", BODY)},
        SECRET,
    ),
    "gitlab, other token": (_headers("gitlab", "Push Hook", BODY, "other"), SECRET),
    "gitlab, no token": (_without(GL, "X-Gitlab-Token"), SECRET),
    "no secret configured": (GH, None),
    "empty secret configured": (_headers("github", "push", BODY, ""), ""),
}


@pytest.mark.parametrize(("headers", "secret"), AUTH_FAILURES.values(), ids=AUTH_FAILURES.keys())
def test_unauthenticated_deliveries_are_refused_with_401(headers, secret):
    with pytest.raises(WebhookError) as err:
        parse_delivery(headers, BODY, secret)
    assert err.value.status == 401
    message = str(err.value)
    for value in (SECRET, "other", _hex(SECRET, BODY), _hex("other", BODY)):
        assert value not in message


def test_authentication_comes_before_the_body_is_read():
    with pytest.raises(WebhookError) as err:
        parse_delivery(_headers("github", "push", b"\xff", "other"), b"\xff", SECRET)
    assert err.value.status == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Gogs-Event": "push"}, {"X-Event-Key": "repo:push"}, {"X-GitHub-Event": ""}],
    ids=["no headers", "gogs", "bitbucket", "empty event"],
)
def test_unknown_senders_are_refused_with_400(headers):
    with pytest.raises(WebhookError) as err:
        parse_delivery(headers, BODY, SECRET)
    assert err.value.status == 400
    assert "unknown webhook sender" in str(err.value)


@pytest.mark.parametrize(
    ("headers", "provider"),
    [
        (_headers("gitea", "push", BODY), "gitea"),  # also carries X-GitHub-Event
        (_headers("forgejo", "push", BODY), "forgejo"),  # also carries X-Gitea-Event
        ({k.lower(): v for k, v in _headers("forgejo", "push", BODY).items()}, "forgejo"),
        ({k.upper(): v for k, v in _headers("github", "push", BODY).items()}, "github"),
    ],
    ids=["gitea", "forgejo", "lower-case names", "upper-case names"],
)
def test_the_sender_is_recognised_whatever_else_it_sends(headers, provider):
    event = parse_delivery(headers, BODY, SECRET)
    assert isinstance(event, PushEvent)
    assert event.provider == provider


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"payload=%7B%7D", "set the webhook's content type to application/json"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not JSON"),
        (_push(repository={"full_name": "o/r"}), "push payload has no repository.clone_url"),
        (_push(ref=None), "push payload has no ref"),
        (_push(after="HEAD"), "push payload after is not a commit SHA"),
        (_push(repository={"clone_url": "git@h:o/r", "full_name": "o/r"}), "not an HTTP(S) URL"),
        (_push(ref="refs/heads/a\nb"), "push payload ref is not a printable string"),
    ],
    ids=["not utf-8", "form-encoded", "array", "deep nesting", "no clone url", "no ref",
         "bad sha", "ssh url", "control character"],
)  # fmt: skip
def test_malformed_push_payloads_are_refused_with_400(body, message):
    with pytest.raises(WebhookError) as err:
        parse_delivery(_headers("github", "push", body), body, SECRET)
    assert err.value.status == 400
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("provider", "clone_url", "name", "path"),
    [
        ("github", "https://github.com/Team/VMs.git", "team/vms", "Team/VMs"),
        ("gitea", "https://example.com/gitea/team/vms.git", "team/vms", "team/vms"),
        ("gitlab", "https://example.com/gitlab/group/sub/app.git", "group/sub/app",
         "group/sub/app"),
        ("gitlab", "https://gitlab.example.com/group/sub/app", "Group/Sub/App", "group/sub/app"),
    ],
)  # fmt: skip
def test_the_repository_is_the_one_its_clone_url_names(provider, clone_url, name, path):
    """Its path on the host (what the status and pull-request calls address) is read from
    the clone URL, as the URL spells it; the payload's name only has to agree, but for case."""
    body = _payload_of(provider, clone_url, name)
    event = parse_delivery(_headers(provider, _PUSH_EVENT[provider], body), body, SECRET)
    assert isinstance(event, PushEvent)
    assert event.repo_name == path


@pytest.mark.parametrize(
    ("provider", "clone_url", "name"),
    [
        ("github", "https://git.example.com/allowed/vms.git", "victim/vms"),
        ("github", "https://git.example.com/allowed/vms.git", "vms"),
        ("github", "https://git.example.com/vms.git", "team/vms"),
        ("gitea", "https://git.example.com/allowed/vms.git", "allowed/vms/x"),
        ("gitlab", "https://gitlab.example.com/allowed/vms.git", "victim/vms"),
        ("gitlab", "https://gitlab.example.com/allowed/vms.git", "vms"),
        ("gitlab", "https://gitlab.example.com/a/allowed/vms.git", "b/allowed/vms"),
    ],
)  # fmt: skip
def test_a_payload_naming_another_repository_than_its_clone_url_is_refused_400(
    provider, clone_url, name
):
    """One webhook secret serves every allow-listed repository: whoever may set a hook on one
    must not point Wukong's status token at another by naming it."""
    body = _payload_of(provider, clone_url, name)
    with pytest.raises(WebhookError, match="is not the repository of its clone URL") as err:
        parse_delivery(_headers(provider, _PUSH_EVENT[provider], body), body, SECRET)
    assert err.value.status == 400


_PUSH_EVENT = {"github": "push", "gitea": "push", "gitlab": "Push Hook"}


def _payload_of(provider: str, clone_url: str, name: str) -> bytes:
    if provider == "gitlab":  # GitLab's numeric `project.id` names nothing Wukong uses
        project = {"git_http_url": clone_url, "path_with_namespace": name, "id": 7}
        return json.dumps({"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B,
                           "project": project}).encode()  # fmt: skip
    return _push(repository={"clone_url": clone_url, "full_name": name})


def test_a_gitlab_payload_without_project_names_the_missing_field():
    body = json.dumps({"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B}).encode()
    with pytest.raises(WebhookError, match=r"push payload has no project\.git_http_url"):
        parse_delivery(_headers("gitlab", "Push Hook", body), body, SECRET)


@pytest.mark.parametrize(
    ("provider", "event", "body", "reason"),
    [
        ("github", "push", _push(ref="refs/tags/v1"), "tag push (refs/tags/v1)"),
        ("gitlab", "Tag Push Hook", BODY, "'Tag Push Hook' events are not rendered"),
        ("gitea", "create", BODY, "'create' events are not rendered"),
        ("github", "pull_request", BODY, "'pull_request' events are not rendered"),
        ("gitlab", "System Hook", BODY, "'System Hook' events are not rendered"),
        ("github", "push", _push(ref="refs/notes/commits"), "no branch"),
    ],
)
def test_everything_but_branch_pushes_is_ignored_with_a_reason(provider, event, body, reason):
    result = parse_delivery(_headers(provider, event, body), body, SECRET)
    assert isinstance(result, IgnoredEvent)
    assert (result.provider, result.event, result.delivery_id) == (provider, event, "d-1")
    assert reason in result.reason


@pytest.mark.parametrize(
    ("provider", "event", "body"),
    [
        ("github", "push", _push(after=ZERO, deleted=True, head_commit=None, commits=[])),
        ("gitlab", "Push Hook", json.dumps({
            "ref": "refs/heads/main", "before": SHA_A, "after": ZERO, "checkout_sha": None,
            "commits": [], "total_commits_count": 0,
            "project": {"git_http_url": "https://gl.example.com/g/r.git",
                        "path_with_namespace": "g/r"},
        }).encode()),
    ],
)  # fmt: skip
def test_a_branch_deletion_is_flagged(provider, event, body):
    result = parse_delivery(_headers(provider, event, body), body, SECRET)
    assert isinstance(result, PushEvent)
    assert result.deleted
    assert (result.branch, result.head_message, result.changed_paths) == ("main", "", ())


def test_changed_paths_span_all_commits_without_duplicates():
    commits = [
        {"id": SHA_A, "added": ["a"], "modified": ["b"], "removed": []},
        {"id": SHA_B, "added": [], "modified": ["b", "c"], "removed": ["d"]},
    ]
    body = _push(commits=commits)
    result = parse_delivery(_headers("github", "push", body), body, SECRET)
    assert result.changed_paths == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), "d-1"),
        (("Idempotency-Key",), "event-uuid"),
        (("Idempotency-Key", "X-Gitlab-Event-UUID"), "webhook-uuid"),
        (("Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"), ""),
    ],
)
def test_gitlab_delivery_id_prefers_the_retry_stable_idempotency_key(drop, expected):
    headers = _without(_headers("gitlab", "System Hook", BODY), *drop)
    assert parse_delivery(headers, BODY, SECRET).delivery_id == expected


def test_a_delivery_id_that_could_forge_a_trailer_is_refused():
    headers = _headers("github", "push", BODY) | {"X-GitHub-Delivery": "x\nWukong-Source-Commit: y"}
    with pytest.raises(WebhookError) as err:
        parse_delivery(headers, BODY, SECRET)
    assert err.value.status == 400


URL = "https://github.com/Org/Repo.git"


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        ("", False),
        ([], False),
        (" , ", False),
        ("https://github.com/Org/Repo.git", True),
        ("https://GITHUB.com/Org/Repo/", True),
        ("https://github.com/Org/Repo", True),
        ("https://user:token@github.com/Org/Repo", True),
        ("https://github.com:443/Org/Repo", True),
        ("https://github.com/other/x, https://github.com/Org/*", True),
        (["https://github.com/Org/*"], True),
        ("https://github.com/org/repo", False),  # paths keep their case
        ("http://github.com/Org/Repo", False),  # no scheme downgrade
        ("https://github.com/Org/Repo-other", False),
        ("https://github.com/Org/Repo.git.evil", False),
        ("https://evil.example/github.com/Org/Repo", False),
        ("https://github.com:8443/Org/Repo", False),
        ("https://[broken/Org/Repo", False),
    ],
)
def test_the_allow_list(allowed, expected):
    assert repo_allowed(URL, allowed) is expected


@pytest.mark.parametrize("url", ["git@github.com:Org/Repo.git", "https://github.com:99999/x", ""])
def test_the_allow_list_refuses_urls_it_cannot_read(url):
    assert repo_allowed(url, "*") is False


def _event(message: str = "edit", paths: tuple[str, ...] = ("wukong/vm.yaml",)) -> PushEvent:
    return PushEvent("github", "d", URL, "Org/Repo", "main", SHA_A, SHA_B, message, paths, False)


BOT_MESSAGE = (
    "wukong: render 2 VMs from abc1234\n\nWukong-Source-Commit: abc1234" + "0" * 33 + "\n"
    "Wukong-Delivery: d\n"
)


@pytest.mark.parametrize(
    ("event", "output", "expected"),
    [
        (_event(BOT_MESSAGE), "rendered/", True),
        (_event("Merge\n\nSigned-off-by: a\nWukong-Source-Commit: abc1234"), "rendered", True),
        (_event("Wukong-Source-Commit: abc is only mentioned"), "rendered", False),
        (_event(paths=("rendered/vms/a.yaml", "rendered/kustomization.yaml")), "rendered/", True),
        (_event(paths=("rendered/vms/a.yaml",)), "./rendered", True),
        (_event(paths=("rendered/a.yaml", "wukong/a.yaml")), "rendered", False),
        (_event(paths=("rendered-old/a.yaml",)), "rendered", False),
        (_event(paths=()), "rendered", False),  # unknown or partial list: render
        (_event(paths=("a.yaml",)), "", False),
        (_event(paths=("a.yaml",)), ".", False),
    ],
)
def test_the_loop_guard(event, output, expected):
    assert is_loop(event, output) is expected


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_event(), None),
        (replace(_event(), deleted=True), "branch main was deleted"),
        (replace(_event(), branch="wukong/render-main"), "holds Wukong's own proposal"),
        (_event(BOT_MESSAGE), "Wukong's own render"),
    ],
)
def test_what_is_never_rendered_is_known_from_the_event_alone(event, reason):
    """The webhook drops these before it queues, the worker before it fetches."""
    said = not_rendered(event)
    assert said == reason if reason is None else reason in (said or "")


PROVIDERS = ("github", "gitlab", "gitea", "forgejo")
HEADER_NAMES = st.sampled_from(sorted({n for p in PROVIDERS for n in _headers(p, "push", b"")}))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    headers=st.dictionaries(
        HEADER_NAMES.map(str.lower) | HEADER_NAMES | st.text(max_size=20), st.text(), max_size=8
    ),
    body=st.binary(max_size=2000),
    secret=st.none() | st.text(max_size=20),
)
def test_any_delivery_gives_an_event_or_a_webhook_error(headers, body, secret):
    try:
        parse_delivery(headers, body, secret)
    except WebhookError as e:
        assert e.status in (400, 401)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
PUSH_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "ref": st.sampled_from(["refs/heads/main", "refs/tags/v1", "refs/heads/"]) | JSON,
        "before": st.just(SHA_A) | JSON,
        "after": st.sampled_from([SHA_B, ZERO]) | JSON,
        "deleted": JSON,
        "repository": st.fixed_dictionaries(
            {}, optional={"clone_url": st.just("https://h/o/r.git") | JSON, "full_name": JSON}
        ) | JSON,
        "project": JSON,
        "head_commit": JSON,
        "commits": st.lists(JSON, max_size=3) | JSON,
        "total_commits_count": JSON,
    },
)  # fmt: skip


@FUZZ
@given(
    provider=st.sampled_from(PROVIDERS),
    payload=PUSH_FIELDS | JSON,
)
def test_any_signed_push_payload_gives_an_event_or_a_400(provider, payload):
    body = json.dumps(payload).encode()
    event = "Push Hook" if provider == "gitlab" else "push"
    try:
        result = parse_delivery(_headers(provider, event, body), body, SECRET)
    except WebhookError as e:
        assert e.status == 400
    else:
        assert isinstance(result, PushEvent | IgnoredEvent)
        if isinstance(result, PushEvent):
            is_loop(result, "rendered")
            repo_allowed(result.repo_url, "https://h/*")
