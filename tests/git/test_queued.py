"""A push as a queued message: what it carries, what it never carries, what it refuses."""

from __future__ import annotations

import json

import pytest

from wukong_core.errors import WebhookError
from wukong_core.git.queued import MAX_PATHS, decode_event, encode_event, ordering_key
from wukong_core.git.webhooks import PushEvent

EVENT = PushEvent(
    provider="gitlab", delivery_id="d-1", repo_url="https://bot:s3cret@gitlab.example.com/t/vms.git",
    repo_name="t/vms", branch="main", before="1" * 40, after="2" * 40,
    head_message="edit\n\nWhy: the VM needs more memory.\n",
    changed_paths=("wukong/a.yaml",), deleted=False, default_branch="main",
    web_url="https://gitlab.example.com/t/vms",
)  # fmt: skip


def test_a_message_reads_back_as_the_push_without_credentials() -> None:
    data = encode_event(EVENT)
    assert b"s3cret" not in data and b"bot@" not in data
    back = decode_event(data)
    assert back.repo_url == "https://gitlab.example.com/t/vms.git"
    assert back == PushEvent(**{**EVENT.__dict__, "repo_url": back.repo_url})


def test_a_long_list_of_changed_paths_is_dropped_as_unknown() -> None:
    many = tuple(f"wukong/{i}.yaml" for i in range(MAX_PATHS + 1))
    event = PushEvent(**{**EVENT.__dict__, "changed_paths": many})
    assert decode_event(encode_event(event)).changed_paths == ()


def test_one_branch_is_one_ordering_key() -> None:
    assert ordering_key(EVENT) == "https://gitlab.example.com/t/vms.git main"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"version": 2}, "version 1"),
        ({"after": "HEAD"}, "commit SHA"),
        ({"branch": ""}, "lacks branch"),
        ({"provider": "bitbucket"}, "no known Git host"),
        ({"repo_url": "file:///etc"}, "plain HTTP"),
        ({"repo_url": "https://h/a/../b.git"}, "plain HTTP"),
        ({"repo_name": "other/vms"}, "not the repository of its clone URL"),
        ({"head_message": "a\x00b"}, "printable"),
        ({"changed_paths": "wukong/a.yaml"}, "list of paths"),
        ({"deleted": "no"}, "boolean"),
    ],
)
def test_a_malformed_message_is_refused_400(change, says) -> None:
    message = json.loads(encode_event(EVENT)) | change
    with pytest.raises(WebhookError, match=says) as caught:
        decode_event(json.dumps(message).encode())
    assert caught.value.status == 400


def test_bytes_that_are_no_json_object_are_refused() -> None:
    for data in (b"\xff", b"[]", b"not json"):
        with pytest.raises(WebhookError):
            decode_event(data)
