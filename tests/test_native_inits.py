"""The hand-written ``__init__`` of a compiled dataclass is the one ``@dataclass`` would write.

mypyc runs a dataclass's generated ``__init__`` as interpreted code (about 400 ns for a
frozen one), but compiles an explicit ``__init__`` to native stores (about 30 ns), so the
classes built per message declare ``init=False`` and write it out.  This test holds each
such ``__init__`` to its fields, read from the source: the same parameters in the same
order, the same annotations and defaults (a ``default_factory`` field takes ``None`` and
builds the default), and one store per field, in order, of the parameter itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sipguard import build

ROOT = Path(__file__).resolve().parents[1]
Field = tuple[str, str, str | None, str | None]  # name, annotation, default, factory


def _segment(source: str, node: ast.AST | None) -> str | None:
    return None if node is None else ast.get_source_segment(source, node)


def _is_handwritten(cls: ast.ClassDef, source: str) -> bool:
    return any(
        (_segment(source, d) or "").startswith("dataclass(")
        and "init=False" in (_segment(source, d) or "")
        for d in cls.decorator_list
    )


def _fields(cls: ast.ClassDef, source: str) -> list[Field]:
    found: list[Field] = []
    for node in cls.body:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name):
            continue
        annotation = _segment(source, node.annotation) or ""
        value = _segment(source, node.value)
        factory = None
        if value is not None and value.startswith("field("):
            call = node.value
            assert isinstance(call, ast.Call)
            words = {k.arg: _segment(source, k.value) for k in call.keywords}
            factory, value = words.get("default_factory"), words.get("default")
        found.append((node.target.id, annotation, value, factory))
    return found


def _classes() -> list[tuple[str, ast.ClassDef, str]]:
    out = []
    for name in build.sources(ROOT):
        source = (ROOT / name).read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef) and _is_handwritten(node, source):
                out.append((f"{name}:{node.name}", node, source))
    return out


CLASSES = _classes()


def test_the_classes_built_per_message_write_their_init() -> None:
    names = {where.rpartition(":")[2] for where, _, _ in CLASSES}
    assert {"Request", "Response", "Via", "SipUri", "Transmit", "TxTimer", "Transaction"} <= names


@pytest.mark.parametrize(("where", "cls", "source"), CLASSES, ids=[c[0] for c in CLASSES])
def test_the_init_is_the_generated_one(where: str, cls: ast.ClassDef, source: str) -> None:
    fields = _fields(cls, source)
    (init,) = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    params = init.args.args[1:]
    assert [p.arg for p in params] == [f[0] for f in fields], where
    defaults = [None] * (len(params) - len(init.args.defaults)) + list(init.args.defaults)
    frozen = "frozen=True" in (_segment(source, cls.decorator_list[0]) or "")
    stores = _stores(init, source, frozen=frozen)
    for param, default, (name, annotation, value, factory) in zip(
        params, defaults, fields, strict=True
    ):
        wanted = f"{annotation} | None" if factory else annotation
        assert _segment(source, param.annotation) == wanted, (where, name)
        assert _segment(source, default) == ("None" if factory else value), (where, name)
        fresh = {"dict": "{}", "list": "[]"}.get(factory or "", f"{factory}()")  # {} and []
        built = f"{fresh} if {name} is None else {name}" if factory else name
        assert stores.pop(0) == (name, built), (where, name)
    assert stores == [], where


def _stores(init: ast.FunctionDef, source: str, *, frozen: bool) -> list[tuple[str, str]]:
    """(field, value source) of each store in ``init``, in order."""
    out: list[tuple[str, str]] = []
    for stmt in init.body:
        if frozen:
            assert isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            assert _segment(source, stmt.value.func) == "object.__setattr__"
            _, name, value = stmt.value.args
            assert isinstance(name, ast.Constant)
            out.append((str(name.value), _segment(source, value) or ""))
            continue
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
        target, value = stmt.targets[0], stmt.value
        pairs = (
            zip(target.elts, value.elts, strict=True)
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
            else [(target, value)]
        )
        for t, v in pairs:
            assert isinstance(t, ast.Attribute) and _segment(source, t.value) == "self"
            out.append((t.attr, _segment(source, v) or ""))
    return out
