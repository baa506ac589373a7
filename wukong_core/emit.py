"""YAML text for rendered manifests: byte-stable, and fast on the shapes Wukong writes.

Why not just PyYAML: its representer walks every node in Python and was 80 % of a render
(~0.4 ms per VM), most of a first webhook on a large repository. A rendered manifest is a tree
of mappings, lists and short plain scalars, which this writes directly. Every decision PyYAML
would make about a string — may it stay plain, would it read back as a string — is still
PyYAML's own (`Emitter.analyze_scalar`, `Resolver.resolve`); plain multi-line text becomes a
literal block as `_Dumper` asks; anything else (quoting, block scalars that need hints, long
keys, floats, nested lists) is handed to PyYAML whole. `tests/test_emit.py` checks
the two agree on generated trees.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from .yaml_tags import STR, plain_tag


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
_LONGEST = 4096  # longer strings (the PreSync plan) are left to PyYAML, not analysed twice


def _plain(text: str) -> bool:
    """PyYAML would write `text` as a plain scalar in block context."""
    return len(text) <= _LONGEST and _plain_short(text)


@lru_cache(maxsize=8192)
def _plain_short(text: str) -> bool:
    if not _SIMPLE(text):
        if not text or "\n" in text:
            return False
        analysis = _analyze(text)
        if not analysis.allow_block_plain or analysis.multiline:
            return False
    return plain_tag(text) == STR


def _scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    if type(value) is str and _plain(value):
        return value
    raise _NotPlain


def _key(key: Any) -> str:
    if type(key) is str and len(key) < _SIMPLE_KEY_LIMIT and _plain(key):
        return key
    raise _NotPlain


# Lines of printable ASCII, none empty or starting or ending with a space, each ending in one
# line break: PyYAML writes these as a literal block with no indentation or chomping hint.
_LITERAL = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?\n)+").fullmatch


def _literal(text: str, pad: str) -> str:
    """The lines of a `|` block (the PreSync plan JSON) under a mapping key."""
    if not _LITERAL(text):
        raise _NotPlain
    return pad + text[:-1].replace("\n", "\n" + pad) + "\n"


def _mapping(out: list[str], mapping: dict[str, Any], indent: int, first: str) -> None:
    """`first` replaces the indentation of the first line: `- ` for a mapping in a list."""
    pad = " " * indent
    lead = first
    for key in sorted(mapping):
        value, name = mapping[key], _key(key)
        if type(value) is dict:
            if value:
                out.append(f"{lead}{name}:\n")
                _mapping(out, value, indent + 2, " " * (indent + 2))
            else:
                out.append(f"{lead}{name}: {{}}\n")
        elif type(value) is list:
            if value:
                out.append(f"{lead}{name}:\n")
                _sequence(out, value, indent)  # PyYAML does not indent a list in a mapping
            else:
                out.append(f"{lead}{name}: []\n")
        elif type(value) is str and "\n" in value:
            out.append(f"{lead}{name}: |\n")
            out.append(_literal(value, " " * (indent + 2)))
        else:
            out.append(f"{lead}{name}: {_scalar(value)}\n")
        lead = pad


def _sequence(out: list[str], items: list[Any], indent: int) -> None:
    pad = " " * indent
    for item in items:
        if type(item) is dict and item:
            _mapping(out, item, indent + 2, pad + "- ")
        elif type(item) in (dict, list):
            raise _NotPlain  # `- {}` and lists of lists: rare, left to PyYAML
        else:
            out.append(f"{pad}- {_scalar(item)}\n")


def pyyaml_dump(document: Any) -> str:
    """Keys sorted, block style, no line folding: what `dump` writes, all by PyYAML."""
    return yaml.dump(
        document, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1 << 16
    )


def dump(document: Any) -> str:
    """`document` as YAML, the same bytes as `pyyaml_dump(document)`."""
    if type(document) is dict and document:
        out: list[str] = []
        try:
            _mapping(out, document, 0, "")
            return "".join(out)
        except _NotPlain:
            pass
    return pyyaml_dump(document)
