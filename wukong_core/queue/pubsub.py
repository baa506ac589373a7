"""Publishing to Google Cloud Pub/Sub with ordering keys (google-cloud-pubsub).

With message ordering on, the client retries a publish for ever (its deadline becomes 2**32 s),
so every publish is bounded here by waiting on its future. Two ways it can end badly:
- Pub/Sub refused it (a deleted topic, a permission): the client pauses the ordering key, and
  every later publish of that key fails until `resume_publish`. The key is resumed at once, and
  a publish that finds its key paused (by a failure no one waited for) resumes it and tries once
  more, so one failure never blocks a branch's later deliveries.
- Pub/Sub did not confirm in time (unreachable, slow): nothing is paused, and the client goes
  on retrying in the background, so the message may still arrive. The caller is told so.
Every failure is a QueueError. One message per batch: a delivery waits for nobody else's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from wukong_core.errors import QueueError
from wukong_core.extras import require


class PubSubQueue:
    def __init__(self, topic: str) -> None:
        require("queue", "WUKONG_QUEUE=pubsub:…")
        from google.cloud import pubsub_v1

        self.topic = topic
        self.client: Any = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_messages=1),
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
        )

    def publish(self, data: bytes, ordering_key: str, attributes: Mapping[str, str],
                timeout: float) -> str:  # fmt: skip
        from google.cloud.pubsub_v1.publisher.exceptions import (
            PublishToPausedOrderingKeyException,
        )

        deadline = time.monotonic() + timeout
        try:
            try:
                return self._publish(data, ordering_key, attributes, deadline)
            except PublishToPausedOrderingKeyException:
                self._resume(ordering_key)  # paused by an earlier failure: this one may pass
                return self._publish(data, ordering_key, attributes, deadline)
        except concurrent.futures.TimeoutError as e:
            # Still being retried, so nothing is paused (resuming would raise RuntimeError).
            raise QueueError(
                f"failed to publish to {self.topic}: Pub/Sub did not confirm in time (the "
                "message may still be queued); redeliver to retry"
            ) from e
        except Exception as e:  # google.api_core's errors, a key paused again, ...
            self._resume(ordering_key)
            raise QueueError(f"failed to publish to {self.topic}: {_cause(e)}") from e

    def _publish(self, data: bytes, ordering_key: str, attributes: Mapping[str, str],
                 deadline: float) -> str:  # fmt: skip
        future = self.client.publish(self.topic, data, ordering_key=ordering_key, **attributes)
        return str(future.result(timeout=max(deadline - time.monotonic(), 0.01)))

    def _resume(self, ordering_key: str) -> None:
        # ValueError: a key this client never saw; RuntimeError: a key that is not paused.
        with contextlib.suppress(ValueError, RuntimeError):
            self.client.resume_publish(self.topic, ordering_key)


def _cause(e: BaseException) -> str:
    # google.api_core errors read "404 Resource not found (resource=...)": short, no secrets.
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
