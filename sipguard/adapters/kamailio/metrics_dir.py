"""Where the plugin's workers keep their metrics: chosen before prometheus-client loads.

Invariants:
- prometheus-client picks its multiprocess mode when it is first imported, so
  :func:`prepare` runs in ``kemi.py`` before anything imports sipguard's metrics, and
  imports nothing that does.
- Metrics are on only with ``SIPGUARD_METRICS`` (the exporter's ``HOST:PORT``).  The
  directory is ``PROMETHEUS_MULTIPROC_DIR`` when set, else one of this Kamailio's own in
  the temporary folder; its files of an earlier run are removed, so nothing counts twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import MutableMapping
from pathlib import Path

ENV = "SIPGUARD_METRICS"
DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(environ: MutableMapping[str, str], main_pid: int) -> Path | None:
    """Choose and empty the multiprocess directory; None when metrics are off."""
    if not environ.get(ENV):
        return None
    default = Path(tempfile.gettempdir()) / f"sipguard-metrics-{main_pid}"
    folder = Path(environ.get(DIR_ENV) or default)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    environ[DIR_ENV] = str(folder)
    return folder
