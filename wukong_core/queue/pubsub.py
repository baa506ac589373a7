"""Publishing to Google Cloud Pub/Sub with ordering keys (google-cloud-pubsub).

With message ordering on, the client retries a publish for ever (it sets its deadline to
2**32 s) in background threads, which would run on after the answer, where Cloud Run gives an
instance no CPU, and send the message at some unknown later time. So each publish here is one
attempt (`retry=None`) bounded by the time left, and this module retries what may pass
(unavailable, deadline exceeded, ...) with backoff until the delivery's time is up: nothing
runs after `publish` returns. A failed attempt pauses the ordering key, and every later
publish of that key fails until `resume_publish`, so a failure resumes it at once.
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

_FIRST_BACKOFF_S = 0.1


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
        from google.api_core import exceptions as api
        from google.cloud.pubsub_v1.publisher.exceptions import (
            PublishToPausedOrderingKeyException,
        )

        again = (api.ServiceUnavailable, api.DeadlineExceeded, api.InternalServerError,
                 api.Aborted, api.ResourceExhausted, api.Unknown, api.Cancelled,
                 PublishToPausedOrderingKeyException)  # fmt: skip
        deadline = time.monotonic() + timeout
        backoff = _FIRST_BACKOFF_S
        while True:
            left = deadline - time.monotonic()
            try:
                future = self.client.publish(
                    self.topic, data, ordering_key=ordering_key, retry=None,
                    timeout=max(left, 0.01), **attributes,
                )  # fmt: skip
                return str(future.result(timeout=max(left, 0.01)))
            except again as e:
                self._resume(ordering_key)
                if deadline - time.monotonic() < backoff:
                    raise QueueError(
                        f"failed to publish to {self.topic}: Pub/Sub did not confirm in time "
                        f"({_cause(e)}); redeliver to retry"
                    ) from e
                time.sleep(backoff)
                backoff *= 2
            except concurrent.futures.TimeoutError as e:
                # Still in flight: its own timeout ends it soon (and pauses the key, which the
                # next publish resumes), and Pub/Sub may have it all the same.
                raise QueueError(
                    f"failed to publish to {self.topic}: Pub/Sub did not confirm in time (it "
                    "may hold the message all the same); redeliver to retry"
                ) from e
            except Exception as e:  # a topic that is gone, a permission: no retry can help
                self._resume(ordering_key)
                raise QueueError(f"failed to publish to {self.topic}: {_cause(e)}") from e

    def _resume(self, ordering_key: str) -> None:
        # ValueError: a key this client never saw; RuntimeError: a key that is not paused.
        with contextlib.suppress(ValueError, RuntimeError):
            self.client.resume_publish(self.topic, ordering_key)


def _cause(e: BaseException) -> str:
    # google.api_core errors read "404 Resource not found (resource=...)": short, no secrets.
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
