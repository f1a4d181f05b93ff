"""A YAML loader that composes a large document event by event, in short C calls.

libyaml's composer (``yaml.CSafeLoader``) builds the whole node graph inside one C call,
which holds the GIL throughout: about 0.2 s for the rules of 10,000 trunks, during which a
hot reload's worker thread stops the event loop.  ``SteppedLoader`` takes each parse event
from libyaml (one short C call) and composes the nodes with PyYAML's own Python composer,
so the interpreter can hand the GIL to the loop between events.

Invariants:
- ``SteppedLoader`` composes the same node graph as ``yaml.CSafeLoader`` (same tags, values,
  styles and marks) and raises the same errors at the same marks (PyYAML's message of an
  undefined alias also names it); the scanning and parsing are libyaml's in both.
  tests/policy/test_yaml_steps.py pins the two together.
- ``loader_for(text)`` picks libyaml's composer for texts up to ``STEPPED_FROM`` characters
  (a few milliseconds of work) and ``SteppedLoader`` above it.
"""

from __future__ import annotations

import yaml
from yaml.composer import Composer

_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
#: Texts longer than this are composed event by event (libyaml composes ~6 MB/s).
STEPPED_FROM = 128 * 1024


if _C_LOADER is not None:

    class SteppedLoader(Composer, _C_LOADER):  # type: ignore[misc, valid-type]
        """libyaml's events, PyYAML's composer: ``CSafeLoader`` in short C calls."""

        def __init__(self, stream: str) -> None:
            _C_LOADER.__init__(self, stream)  # type: ignore[misc]
            Composer.__init__(self)


def loader_for(text: str) -> type[yaml.SafeLoader]:
    """The loader to compose ``text`` with: short C calls for a large text."""
    if _C_LOADER is None:
        return yaml.SafeLoader
    if len(text) > STEPPED_FROM:
        return SteppedLoader
    return _C_LOADER
