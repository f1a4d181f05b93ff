"""The journal service's process helpers: its lock file, and whether a watched pid lives.

Invariants:
- The lock on ``<socket>.lock`` is exclusive and held for the service's whole life, with
  the holder's pid written in it, so one service runs per journal and a tool can tell which.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO


def alive(pid: int) -> bool:
    """True while a process ``pid`` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_lock(socket_path: Path) -> TextIO | None:
    """The service's lock file, held, with this pid in it; None if another service holds it."""
    handle = open(f"{socket_path}.lock", "a")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
