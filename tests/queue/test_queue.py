"""The queue behind WUKONG_QUEUE: one behavioural suite, run against every implementation
(Google Cloud Pub/Sub, on google-cloud-cli's real emulator)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from tests.loopback import closed_port
from wukong_core.errors import QueueError, UsageError
from wukong_core.queue import Queue, Queues, topic_of
from wukong_core.queue.envelope import parse_push

if TYPE_CHECKING:
    from tests.pubsub_emulator import Emulator

pytest_plugins = ["tests.pubsub_emulator"]


class Receiver:
    """A push endpoint on 127.0.0.1 that keeps what it is pushed and answers `answers` in
    turn (then 204)."""

    def __init__(self) -> None:
        self.pushed: list[tuple[dict[str, Any], Any]] = []
        self.answers: list[int] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.pushed.append((dict(self.headers), parse_push(body)))
                    status = receiver.answers.pop(0) if receiver.answers else 204
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pubsub"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, count: int, seconds: float = 15) -> list[Any]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.pushed) >= count, timeout=seconds)
        return [message for _, message in self.pushed]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@dataclass
class Made:
    """A queue pushing to an endpoint: its WUKONG_QUEUE, and how to take it away and back."""

    spec: str
    drop: Callable[[], None]  # the queue disappears: publishing fails
    restore: Callable[[], None]  # it is back, pushing to the same endpoint


@pytest.fixture(params=["pubsub"])
def make_queue(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Made]]:
    emulator: Emulator = request.getfixturevalue("pubsub_emulator")
    made: list[str] = []

    def make(endpoint: str) -> Made:
        topic = emulator.topic()
        made.append(emulator.push_subscription(topic, endpoint))

        def restore() -> None:
            emulator.topic(path=topic)
            made.append(emulator.push_subscription(topic, endpoint))

        return Made(f"pubsub:{topic}", lambda: emulator.delete(topic), restore)

    yield make
    for path in made:  # else the emulator pushes on after the test
        emulator.delete(path)


def test_messages_of_one_key_arrive_in_order_with_their_attributes(make_queue, receiver) -> None:
    queue: Queue = Queues().open(make_queue(receiver.url).spec)
    ids = [queue.publish(json.dumps({"n": n}).encode(), "repo main", {"delivery": f"d-{n}"}, 10)
           for n in range(3)]  # fmt: skip
    messages = receiver.wait(3)
    assert [json.loads(m.data)["n"] for m in messages[:3]] == [0, 1, 2]
    assert [m.message_id for m in messages[:3]] == ids
    assert [m.attributes for m in messages[:3]] == [{"delivery": f"d-{n}"} for n in range(3)]


def test_a_message_is_pushed_again_until_it_is_acknowledged(make_queue, receiver) -> None:
    receiver.answers = [503, 500]
    queue = Queues().open(make_queue(receiver.url).spec)
    sent = queue.publish(b"{}", "repo main", {}, 10)
    messages = receiver.wait(3)
    assert [m.message_id for m in messages] == [sent] * 3


def test_a_failed_publish_is_an_error_and_does_not_block_the_key(make_queue, receiver) -> None:
    """The topic is gone: the publish fails, pausing the ordering key; once the topic is back,
    the next message of that key goes through (resume_publish)."""
    made = make_queue(receiver.url)
    queue = Queues().open(made.spec)
    queue.publish(b'"first"', "repo main", {}, 10)
    made.drop()
    started = time.monotonic()
    with pytest.raises(QueueError, match="failed to publish"):
        queue.publish(b'"lost"', "repo main", {}, 5)
    assert time.monotonic() - started < 6
    made.restore()
    queue.publish(b'"after"', "repo main", {}, 10)
    assert [m.data for m in receiver.wait(2)] == [b'"first"', b'"after"']


def test_a_publish_pub_sub_never_confirms_is_an_error_in_time_and_the_next_one_too(
    monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    """Pub/Sub unreachable: the publish is tried again until its timeout and ends as a
    QueueError, and so does the next one of the same ordering key (the failure paused it:
    never a RuntimeError, never a refusal of the key). Nothing goes on in the background."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    queue = Queues().open("pubsub:projects/my-project/topics/wukong")
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(QueueError, match="did not confirm in time"):
            queue.publish(b"{}", "https://git.example/a/b.git main", {}, 1.0)
        assert time.monotonic() - started < 2
    assert [t.name for t in threading.enumerate() if "Thread-CommitBatchPublisher" in t.name] == []


def test_one_client_per_topic_and_instance() -> None:
    queues = Queues()
    spec = "pubsub:projects/my-project/topics/wukong"
    assert queues.open(spec) is queues.open(f" {spec} ")
    assert Queues().open(spec) is not queues.open(spec)  # nothing shared between instances


def test_an_unusable_queue_setting_names_the_form() -> None:
    with pytest.raises(UsageError, match="pubsub:projects/<project>/topics/<topic>"):
        topic_of("pubsub:my-topic")
    assert (
        topic_of("pubsub:projects/my-project/topics/wukong") == "projects/my-project/topics/wukong"
    )
