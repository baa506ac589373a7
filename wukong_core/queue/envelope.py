"""A push from a Pub/Sub push subscription: the JSON envelope around one message.

    {"message": {"data": "<base64>", "messageId": "…", "attributes": {…}, "publishTime": "…",
                 "orderingKey": "…"},
     "subscription": "projects/<p>/subscriptions/<s>", "deliveryAttempt": 3}

`data`, the message id (`messageId`, or `message_id`) and `subscription` are required;
`attributes`, `orderingKey` and `deliveryAttempt` are optional: the emulator sends none of
the last two, and Pub/Sub sends `deliveryAttempt` only with a dead-letter policy.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from wukong_core.errors import WebhookError


@dataclass(frozen=True)
class PushedMessage:
    data: bytes
    message_id: str
    subscription: str
    attributes: dict[str, str]
    delivery_attempt: int  # 0: not sent


def parse_push(body: bytes) -> PushedMessage:
    """The message in a push request; WebhookError(400) for anything else."""
    try:
        envelope = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WebhookError("Pub/Sub push body is not JSON", 400) from e
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise WebhookError("Pub/Sub push has no message object", 400)
    message_id = message.get("messageId", message.get("message_id"))
    subscription = envelope.get("subscription")
    data = message.get("data")
    for name, value in (("message.messageId", message_id), ("subscription", subscription),
                        ("message.data", data)):  # fmt: skip
        if not isinstance(value, str) or not value or not value.isprintable():
            raise WebhookError(f"Pub/Sub push has no {name}", 400)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise WebhookError("Pub/Sub push message.data is not base64", 400) from e
    attributes: Any = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise WebhookError("Pub/Sub push message.attributes is not a map of strings", 400)
    attempt = envelope.get("deliveryAttempt", 0)
    if type(attempt) is not int or attempt < 0:
        raise WebhookError("Pub/Sub push deliveryAttempt is not a count", 400)
    return PushedMessage(raw, message_id[:200], subscription[:300], attributes, attempt)
