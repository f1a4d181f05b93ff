"""The script Kamailio's app_python3 loads (``modparam("app_python3", "load", ...)``).

app_python3 imports this file by its path and calls its ``mod_init()``.  The directory holding
the ``sipguard`` package is put on ``sys.path`` here, so an editable or copied checkout works;
sipguard's dependencies come from the Python that Kamailio embeds, or from ``PYTHONPATH``
as ``sipguard kamailio run`` sets it (see docs/kamailio.md).
"""

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve()
# app_python3 puts this script's own directory first on sys.path; the adapters' modules
# must not become top-level names, so it is taken off again.
for _entry in (str(_HERE.parent), str(Path(__file__).parent)):
    while _entry in sys.path:
        sys.path.remove(_entry)
_ROOT = str(_HERE.parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Metrics (SIPGUARD_METRICS): prometheus-client must find its multiprocess directory set
# before it is first imported, so it is chosen here, ahead of the plugin.
from sipguard.adapters.kamailio.metrics_dir import prepare  # noqa: E402

prepare(os.environ, os.getpid())

from sipguard.adapters.kamailio.exporter import start_exporter  # noqa: E402
from sipguard.adapters.kamailio.plugin import SipguardKemi  # noqa: E402
from sipguard.gctune import tune_for_serving  # noqa: E402
from sipguard.journal.backends import journal_target, service_socket  # noqa: E402

__all__ = ["mod_init"]


def mod_init() -> SipguardKemi:
    """app_python3's entry point: build the plugin in Kamailio's main process.

    The journal service and the metrics exporter are started here, before the fork, so
    every worker finds them; so is the collector tuned, which every worker inherits.
    """
    import KSR  # provided by Kamailio's app_python3

    kemi = SipguardKemi(KSR)
    if kemi.watch is not None:
        kemi.start_service()
        target = journal_target(kemi.watch.rules)
        sock = service_socket(target, kemi.main_pid) if target is not None else None
        problem = start_exporter(kemi.env, sock, kemi.main_pid)
        if problem is not None:
            KSR.err(f"sipguard: {problem}\n")
    tune_for_serving()  # before the fork: every worker inherits it, and the frozen rules
    return kemi
