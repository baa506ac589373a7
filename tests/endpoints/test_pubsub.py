"""POST /pubsub, and /webhook with WUKONG_QUEUE: queued deliveries end to end.

Two halves. Through functions-framework's test client: who may push, what a malformed push
gets, what a handled one answers, and one message rendered twice at once (Pub/Sub redelivers to
a slow handler while it still works). Then with the real Pub/Sub emulator pushing to the
function served on 127.0.0.1 (werkzeug's threaded server over functions-framework's app), the
test Git server and the fake forge mounted on it: a signed push is answered 202 with `pending`
already on the commit, the render commit lands and the status turns success; a wrong token is
401 and renders nothing; a Git failure is answered 502, redelivered, and then succeeds.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.endpoints.test_webhook import (
    BROKEN_SPEC,
    SECRET,
    SPECS,
    _deliver,
    _headers,
    _payload,
    _render_commits,
    _repo,
)
from tests.forge import Forge
from tests.hardening import full_name, make_app, webhook_env
from tests.hosting import create_branch
from tests.loopback import closed_port
from tests.queue.oidc import ACCOUNT, AUDIENCE, Signer, serve_certs
from wukong_core.endpoints import webhook as api_webhook
from wukong_core.git.queued import encode_event
from wukong_core.git.webhooks import PushEvent
from wukong_core.queue import push_auth

if TYPE_CHECKING:
    from tests.gitserver import GitServer
    from tests.pubsub_emulator import Emulator

pytest_plugins = ["tests.gitserver", "tests.pubsub_emulator"]

PUSH_TOKEN = "pubsub-tok-4b1e77c2"


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def env(monkeypatch, git_server: GitServer, forge: Forge):  # type: ignore[no-untyped-def]
    webhook_env(monkeypatch, git_server, SECRET)
    monkeypatch.setenv("WUKONG_PUBSUB_TOKEN", PUSH_TOKEN)
    return monkeypatch


def _event(server: GitServer, name: str, **change: Any) -> PushEvent:
    head = server.head(name)
    assert head is not None
    fields = {"provider": "github", "delivery_id": "d-1", "repo_url": server.url(name),
              "repo_name": full_name(server.url(name)), "branch": "main", "before": "1" * 40,
              "after": head,
              "head_message": "edit specs\n\nin two paragraphs\n",
              "changed_paths": ("wukong/a.yaml",), "deleted": False,
              "default_branch": "main"} | change  # fmt: skip
    return PushEvent(**fields)


def _envelope(data: bytes, message_id: str = "m-1") -> bytes:
    message = {"data": base64.b64encode(data).decode(), "messageId": message_id,
               "attributes": {"delivery": "d-1"}}  # fmt: skip
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def _push(client, body: bytes, token: str | None = PUSH_TOKEN, **headers: str):  # type: ignore[no-untyped-def]
    query = "" if token is None else f"?token={token}"
    return client.post(f"/pubsub{query}", data=body, headers=headers,
                       content_type="application/json")  # fmt: skip


def _states(forge: Forge, sha: str) -> list[str]:
    """The states posted on commit `sha`, in order (GitHub's API: the tests push as GitHub)."""
    return [c.body["state"] for c in forge.calls() if c.path.endswith(f"/statuses/{sha}")]


# --- through the test client --------------------------------------------------------------------


def test_without_a_token_or_an_audience_nothing_is_taken(app, env) -> None:  # type: ignore[no-untyped-def]
    env.delenv("WUKONG_PUBSUB_TOKEN")
    response = _push(app.test_client(), _envelope(b"{}"))
    assert response.status_code == 503
    assert "WUKONG_PUBSUB_TOKEN or WUKONG_PUBSUB_AUDIENCE" in response.get_json()["error"]


@pytest.mark.parametrize("token", [None, "", "wrong", PUSH_TOKEN + "x"])
def test_a_push_without_the_token_is_401_and_clones_nothing(app, env, git_server, token) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    response = _push(app.test_client(), _envelope(encode_event(_event(git_server, name))), token)
    assert response.status_code == 401
    assert PUSH_TOKEN not in response.get_data(as_text=True)
    assert git_server.requests(name) == []


@pytest.mark.parametrize(
    "body",
    [b"{}", b"not json", _envelope(b"not json"), _envelope(b'{"version": 1}'),
     _envelope(b'{"version": 1, "provider": "github"}')],
    ids=["no-message", "not-json", "data-not-json", "empty-message", "half-a-message"],
)  # fmt: skip
def test_a_malformed_push_is_400_and_renders_nothing(app, env, git_server, forge, body) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    response = _push(app.test_client(), body)
    assert response.status_code == 400 and response.get_json()["error"]
    assert git_server.requests(name) == [] and forge.calls() == []


def test_a_handled_push_is_200_whatever_it_found(app, env, git_server, forge) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    good = _repo(git_server)
    response = _push(client, _envelope(encode_event(_event(git_server, good))))
    assert (response.status_code, response.get_json()["status"]) == (200, "committed")
    broken = _repo(git_server, {**SPECS, "wukong/broken.yaml": BROKEN_SPEC})
    event = _event(git_server, broken)
    response = _push(client, _envelope(encode_event(event)))
    assert (response.status_code, response.get_json()["status"]) == (200, "failure")
    assert _states(forge, event.after) == ["pending", "failure"]
    stranger = _repo(git_server, prefix="stranger")
    response = _push(client, _envelope(encode_event(_event(git_server, stranger))))
    assert response.status_code == 200 and "WUKONG_ALLOWED_REPOS" in response.get_json()["ignored"]
    assert git_server.requests(stranger) == []


def test_a_push_no_redelivery_can_help_is_acknowledged(app, env, git_server, forge) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    for change in ({"branch": "bad..name"}, {"deleted": True}):
        message = encode_event(_event(git_server, name, **change))
        response = _push(app.test_client(), _envelope(message))
        assert response.status_code == 200, response.get_json()
    assert git_server.requests(name) == []


def test_a_queued_push_says_rendering_once_its_branch_is_known_to_be_rendered(
    app, env, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    name = _repo(git_server)
    event = _event(git_server, name)
    response = _push(app.test_client(), _envelope(encode_event(event)))
    assert (response.status_code, response.get_json()["status"]) == (200, "committed")
    [pending, done] = [c.body for c in forge.calls()]
    assert (pending["state"], pending["description"]) == ("pending", "rendering")
    assert done["state"] == "success" and done["description"].startswith("rendered 7 VMs in ")


@pytest.mark.parametrize("why", ["unwatched branch", "only the output"])
def test_a_queued_push_that_is_not_rendered_gets_no_status_at_all(
    app, env, git_server, forge, why
) -> None:  # type: ignore[no-untyped-def]
    """As in the synchronous mode: a feature branch's commit shows no `wukong/render`, never a
    green mark that validated nothing."""
    name = _repo(git_server)
    if why == "unwatched branch":
        create_branch(git_server, name, "feature-x", git_server.head(name))
        event = _event(git_server, name, branch="feature-x")
        says = "branch feature-x is not rendered"
    else:
        event = _event(git_server, name, changed_paths=("rendered/vms/x.yaml",))
        says = "the push only touched the output path"
    response = _push(app.test_client(), _envelope(encode_event(event)))
    assert response.status_code == 200 and says in response.get_json()["ignored"]
    assert forge.calls() == []


def test_one_message_rendered_twice_at_once_makes_one_commit(app, env, git_server) -> None:  # type: ignore[no-untyped-def]
    """A slow handler gets the same message again (the ack deadline passed): both renders
    run side by side, and Git's compare-and-swap leaves one render commit."""
    name = _repo(git_server)
    body = _envelope(encode_event(_event(git_server, name)))
    answers: list[Any] = []
    start = threading.Barrier(2)

    def deliver() -> None:
        start.wait()
        response = _push(app.test_client(), body)
        answers.append((response.status_code, response.get_json()["status"]))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [(200, "committed"), (200, "unchanged")]
    assert len(_render_commits(git_server, name)) == 1


def test_pub_sub_s_oidc_token_is_checked_in_the_app(app, env, git_server) -> None:  # type: ignore[no-untyped-def]
    env.delenv("WUKONG_PUBSUB_TOKEN")
    env.setenv("WUKONG_PUBSUB_AUDIENCE", AUDIENCE)
    env.setenv("WUKONG_PUBSUB_SERVICE_ACCOUNT", ACCOUNT)
    google = Signer()
    name = _repo(git_server)
    body = _envelope(encode_event(_event(git_server, name)))
    client = app.test_client()
    with serve_certs(google) as certs:
        env.setattr(push_auth, "GOOGLE_CERTS_URL", certs)
        wrong = _push(client, body, None, Authorization=f"Bearer {google.token(aud='x')}")
        assert wrong.status_code == 401 and git_server.requests(name) == []
        assert _push(client, body, None).status_code == 401  # no token at all
        right = _push(client, body, None, Authorization=f"Bearer {google.token()}")
    assert (right.status_code, right.get_json()["status"]) == (200, "committed")


def test_an_audience_without_the_service_account_takes_no_push(app, env, git_server) -> None:  # type: ignore[no-untyped-def]
    """Anyone with any Google service account can have Google sign a token for the audience,
    which is no secret: without the account to compare with, /pubsub takes nothing."""
    env.delenv("WUKONG_PUBSUB_TOKEN")
    env.setenv("WUKONG_PUBSUB_AUDIENCE", AUDIENCE)
    google = Signer()
    name = _repo(git_server)
    body = _envelope(encode_event(_event(git_server, name)))
    stranger = google.token(email="attacker@evil-project.iam.gserviceaccount.com")
    with serve_certs(google) as certs:
        env.setattr(push_auth, "GOOGLE_CERTS_URL", certs)
        response = _push(app.test_client(), body, None, Authorization=f"Bearer {stranger}")
    assert response.status_code == 503
    assert "WUKONG_PUBSUB_SERVICE_ACCOUNT" in response.get_json()["error"]
    assert git_server.requests(name) == []


def test_google_s_certificates_out_of_reach_is_503_for_a_redelivery(app, env, git_server) -> None:  # type: ignore[no-untyped-def]
    env.delenv("WUKONG_PUBSUB_TOKEN")
    env.setenv("WUKONG_PUBSUB_AUDIENCE", AUDIENCE)
    env.setenv("WUKONG_PUBSUB_SERVICE_ACCOUNT", ACCOUNT)
    env.setattr(push_auth, "GOOGLE_CERTS_URL", f"http://127.0.0.1:{closed_port()}/certs")
    name = _repo(git_server)
    body = _envelope(encode_event(_event(git_server, name)))
    response = _push(app.test_client(), body, None, Authorization=f"Bearer {Signer().token()}")
    assert response.status_code == 503 and "certificates" in response.get_json()["error"]
    assert git_server.requests(name) == []


# --- /webhook with a Pub/Sub that never confirms -------------------------------------------------

_topics = itertools.count()


@pytest.fixture
def unreachable(env):  # type: ignore[no-untyped-def]
    """WUKONG_QUEUE set, Pub/Sub nowhere: a publish is retried in the background, never
    confirmed. A fresh app, so that its client is made with this address."""
    env.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    env.setenv("WUKONG_QUEUE", f"pubsub:projects/unreachable/topics/wukong-{next(_topics)}")
    return make_app().test_client()


def test_a_publish_pub_sub_never_confirms_is_503_and_an_error_on_the_commit(
    unreachable, env, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    env.setitem(api_webhook.QUEUE_SECONDS, "github", 2.0)
    name = _repo(git_server)
    head = git_server.head(name)
    response = _deliver(unreachable, "github", _payload("github", git_server.url(name), head))
    assert response.status_code == 503, response.get_json()
    body = response.get_json()
    assert body["retryable"] is True and "did not confirm in time" in body["error"]
    assert _states(forge, head) == ["error"]
    assert git_server.requests(name) == []


def test_gitea_and_forgejo_get_their_answer_within_their_5_s(
    unreachable, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    """Their default delivery timeout is 5 s: a hung status API and a Pub/Sub that never
    confirms still leave time for the answer."""
    forge.delay = 6.0
    name = _repo(git_server)
    payload = _payload("gitea", git_server.url(name), git_server.head(name))
    started = time.monotonic()
    response = _deliver(unreachable, "gitea", payload)
    assert response.status_code == 503
    assert time.monotonic() - started < 4.8
    forge.delay = 0


# --- the real emulator pushing to the served function -------------------------------------------


class Served:
    """The function on 127.0.0.1, remembering the status of each answer by path."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        from werkzeug.serving import make_server

        self.answered: list[tuple[str, int]] = []
        wsgi = app.wsgi_app

        def recording(environ, start_response):  # type: ignore[no-untyped-def]
            def start(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
                self.answered.append((environ["PATH_INFO"], int(status.split()[0])))
                return start_response(status, headers, exc_info)

            return wsgi(environ, start)

        self.server = make_server("127.0.0.1", 0, recording, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def pushes(self) -> list[int]:
        return [status for path, status in self.answered if path == "/pubsub"]


@pytest.fixture(scope="module")
def served(app) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    served = Served(app)
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def subscribed(pubsub_emulator: Emulator, served: Served, env) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """subscribed(token) -> a topic whose push subscription calls the served /pubsub."""
    made: list[str] = []

    def subscribe(token: str = PUSH_TOKEN) -> str:
        topic = pubsub_emulator.topic()
        made.append(pubsub_emulator.push_subscription(topic, f"{served.url}/pubsub?token={token}"))
        env.setenv("WUKONG_QUEUE", f"pubsub:{topic}")
        return topic

    yield subscribe
    for path in made:
        pubsub_emulator.delete(path)


def _webhook(
    served: Served, server: GitServer, name: str, delivery: str = "q-1", branch: str = "main"
) -> tuple[int, dict]:
    import urllib.request

    payload = _payload("github", server.url(name), server.head(name, branch),
                       ref=f"refs/heads/{branch}")  # fmt: skip
    body = json.dumps(payload).encode()
    request = urllib.request.Request(f"{served.url}/webhook", data=body, method="POST",
                                     headers=_headers("github", body, delivery)
                                     | {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def _until(condition: Callable[[], Any], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_signed_push_is_queued_then_rendered_and_the_status_turns_success(
    served, subscribed, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    subscribed()
    name = _repo(git_server)
    after = git_server.head(name)
    before = len(served.pushes())
    status, body = _webhook(served, git_server, name)
    assert status == 202 and body["queued"]
    # The statuses are set inside the push's request, before its answer is recorded.
    _until(lambda: served.pushes()[before:] == [200])
    assert _states(forge, after) == ["pending", "success"]
    assert len(_render_commits(git_server, name)) == 1


def test_a_push_with_a_wrong_token_is_401_and_renders_nothing(
    served, subscribed, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    subscribed(token="not-the-token")
    name = _repo(git_server)
    before = len(served.pushes())
    assert _webhook(served, git_server, name)[0] == 202
    _until(lambda: len(served.pushes()) > before)
    assert set(served.pushes()[before:]) == {401}
    assert git_server.requests(name) == [] and _render_commits(git_server, name) == []
    assert _states(forge, git_server.head(name)) == []  # never known to be rendered


def test_a_git_failure_is_redelivered_and_then_succeeds(
    served, subscribed, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    subscribed()
    name = _repo(git_server)
    after = git_server.head(name)
    git_server.drop_push(name, "before")
    before = len(served.pushes())
    assert _webhook(served, git_server, name)[0] == 202
    _until(lambda: served.pushes()[before:] == [502, 200])
    assert _states(forge, after) == ["pending", "error", "pending", "success"]
    assert len(_render_commits(git_server, name)) == 1


def test_the_webhook_calls_no_status_api_before_it_answers(
    served, pubsub_emulator, env, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    """Whether a branch is rendered is known only to the worker, from `.wukong.yaml`: a slow
    status API can never hold up the answer. (No subscription: the worker never runs here.)"""
    env.setenv("WUKONG_QUEUE", f"pubsub:{pubsub_emulator.topic()}")
    name = _repo(git_server)
    assert _webhook(served, git_server, name)[0] == 202
    assert [c.path for c in forge.calls() if "/statuses/" in c.path] == []


def test_a_branch_that_is_not_rendered_gets_no_status_queued_or_not(
    app, served, subscribed, env, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    """One product, one behaviour: with the queue or without, a push to a branch that
    `.wukong.yaml` does not watch leaves its commit without any `wukong/render` status."""
    subscribed()
    name = _repo(git_server)
    create_branch(git_server, name, "feature-x", git_server.head(name))
    head = git_server.head(name, "feature-x")
    before = len(served.pushes())
    assert _webhook(served, git_server, name, "q-feature", branch="feature-x")[0] == 202
    _until(lambda: served.pushes()[before:] == [200])
    env.delenv("WUKONG_QUEUE")
    payload = _payload("github", git_server.url(name), head, ref="refs/heads/feature-x")
    response = _deliver(app.test_client(), "github", payload, "sync-feature")
    assert response.status_code == 202
    assert "branch feature-x is not rendered" in response.get_json()["ignored"]
    assert _states(forge, head) == [] and _render_commits(git_server, name) == []


def test_a_publish_that_fails_is_503_and_an_error_on_the_commit(
    served, subscribed, pubsub_emulator, git_server, forge
) -> None:  # type: ignore[no-untyped-def]
    topic = subscribed()
    pubsub_emulator.delete(topic)
    name = _repo(git_server)
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        _webhook(served, git_server, name)
    assert caught.value.code == 503
    assert json.loads(caught.value.read())["retryable"] is True
    assert _states(forge, git_server.head(name)) == ["error"]
