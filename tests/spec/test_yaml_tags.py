"""A value written without quotes reads back as PyYAML says it does: `yes` a bool, `0x10` an
int, `20Gi` a string — remembered or not, short or long."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wukong_core.caches import PassMemo
from wukong_core.spec.yaml_tags import STR, plain_tag

CASES = {
    "yes": "bool", "Off": "bool", "true": "bool", "0x10": "int", "1_000": "int", "1:20": "int",
    "1e3": "str", "1.0e+3": "float", ".inf": "float", "~": "null", "": "null", "null": "null",
    "2024-01-01": "timestamp", "<<": "merge", "=": "value", "20Gi": "str", "vm-1": "str",
    "y": "str",
}  # fmt: skip


@pytest.mark.parametrize(("text", "kind"), CASES.items())
def test_a_plain_value_reads_as_the_type_yaml_gives_it(text: str, kind: str) -> None:
    memo: PassMemo[str, str] = PassMemo(8)
    assert plain_tag(text) == plain_tag(text, memo) == f"tag:yaml.org,2002:{kind}"
    assert memo.get(text) == f"tag:yaml.org,2002:{kind}"  # asked again: from the memo
    memo.put(text, "remembered")
    assert plain_tag(text, memo) == "remembered"


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("0123456789.:-+_eExXoObBtTrRuUnNlL~yYsS ")), max_size=300))
def test_the_answer_is_pyyamls_own(text: str) -> None:
    assert plain_tag(text) == yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False))


def test_a_long_value_is_answered_but_not_kept_in_memory() -> None:
    memo: PassMemo[str, str] = PassMemo(8)
    assert plain_tag("x" * 10_000, memo) == STR
    assert plain_tag("1" * 10_000, memo) == "tag:yaml.org,2002:int"
    assert len(memo) == 0
