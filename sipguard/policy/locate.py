"""YAML text to plain Python data plus a map from every data path to its place in the file.

Invariants:
- The document is composed once with ``yaml.compose`` (safe loader); the data is built by
  walking the node graph, so each value's position is the start mark of its node.
- Positions are 1-based ``(line, col)``.  A mapping entry has two: its key (used for
  "unknown key" messages) and its value (used for everything else).
- Mapping keys are always the key's text, so ids such as ``123`` stay strings; a duplicate
  key is an issue (YAML would silently keep the last one).
- Scalars that YAML would turn into dates or numbers but that are invalid as such (e.g.
  ``2027-13-01``) are kept as text, so the schema reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]
Mark = tuple[int, int]

# Values whose literal text matters: ``number: 020612345`` must not become an octal int.
_TEXTUAL_KEYS = frozenset({"number", "country_code", "national_prefix", "licence"})


@dataclass(slots=True)
class Located:
    """The data of one YAML document and where each part of it was written."""

    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    problems: list[tuple[Mark, str]] = field(default_factory=list)

    def mark(self, path: Sequence[str | int], key: bool = False) -> Mark:
        """Position of ``path``, or of its longest existing prefix when it is absent."""
        probe: Path = tuple(path)
        while probe:
            found = self.keys.get(probe) if key else None
            if found is None:
                found = self.values.get(probe)
            if found is not None:
                return found
            probe = probe[:-1]
        return self.values.get((), (1, 1))


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.constructor = yaml.SafeLoader("")

    def build(self, node: Node, path: Path, textual: bool = False) -> Any:
        self.located.values[path] = _mark(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, textual)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.located.problems.append((_mark(key_node), "a mapping key must be a scalar"))
                continue
            key = str(key_node.value)
            if key in result:
                self.located.problems.append((_mark(key_node), f"duplicate key {key!r}"))
                continue
            self.located.keys[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key), key in _TEXTUAL_KEYS)
        return result

    def _scalar(self, node: ScalarNode, textual: bool) -> Any:
        if textual and node.style is None and node.tag != "tag:yaml.org,2002:null":
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError):
            return node.value


def locate_yaml(text: str) -> Located:
    """Compose ``text`` and return its data and marks; raise ``yaml.YAMLError`` on syntax."""
    located = Located(data=None)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        located.data = {}
        return located
    located.data = _Builder(located).build(node, ())
    return located


def yaml_error_mark(exc: yaml.YAMLError) -> Mark:
    """The 1-based position a YAML syntax error points at (the problem, else the context)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return (1, 1)
    return (mark.line + 1, mark.column + 1)
