"""Architecture rules that keep the sans-IO core honest (see docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sipguard"
CORE = ("sip", "policy")
BRIDGE = ("screening.py",)
FORBIDDEN_IMPORTS = {"asyncio", "socket", "threading", "logging", "selectors", "subprocess"}
CLOCK_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("date", "today"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("time", "perf_counter"),
}


def core_files() -> list[Path]:
    files = [p for pkg in CORE for p in sorted((PACKAGE / pkg).rglob("*.py"))]
    files += [PACKAGE / name for name in BRIDGE if (PACKAGE / name).exists()]
    return files


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_does_no_io(path: Path) -> None:
    """A core module imports no I/O, threading or logging module and never reads the clock."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = {name.split(".")[0] for name in imported_modules(tree)}
    assert not roots & FORBIDDEN_IMPORTS, f"{path.name} imports {roots & FORBIDDEN_IMPORTS}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                assert (owner.id, node.func.attr) not in CLOCK_CALLS, (
                    f"{path.name}:{node.lineno} reads the clock"
                )


@pytest.mark.parametrize(("layer", "other"), [("sip", "policy"), ("policy", "sip")])
def test_sip_and_policy_never_import_each_other(layer: str, other: str) -> None:
    """``sipguard.sip`` and ``sipguard.policy`` stay independent leaves."""
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in imported_modules(tree):
            assert not name.startswith(f"sipguard.{other}"), f"{path} imports {name}"
            assert not name.startswith(("sipguard.adapters", "sipguard.cli"))


ADAPTERS = sorted(p.name for p in (PACKAGE / "adapters").iterdir() if (p / "__init__.py").exists())


def test_adapters_are_rooms() -> None:
    """Every adapter is a subpackage of its own; no loose modules sit beside them."""
    loose = [p.name for p in (PACKAGE / "adapters").glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    assert ADAPTERS == ["admin", "kamailio", "replay", "server"]


def test_import_contracts_name_every_adapter() -> None:
    """The import-linter independence contract lists exactly the adapter subpackages."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    independent = [c for c in contracts if c["type"] == "independence"]
    listed = {tuple(sorted(c["modules"])) for c in independent}
    assert tuple(f"sipguard.adapters.{name}" for name in ADAPTERS) in listed


def test_nothing_imports_the_cli() -> None:
    """Only the console script enters ``sipguard.cli``; no library module imports it."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] in ("cli", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in imported_modules(tree):
            assert not name.startswith("sipguard.cli"), f"{path} imports {name}"


# Sizes: modules of at most 300 lines; functions mostly short (median 10, 90th percentile 25
# lines) and none over 40.  A function counts from its ``def`` line to its last line.
MODULE_LINES, FUNCTION_LINES, MEDIAN_LINES, P90_LINES = 300, 40, 10, 25
# Over the limit today, to be split; a function that is split must leave this table.
LONG_FUNCTIONS: set[str] = set()


def function_sizes() -> dict[str, int]:
    """Every function and method of the package: ``module.py:name`` -> lines (the longest)."""
    sizes: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = f"{where}:{node.name}"
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                sizes[key] = max(lines, sizes.get(key, 0))
    return sizes


def test_no_module_is_over_300_lines() -> None:
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_40_lines() -> None:
    long = {key for key, n in function_sizes().items() if n > FUNCTION_LINES}
    assert long == LONG_FUNCTIONS


def test_functions_are_short_on_the_whole() -> None:
    sizes = sorted(function_sizes().values())
    assert len(sizes) > 500  # the whole package was read
    assert sizes[len(sizes) // 2] <= MEDIAN_LINES
    assert sizes[(len(sizes) * 9) // 10] <= P90_LINES


def test_the_architecture_tree_names_every_module() -> None:
    """docs/architecture.md's tree lists every module (capture/'s by their short names)."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = doc.split("```")[1]
    words = set(re.findall(r"[\w.]+", tree))
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" or path.parent == PACKAGE
        if path.name not in words and not (path.parent.name == "capture" and path.stem in words)
    ]
    assert missing == []
