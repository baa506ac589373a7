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


_queues: dict[str, Queue] = {}
_lock = threading.Lock()


def open_queue(spec: str) -> Queue:
    """The queue WUKONG_QUEUE names. One client per process and topic: making one opens a
    gRPC channel, which each delivery would otherwise pay for."""
    topic = topic_of(spec)
    with _lock:
        if topic not in _queues:
            from wukong_core.queue.pubsub import PubSubQueue

            _queues[topic] = PubSubQueue(topic)
        return _queues[topic]
