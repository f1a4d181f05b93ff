"""Fixtures for the plugin tests: journal services a test started are stopped after it."""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest


def _held_by(lock: Path) -> int | None:
    """The pid of the live service holding ``lock``, or None if no process holds it."""
    with lock.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@pytest.fixture(autouse=True)
def _services_stopped(tmp_path: Path) -> Iterator[None]:
    """The journal services of a test's own folder end with the test, not with pytest."""
    yield
    for lock in tmp_path.rglob("*.sock.lock"):
        pid = _held_by(lock)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
