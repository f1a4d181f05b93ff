"""YAML text to plain Python data plus a map from every data path to its place in the file.

Invariants:
- The document is composed once with ``yaml.compose`` (libyaml's safe loader when present,
  composing a large text event by event: ``yaml_steps``); the data is built by walking the
  node graph.
- Positions are 1-based ``(line, col)`` and found on demand by walking the node graph
  along a data path.  A mapping entry has two: its key (for "unknown key" messages) and
  its value (for everything else).
- Mapping keys are always the key's text, so ids such as ``123`` stay strings; a duplicate
  key is an issue (YAML would silently keep the last one).
- Scalars that YAML would turn into dates or numbers but that are invalid as such (e.g.
  ``2027-13-01``) are kept as text, so the schema reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeAlias

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sipguard.policy.yaml_steps import loader_for

Mark = tuple[int, int]
# What a document builds to: the safe loader's scalars, lists and maps keyed by text.
Yaml: TypeAlias = "str | int | float | bool | date | bytes | list[Yaml] | dict[str, Yaml] | None"

# Values whose literal text matters: ``number: 020612345`` must not become an octal int.
_TEXTUAL_KEYS = frozenset({"number", "country_code", "national_prefix", "licence"})


@dataclass(slots=True)
class Located:
    """The data of one YAML document, its node graph, and the problems found building it."""

    data: Yaml
    root: Node | None = None
    problems: list[tuple[Mark, str]] = field(default_factory=list)

    def mark(self, path: Sequence[str | int], *, key: bool = False) -> Mark:
        """Position of ``path`` (of its key when ``key``), or of its longest existing prefix.

        The node graph is walked on demand, so no position is stored for data that is fine.
        """
        node = self.root
        if node is None:
            return (1, 1)
        found = _mark(node)
        for step in path:
            child, key_node = _child(node, step)
            if child is None:
                return found
            node = child
            found = _mark(key_node) if key and key_node is not None else _mark(child)
        return found


def _child(node: Node, step: str | int) -> tuple[Node | None, Node | None]:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and str(key_node.value) == str(step):
                return value_node, key_node
    elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step], None
    return None, None


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"


class _Builder:
    def __init__(self, located: Located) -> None:
        self.problems = located.problems
        self.constructor = yaml.SafeLoader("")

    def build(self, node: Node, *, textual: bool = False) -> Yaml:
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG or (textual and not node.style and node.tag != _NULL_TAG):
                return str(node.value)
            return self._scalar(node)
        if isinstance(node, MappingNode):
            return self._mapping(node)
        assert isinstance(node, SequenceNode)
        return [self.build(item) for item in node.value]

    def _mapping(self, node: MappingNode) -> dict[str, Yaml]:
        result: dict[str, Yaml] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append((_mark(key_node), "a mapping key must be a scalar"))
                continue
            key = str(key_node.value)
            if key in result:
                self.problems.append((_mark(key_node), f"duplicate key {key!r}"))
                continue
            result[key] = self.build(value_node, textual=key in _TEXTUAL_KEYS)
        return result

    def _scalar(self, node: ScalarNode) -> Yaml:
        try:
            value: Yaml = self.constructor.construct_object(node, deep=True)
            return value
        except (ValueError, OverflowError, yaml.YAMLError):
            return str(node.value)


def locate_yaml(text: str) -> Located:
    """Compose ``text`` and return its data and marks; raise ``yaml.YAMLError`` on syntax."""
    node = yaml.compose(text, Loader=loader_for(text))
    located = Located(data={}, root=node)
    if node is not None:
        located.data = _Builder(located).build(node)
    return located


def yaml_error_mark(exc: yaml.YAMLError) -> Mark:
    """The 1-based position a YAML syntax error points at (the problem, else the context)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return (1, 1)
    return (mark.line + 1, mark.column + 1)
