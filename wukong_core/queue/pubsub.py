"""Publishing to Google Cloud Pub/Sub with ordering keys (google-cloud-pubsub).

With message ordering on, the client retries a publish for ever (its deadline becomes 2**32 s),
so every publish is bounded here by waiting on its future; after a failure the ordering key is
paused until `resume_publish`, which is called at once so that the next delivery of the branch
is not refused. One message per batch: a delivery waits for nobody else's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
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
        try:
            future = self.client.publish(
                self.topic, data, ordering_key=ordering_key, **dict(attributes)
            )
            return str(future.result(timeout=max(timeout, 0.01)))
        except concurrent.futures.TimeoutError as e:
            self._resume(ordering_key)
            raise QueueError(f"failed to publish to {self.topic}: Pub/Sub did not confirm "
                             "in time; redeliver to retry") from e  # fmt: skip
        except Exception as e:  # google.api_core's errors, the paused-key error, ...
            self._resume(ordering_key)
            raise QueueError(f"failed to publish to {self.topic}: {_cause(e)}") from e

    def _resume(self, ordering_key: str) -> None:
        with contextlib.suppress(ValueError):  # a key this client never paused
            self.client.resume_publish(self.topic, ordering_key)


def _cause(e: BaseException) -> str:
    # google.api_core errors read "404 Resource not found (resource=...)": short, no secrets.
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
