"""Queued deliveries (WUKONG_QUEUE): /webhook publishes each push, the queue's push
subscription hands it to /pubsub, which renders it (README, Queued deliveries).

    WUKONG_QUEUE=pubsub:projects/<project>/topics/<topic>     Google Cloud Pub/Sub (pubsub.py)

A queue carries bytes with an ordering key and knows nothing of Git or webhooks. Reading a push
(envelope.py) and checking Pub/Sub's OIDC token (push_auth.py) need no client library;
google-cloud-pubsub is imported only by the first publish, so neither a cold start nor
/healthz pays for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Protocol

from wukong_core.errors import UsageError

_PUBSUB = re.compile(
    r"pubsub:(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/topics/[A-Za-z][-\w.~+%]{2,254})"
)


class Queue(Protocol):
    def publish(self, data: bytes, ordering_key: str, attributes: Mapping[str, str],
                timeout: float) -> str:  # fmt: skip
        """Publish one message; its id once the queue holds it. QueueError on failure, after
        at most `timeout` seconds; messages with one ordering key arrive in order."""
        ...


def topic_of(spec: str) -> str:
    """The topic WUKONG_QUEUE names; UsageError naming the expected form otherwise."""
    match = _PUBSUB.fullmatch(spec.strip())
    if match is None:
        raise UsageError(
            f"WUKONG_QUEUE={spec[:200]!r} is not pubsub:projects/<project>/topics/<topic>"
        )
    return match[1]


class Queues:
    """The queues one instance publishes to, by WUKONG_QUEUE. A field of the instance (the
    HTTP app), not of the process: a test or a second app makes its own."""

    def __init__(self) -> None:
        self._open: dict[str, Queue] = {}
        self._lock = threading.Lock()

    def open(self, spec: str) -> Queue:
        """The queue `spec` names. One client per topic: making one opens a gRPC channel,
        which each delivery would otherwise pay for."""
        topic = topic_of(spec)
        with self._lock:
            if topic not in self._open:
                from wukong_core.queue.pubsub import PubSubQueue

                self._open[topic] = PubSubQueue(topic)
            return self._open[topic]
