"""The journal's integer columns are the fields ``Entry`` declares as integers."""

from __future__ import annotations

import ast
from pathlib import Path

from sipguard.journal import record
from sipguard.journal.record import COLUMNS, INTEGER_COLUMNS


def _declared() -> dict[str, str]:
    """Each field of ``Entry`` and its annotation, as written in the source."""
    source = Path(record.__file__).with_name("record.py")  # beside a compiled build's extension
    tree = ast.parse(source.read_text())
    entry = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Entry")
    return {
        n.target.id: ast.unparse(n.annotation)
        for n in entry.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }


def test_integer_columns_are_the_int_fields() -> None:
    declared = _declared()
    assert tuple(declared) == COLUMNS
    assert {name for name, hint in declared.items() if hint.startswith("int")} == INTEGER_COLUMNS
    assert all(hint.startswith(("int", "str")) for hint in declared.values())
