"""``SteppedLoader`` composes the node graph libyaml's composer does, errors included."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from yaml.nodes import MappingNode, Node, ScalarNode

from sipguard.policy.locate import locate_yaml, yaml_error_mark
from sipguard.policy.yaml_steps import STEPPED_FROM, SteppedLoader, loader_for

DATA = Path(__file__).resolve().parent.parent / "data" / "rules"
C_LOADER = yaml.CSafeLoader


def _shape(node: Node | None) -> object:
    """Everything of a node graph that a reader can see: kind, tag, value, style, marks."""
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column, node.end_mark.index)
    if isinstance(node, ScalarNode):
        return ("scalar", node.tag, node.value, node.style or "", where)
    if isinstance(node, MappingNode):
        pairs = [(_shape(k), _shape(v)) for k, v in node.value]
        return ("map", node.tag, node.flow_style, pairs, where)
    return ("seq", node.tag, node.flow_style, [_shape(v) for v in node.value], where)


def _both(text: str) -> tuple[object, object]:
    return (
        _shape(yaml.compose(text, Loader=C_LOADER)),
        _shape(yaml.compose(text, Loader=SteppedLoader)),
    )


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")), ids=lambda p: p.name)
def test_the_rules_files_compose_alike(path: Path) -> None:
    c, stepped = _both(path.read_text(encoding="utf-8"))
    assert c == stepped and c is not None


_scalar = st.one_of(
    st.text(alphabet="abc019 -:.'\"", max_size=8).map(repr),
    st.sampled_from(["020612345", "2027-13-01", "yes", "~", "1.5", "&a x", "*a", "|\n  z"]),
)
_docs = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.sampled_from(["k", "n", "number", "k"]), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=8,
)


@given(_docs)
@settings(max_examples=150, deadline=None)
def test_any_document_composes_alike_or_fails_alike(text: str) -> None:
    """Same graph, or the same kind of error at the same mark (anchors and aliases too)."""
    assert _outcome(text, C_LOADER) == _outcome(text, SteppedLoader)


def _outcome(text: str, loader: type[yaml.SafeLoader]) -> object:
    try:
        return _shape(yaml.compose(text, Loader=loader))
    except yaml.YAMLError as exc:  # PyYAML's message may also name the alias: not compared
        return type(exc).__name__, yaml_error_mark(exc), getattr(exc, "problem", "")[:21]


def test_two_documents_fail_alike() -> None:
    for loader in (C_LOADER, SteppedLoader):
        with pytest.raises(yaml.composer.ComposerError, match="single document"):
            yaml.compose("a: 1\n---\nb: 2\n", Loader=loader)


def test_large_texts_are_composed_stepwise_and_locate_the_same() -> None:
    """Above the threshold the stepped loader is chosen; data and marks are unchanged."""
    body = "".join(f"t{i}:\n  operator: op{i % 7}\n  peers: [\"10.0.0.{i % 250}\"]\n"
                   for i in range(STEPPED_FROM // 30))  # fmt: skip
    assert len(body) > STEPPED_FROM
    assert loader_for(body) is SteppedLoader and loader_for("a: 1\n") is C_LOADER
    c, stepped = _both(body)
    assert c == stepped
    located = locate_yaml(body)
    assert located.mark(("t5", "peers")) == (18, 10)
    assert located.data == yaml.load(body, Loader=C_LOADER)
