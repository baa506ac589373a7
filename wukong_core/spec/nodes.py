"""PyYAML's composed nodes -> plain values, bounded, with the line of any field.

We build plain Python values from the node tree ourselves (the LibYAML composer when present)
so that duplicate keys, alias bombs and runaway nesting are refused instead of silently accepted
or expanded, and so that positions stay at hand: `line_of` finds the line of a field only when
an error needs one. Knows YAML, not Wukong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from wukong_core.caches import PassMemo
from wukong_core.spec.yaml_tags import plain_tag


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader with plain scalars resolved through a memo (a third of a load)."""

    tags: PassMemo[str, str] | None = None  # set per load: `Caches.tags`

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        # A safe loader has no path resolvers, so a plain scalar's tag depends on its text only.
        if kind is yaml.ScalarNode and implicit[0]:
            return plain_tag(value, self.tags)
        return super().resolve(kind, value, implicit)


_SCALARS = yaml.SafeLoader.yaml_constructors
MAX_NODES = 10_000  # a real spec has ~50; an alias bomb has billions
MAX_DEPTH = 64
MERGE = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"


class Refused(Exception):
    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.node = node


class Builder:
    """Node tree -> plain values, counting nodes so aliases cannot expand without bound."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.count = 0

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _too_many(node)
        if depth > MAX_DEPTH:
            raise Refused(f"document is nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, depth + 1) for child in node.value]
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, depth)
        raise Refused("unsupported YAML node", node)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == STR_TAG:
            return node.value
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # as Kubernetes reads YAML: a string, not a datetime
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise Refused(f"unsupported YAML tag {node.tag}", node)
        try:
            return construct(self.loader, node)
        except (ValueError, ArithmeticError, KeyError) as e:  # `!!int abc`, 5,000-digit ints
            kind = node.tag.rsplit(":", 1)[-1]
            raise Refused(f"{node.value[:40]!r} is not a valid YAML {kind}", node) from e

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges = False
        inline = depth < MAX_DEPTH  # deeper, `build` refuses the children
        for key_node, value_node in node.value:
            if inline and key_node.tag == STR_TAG and type(key_node) is yaml.ScalarNode:
                self.count += 1  # the usual key, built inline (a third of all nodes)
                if self.count > MAX_NODES:
                    raise _too_many(key_node)
                key = key_node.value
            elif key_node.tag == MERGE:
                merges = True
                continue
            else:
                key = self.build(key_node, depth + 1)
                if not isinstance(key, str | int | bool | float) and key is not None:
                    raise Refused("mapping keys must be plain scalars", key_node)
            if key in result:
                raise Refused(f"duplicate key {key!r}: YAML keys must be unique", key_node)
            if inline and value_node.tag == STR_TAG and type(value_node) is yaml.ScalarNode:
                self.count += 1  # likewise the usual value
                if self.count > MAX_NODES:
                    raise _too_many(value_node)
                result[key] = value_node.value
            else:
                result[key] = self.build(value_node, depth + 1)
        # `<<: *defaults` merge keys: the mapping's own keys win, then earlier sources.
        for source in merge_sources(node) if merges else ():
            merged = self.build(source, depth + 1)
            if not isinstance(merged, dict):
                raise Refused("a merge key (<<) takes a mapping or a list of mappings", source)
            for key, value in merged.items():
                result.setdefault(key, value)
        return result


def _too_many(node: yaml.Node) -> Refused:
    return Refused(f"document expands to more than {MAX_NODES} values (a YAML alias bomb?)", node)


def merge_sources(node: yaml.MappingNode) -> list[yaml.Node]:
    """The nodes a mapping's `<<` keys merge in, strongest first."""
    sources: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE:
            many = isinstance(value_node, yaml.SequenceNode)
            sources += value_node.value if many else [value_node]
    return sources


def child(
    node: yaml.Node, step: str | int, seen: set[int] | None = None
) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) for a mapping key (its own, else merged in), (item, item) for a
    list index."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key_node, value_node in node.value:
            own = key_node.tag != MERGE and isinstance(key_node, yaml.ScalarNode)
            if own and key_node.value == step:
                return key_node, value_node
        seen = set() if seen is None else seen
        seen.add(id(node))  # merges can be recursive (`&a {<<: *a}`)
        for source in merge_sources(node):
            found = None if id(source) in seen else child(source, step, seen)
            if found is not None:
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step], node.value[step]
    return None


def line_of(root: yaml.Node, path: Iterable[str | int]) -> int:
    """1-based line of the deepest node on `path` that exists (a key's own line for keys)."""
    line = root.start_mark.line + 1
    node = root
    for step in path:
        found = child(node, step)
        if found is None:
            break
        line = found[0].start_mark.line + 1
        node = found[1]
    return line


def scalar_at(node: yaml.Node, key: str) -> str | None:
    found = child(node, key)
    return found[1].value if found and isinstance(found[1], yaml.ScalarNode) else None
