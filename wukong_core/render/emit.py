"""YAML text for rendered manifests: byte-stable, and fast on the shapes Wukong writes.

Why not just PyYAML: its representer walks every node in Python and was 80 % of a render
(~0.4 ms per VM), most of a first webhook on a large repository. A rendered manifest is a tree
of mappings, lists and short plain scalars, which this writes directly. Every decision PyYAML
would make about a string — may it stay plain, would it read back as a string — is still
PyYAML's own (`Emitter.analyze_scalar`, `Resolver.resolve`); plain multi-line text becomes a
literal block as `_Dumper` asks; anything else (quoting, block scalars that need hints, long
keys, floats, nested lists) is handed to PyYAML whole. `tests/render/test_emit.py` checks
the two agree on generated trees.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from wukong_core.caches import Caches, PassMemo
from wukong_core.spec.yaml_tags import STR, plain_tag


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings (the PreSync plan) as literal blocks, so Git diffs stay readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(STR, value, style=style)


_Dumper.add_representer(str, _represent_str)
_analyze = yaml.emitter.Emitter(None).analyze_scalar  # reads no state of the emitter
_SIMPLE_KEY_LIMIT = 128  # longer keys are written as `? key` by PyYAML


class _NotPlain(Exception):
    """The tree holds something only PyYAML's own emitter writes the same way."""


# Names, sizes, paths: no indicator, space or line break can occur, so PyYAML's analysis would
# allow them plain and only the resolver (is it a number? a bool?) decides.
_SIMPLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*").fullmatch
_LONGEST = 4096  # longer one-line strings are left to PyYAML, not analysed and remembered


def _write(text: str, strings: PassMemo[str, str], tags: PassMemo[str, str]) -> str:
    """`text` as PyYAML writes a one-line string in block context, or "" (and remember it).

    A repository repeats the same keys, names and sizes thousands of times, so each answer is
    kept in `strings` (`Caches.strings`)."""
    if len(text) > _LONGEST:
        return ""
    written = ""
    if _SIMPLE(text) or _plain_shape(text):
        # Plain unless it would read back as something else; then in single quotes, as PyYAML
        # writes it when that alone refuses plain (`'1'`, `'true'`: no resolver matches a quote).
        written = text if plain_tag(text, tags) == STR else f"'{text}'"
    strings.put(text, written)
    return written


def _plain_shape(text: str) -> bool:
    if not text or "\n" in text:
        return False
    analysis = _analyze(text)
    return analysis.allow_block_plain and not analysis.multiline


def _scalar(value: Any) -> str:
    """A scalar that is not a string (those are checked where they are written)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    raise _NotPlain


# Lines of printable ASCII, none empty or starting or ending with a space, each ending in one
# line break: PyYAML writes these as a literal block with no indentation or chomping hint.
_LITERAL = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?\n)+").fullmatch


def _literal(text: str, pad: str) -> str:
    """The lines of a `|` block (the PreSync plan JSON) under a mapping key."""
    if not _LITERAL(text):
        raise _NotPlain
    return pad + text[:-1].replace("\n", "\n" + pad) + "\n"


class _Block:
    """One document written in block style, or _NotPlain when only PyYAML writes it right.

    `seen` holds the containers written so far: one met twice is written by PyYAML, as an
    anchor and an alias."""

    def __init__(self, caches: Caches) -> None:
        self.out: list[str] = []
        self.seen: set[int] = set()
        self.strings = caches.strings
        self.tags = caches.tags

    def text(self, value: str) -> str:
        written = self.strings.get(value)
        return _write(value, self.strings, self.tags) if written is None else written

    def mapping(self, mapping: dict[str, Any], indent: int, first: str) -> None:
        """`first` replaces the indentation of the first line: `- ` for a mapping in a list.
        The hot loop of a render (~70 lines a VM)."""
        self.visit(mapping)
        out = self.out
        pad = " " * indent
        lead = first
        for key in sorted(mapping):
            if type(key) is not str or len(key) >= _SIMPLE_KEY_LIMIT:
                raise _NotPlain
            name = self.text(key)
            if not name:
                raise _NotPlain
            value = mapping[key]
            kind = type(value)
            if kind is str:
                text = self.text(value)
                if text:
                    out.append(f"{lead}{name}: {text}\n")
                elif "\n" in value:
                    out.append(f"{lead}{name}: |\n")
                    out.append(_literal(value, " " * (indent + 2)))
                else:
                    raise _NotPlain
            elif kind is dict:
                if value:
                    out.append(f"{lead}{name}:\n")
                    self.mapping(value, indent + 2, " " * (indent + 2))
                else:
                    self.visit(value)
                    out.append(f"{lead}{name}: {{}}\n")
            elif kind is list:
                if value:
                    out.append(f"{lead}{name}:\n")
                    self.sequence(value, indent)  # PyYAML does not indent it in a mapping
                else:
                    self.visit(value)
                    out.append(f"{lead}{name}: []\n")
            else:
                out.append(f"{lead}{name}: {_scalar(value)}\n")
            lead = pad

    def sequence(self, items: list[Any], indent: int) -> None:
        self.visit(items)
        pad = " " * indent
        for item in items:
            kind = type(item)
            if kind is dict and item:
                self.mapping(item, indent + 2, pad + "- ")
            elif kind is str:
                text = self.text(item)
                if not text:
                    raise _NotPlain
                self.out.append(f"{pad}- {text}\n")
            elif kind in (dict, list):
                raise _NotPlain  # `- {}` and lists of lists: rare, left to PyYAML
            else:
                self.out.append(f"{pad}- {_scalar(item)}\n")

    def visit(self, container: dict[str, Any] | list[Any]) -> None:
        if id(container) in self.seen:
            raise _NotPlain
        self.seen.add(id(container))


def pyyaml_dump(document: Any) -> str:
    """Keys sorted, block style, no line folding: what `dump` writes, all by PyYAML."""
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1 << 16
    )


def dump(document: Any, caches: Caches | None = None) -> str:
    """`document` as YAML, the same bytes as `pyyaml_dump(document)`; `caches` remembers how
    each string is written (a fresh instance's when None)."""
    if type(document) is dict and document:
        block = _Block(caches or Caches.for_one_run())
        try:
            block.mapping(document, 0, "")
            return "".join(block.out)
        except _NotPlain:
            pass
    return pyyaml_dump(document)
