"""Rendered files are the same bytes PyYAML writes, whatever a spec puts in a name, label or
annotation; the usual VM shapes never need PyYAML's slow representer."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from wukong_core.pipeline import run
from wukong_core.render import emit
from wukong_core.render.manifests import render_vm
from wukong_core.spec.load import read_paths

# Strings a spec can carry into a manifest, and the ones YAML reads as something else.
TRICKY = [
    "", " ", "true", "True", "no", "ON", "null", "Null", "~", "=", "<<", "1", "-1", "+1", "0x1F",
    "0o17", "017", "1_000", "1e3", "1.5", ".5", ".inf", "-.Inf", ".nan", "1:20", "190:20:30",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "---", "...", "--- x", "- x", "-x", "? x",
    "?x", ": x", ":x", "x:", "x: y", "x:y", "a #b", "a#b", "#a", "x ", " x", "a  b", "'a'",
    '"a"', "a'b", "!a", "&a", "*a", "%a", "@a", "`a", "|", ">", "[a]", "{a}", "a,b", "a\nb",
    "a\n", "\ta", "a\tb", "é", "a\x85b", "a\u2028b", "\x00", "docker://quay.io/fedora:41",
    "https://example.com/a.img?x=1&y=2#frag", "x" * 130, "20Gi", "vm-00001",
    "a\nb\n", "a\n\n", "a\n\nb\n", " a\nb\n", "a \nb\n", "a\n b\n", "\na\n", "-a\n#b: c\n",
    "[\n{\"a\":1}\n]\n", "a\tb\nc\n", "é\nb\n", "---\n...\n",
]  # fmt: skip
ANY_TEXT = st.text(st.sampled_from(list("az09 :#-./?,'\"!&*%@`|>[]{}=~<+_\t\né")), max_size=12)
# Line after line, as the PreSync plan JSON: a literal block, unless a line defeats it.
LINES = st.lists(st.from_regex(r"[ -~]{0,12}", fullmatch=True), min_size=1, max_size=4).map(
    lambda lines: "\n".join(lines) + "\n"
)
NAMES = st.from_regex(
    r"[a-z][a-z0-9./-]{0,12}|[0-9]{1,3}[MG]i|docker://[a-z.]+/[a-z]+:[0-9]+", fullmatch=True
)


def documents(strings: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    scalars = st.one_of(strings, strings, st.integers(), st.booleans(), st.none())
    trees = st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)
        ),
        max_leaves=12,
    )
    return st.dictionaries(strings, trees, min_size=1, max_size=5)


# Names as in a VM, and names with now and then a tricky string: trees take both paths.
VM_LIKE = documents(NAMES)
MIXED = documents(st.one_of(*[NAMES] * 11, st.sampled_from(TRICKY) | ANY_TEXT | LINES))


def _example_vms() -> list[dict[str, Any]]:
    outcome = run(read_paths([EXAMPLES / "specs"]))
    assert outcome.ok and outcome.plans
    return [render_vm(plan) for plan in outcome.plans]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VM_LIKE | MIXED)
def test_any_manifest_is_written_exactly_as_pyyaml_writes_it(document: dict[str, Any]) -> None:
    assert emit.dump(document) == emit.pyyaml_dump(document)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(TRICKY) | ANY_TEXT | LINES)
def test_each_string_is_plain_only_where_pyyaml_writes_it_plain(text: str) -> None:
    for document in ({"key": text}, {text: "value"}, {"list": [text]}):
        assert emit.dump(document) == emit.pyyaml_dump(document)


@pytest.mark.parametrize("text", TRICKY)
def test_a_label_or_annotation_value_reads_back_as_the_same_string(text: str) -> None:
    document = {"metadata": {"annotations": {"note": text}, "labels": [text]}, text: 1}
    written = emit.dump(document)
    assert written == emit.pyyaml_dump(document)
    assert yaml.safe_load(written) == document


def test_every_example_vm_is_written_without_pyyamls_representer(monkeypatch) -> None:
    # Speed, not bytes: the fast path must cover the shapes Wukong renders (bench P2, P4).
    def refuse(document: Any) -> str:
        raise AssertionError(f"fell back to PyYAML for {document['metadata']['name']}")

    vms = _example_vms()
    expected = [emit.pyyaml_dump(vm) for vm in vms]
    monkeypatch.setattr(emit, "pyyaml_dump", refuse)
    assert [emit.dump(vm) for vm in vms] == expected


def test_a_multiline_value_is_a_literal_block_so_diffs_stay_readable() -> None:
    assert (
        emit.dump({"data": {"plan.json": "[\n{}\n]\n"}})
        == "data:\n  plan.json: |\n    [\n    {}\n    ]\n"
    )


def test_a_container_used_twice_is_written_as_pyyaml_writes_it_with_an_anchor() -> None:
    shared, empty, items = {"a": 1}, {}, []
    loop: dict = {"name": "x"}
    loop["self"] = loop
    for document in ({"x": shared, "y": shared}, {"x": empty, "y": [empty]},
                     {"x": items, "y": items}, loop):  # fmt: skip
        assert emit.dump(document) == emit.pyyaml_dump(document)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="LibYAML is absent: this run is the pure one")
def test_the_same_bytes_are_written_without_libyaml() -> None:
    # The emitter defers to whichever PyYAML dumper is installed; run these tests again with
    # LibYAML hidden, so that "the same bytes" holds for the pure-Python dumper as well.
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys; sys.modules['yaml._yaml'] = None; import yaml, pytest; "
        "assert not yaml.__with_libyaml__; "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-x', sys.argv[1]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, __file__], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
