"""How Wukong recognises its own commits: the loop guard and the tests count on it."""

from __future__ import annotations

import pytest

from wukong_core.marks import is_render_commit


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("wukong: render 2 VMs from abc1234\n\nWukong-Source-Commit: " + "a" * 40, True),
        ("x\n\nWukong-Delivery: d\nWukong-Source-Commit: " + "0" * 40 + "\n", True),
        ("fix typo in specs", False),
        ("quote: Wukong-Source-Commit: " + "a" * 40 + "\n\nSigned-off-by: me", False),
        ("x\n\nWukong-Source-Commit: not-a-sha", False),
    ],
)
def test_only_a_source_commit_trailer_marks_a_render_commit(message: str, expected: bool) -> None:
    assert is_render_commit(message) is expected


def test_a_message_that_is_only_a_trailer_line_is_a_subject_not_a_trailer() -> None:
    assert not is_render_commit("Wukong-Source-Commit: " + "a" * 40)
