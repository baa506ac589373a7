"""A Pub/Sub push: the real service's envelope, the emulator's, and everything else (400)."""

from __future__ import annotations

import base64
import json

import pytest

from wukong_core.errors import WebhookError
from wukong_core.queue.envelope import parse_push

DATA = base64.b64encode(b'{"n": 1}').decode()
# As Pub/Sub sends it (Google's push documentation; orderingKey and deliveryAttempt present).
SERVICE = {"message": {"attributes": {"delivery": "d-1"}, "data": DATA,
                       "messageId": "2070443601311540", "message_id": "2070443601311540",
                       "publishTime": "2021-02-26T19:13:55.749Z", "orderingKey": "k"},
           "subscription": "projects/p/subscriptions/s", "deliveryAttempt": 2}  # fmt: skip
# As the emulator sent it (captured; /work/notes/research-14-15.md §4.3): no orderingKey,
# no deliveryAttempt, "\/" escapes.
EMULATOR = (
    b'{"subscription":"projects\\/demo-project\\/subscriptions\\/wukong-push","message":'
    b'{"publishTime":"2026-12-03T21:20:27.971Z","data":"eyJwcm92aWRlciI6ICJnaXRodWIiLCAiYWZ0ZX'
    b'IiOiAiYWJjIn0=","publish_time":"2026-12-03T21:20:27.971Z","messageId":"1","attributes":'
    b'{"delivery":"d-1"},"message_id":"1"}}'
)


def test_the_service_s_envelope() -> None:
    pushed = parse_push(json.dumps(SERVICE).encode())
    assert (pushed.data, pushed.message_id, pushed.delivery_attempt) == (
        b'{"n": 1}',
        "2070443601311540",
        2,
    )
    assert pushed.attributes == {"delivery": "d-1"}


def test_the_emulator_s_envelope() -> None:
    pushed = parse_push(EMULATOR)
    assert pushed.data == b'{"provider": "github", "after": "abc"}'
    assert (pushed.message_id, pushed.delivery_attempt) == ("1", 0)
    assert pushed.subscription == "projects/demo-project/subscriptions/wukong-push"


@pytest.mark.parametrize(
    "body",
    [
        b"", b"not json", b"[]", b"{}", json.dumps({"message": "x"}).encode(),
        json.dumps({**SERVICE, "subscription": None}).encode(),
        json.dumps({**SERVICE, "message": {**SERVICE["message"], "data": "%%%"}}).encode(),
        json.dumps({**SERVICE, "message": {"data": DATA}}).encode(),
        json.dumps({**SERVICE, "message": {**SERVICE["message"], "attributes": {"a": 1}}}).encode(),
        json.dumps({**SERVICE, "deliveryAttempt": "2"}).encode(),
    ],
)  # fmt: skip
def test_anything_else_is_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_push(body)
    assert caught.value.status == 400
