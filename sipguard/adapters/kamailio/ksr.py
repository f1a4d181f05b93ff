"""The type of Kamailio's KSR objects, as the plugin's modules take them.

Invariants:
- app_python3 provides ``KSR`` and its sub-modules (``KSR.pv``, ``KSR.hdr``, ``KSR.tm``,
  ``KSR.htable``...) at run time, with no type information: each function returns an int
  code, or a pseudo-variable's value (str, int or None), as Kamailio's KEMI documentation
  states.  ``Ksr`` names that untyped boundary once, for the module and its sub-modules
  alike, and nothing else in the plugin is typed loosely.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Ksr: TypeAlias = Any  # KSR, KSR.pv, KSR.htable...: Kamailio's untyped run-time objects
