"""Which modules are compiled with mypyc, and whether the running code is that build.

The call path (the SIP core, the call core, the policy and the bridge between them) is
plain, strictly typed Python that mypyc compiles to C extension modules at install time
(``setup.py``); the same source runs interpreted when it is not compiled, with the same
behaviour.  This module is read by ``setup.py`` before the package can be imported, so it
imports nothing of sipguard.

Invariants:
- :func:`sources` lists, relative to the project root, every module that is compiled: each
  module of :data:`PACKAGES` and :data:`MODULES` but those in :data:`INTERPRETED`.
- :func:`state` reports ``compiled`` only when every listed module would load from its
  extension and no extension is older than its source; ``interpreted`` when none would; a
  build that a source edit has outdated, or that left an extension of a module no longer
  listed (it would shadow the source), is ``stale`` and names the modules.
- :func:`prefer_source`, installed before sipguard is imported, makes every sipguard module
  load from its source even where an extension sits beside it: the fuzzers (whose coverage
  is of Python lines) and the test that runs the call core's tests on the interpreted code.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: Packages whose modules are compiled (every ``.py`` file directly in them).
PACKAGES = ("sipguard/sip", "sipguard/b2bua", "sipguard/policy")
#: Single modules compiled besides them: the bridge and its helpers, the server shell's
#: per-datagram glue (its UDP endpoint, timer heap and journal gate), the journal entries
#: and wire frames built for every call, serve's journal client, and the journal service's
#: request loop (its state ops, commit pacing and replies).  The socket readers of the
#: client and the service (``asyncio.Protocol`` subclasses), the service's SQLite store
#: (whose methods tests replace to fail a commit) and logging (its stream is weakly
#: referenced by structlog) stay interpreted.
MODULES = (
    "sipguard/memo.py",
    "sipguard/sighting.py",
    "sipguard/screening.py",
    "sipguard/adapters/server/journal_futures.py",
    "sipguard/adapters/server/journal_gate.py",
    "sipguard/adapters/server/shell.py",
    "sipguard/adapters/server/timers.py",
    "sipguard/adapters/server/udp.py",
    "sipguard/journal/aclient.py",
    "sipguard/journal/behind.py",
    "sipguard/journal/cache.py",
    "sipguard/journal/entries.py",
    "sipguard/journal/pacing.py",
    "sipguard/journal/record.py",
    "sipguard/journal/replies.py",
    "sipguard/journal/service.py",
    "sipguard/journal/wire.py",
)
#: Modules of those packages that stay interpreted: pydantic's models and the YAML loader
#: around them (read once per load, and built on classes mypyc cannot compile), and the
#: nanosecond ``Instant``, a subclass of ``datetime``, which a compiled class cannot be.
INTERPRETED = (
    "sipguard/policy/instant.py",
    "sipguard/policy/load.py",
    "sipguard/policy/model.py",
    "sipguard/policy/schema_keys.py",
    "sipguard/policy/values.py",
    "sipguard/policy/yaml_steps.py",
)
ROOT = Path(__file__).resolve().parents[1]


def sources(root: Path = ROOT) -> list[str]:
    """The compiled modules' files, relative to ``root``, in a stable order."""
    found = [str(p.relative_to(root)) for pkg in PACKAGES for p in (root / pkg).glob("*.py")]
    found += [m for m in MODULES if (root / m).is_file()]
    return sorted(set(found) - set(INTERPRETED))


def module_name(source: str) -> str:
    """``sipguard/sip/wire.py`` -> ``sipguard.sip.wire`` (a package's ``__init__``: the package)."""
    name = source.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


@dataclass(frozen=True, slots=True)
class BuildState:
    """What the installed modules are: ``compiled``, ``interpreted``, ``partial`` or ``stale``."""

    kind: str
    compiled: int
    total: int
    stale: tuple[str, ...] = ()


def _extension_of(name: str) -> Path | None:
    """The extension file that ``import name`` would load, or None when it loads source."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        return Path(spec.origin)
    return None


def _extensions_in(root: Path) -> list[str]:
    """The modules of the package that have an extension file beside their source."""
    found = []
    for ext in (root / "sipguard").rglob("*.so"):
        source = ext.with_name(ext.name.split(".", 1)[0] + ".py")
        if source.is_file():
            found.append(module_name(str(source.relative_to(root))))
    return found


def state(root: Path = ROOT) -> BuildState:
    """The build state of the modules listed by :func:`sources` (see the module header)."""
    names = sources(root)
    compiled, stale = 0, []
    for source in names:
        ext = _extension_of(module_name(source))
        if ext is None:
            continue
        compiled += 1
        if (root / source).stat().st_mtime > ext.stat().st_mtime:
            stale.append(module_name(source))
    listed = {module_name(source) for source in names}
    stale += sorted(m for m in _extensions_in(root) if m not in listed)
    if stale:
        return BuildState("stale", compiled, len(names), tuple(stale))
    kind = "compiled" if compiled == len(names) else "interpreted" if not compiled else "partial"
    return BuildState(kind, compiled, len(names))


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds sipguard's modules as :class:`importlib.machinery.PathFinder` does, but from
    their ``.py`` file when an extension of the same name would shadow it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "sipguard" and not fullname.startswith("sipguard."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec
        assert spec.origin is not None
        origin = Path(spec.origin)
        if spec.submodule_search_locations is not None:  # a package: its __init__.py
            return importlib.util.spec_from_file_location(
                fullname,
                origin.with_name("__init__.py"),
                submodule_search_locations=list(spec.submodule_search_locations),
            )
        leaf = fullname.rpartition(".")[2]
        return importlib.util.spec_from_file_location(fullname, origin.with_name(f"{leaf}.py"))


def prefer_source() -> None:
    """Load sipguard's modules from source from now on (see the module header)."""
    if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())
