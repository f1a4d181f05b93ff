"""A private redis-server for tests: one loopback port, no persistence, always stopped.

Use the ``redis_url`` fixture (module-scoped; the journal and end-to-end conftests expose
it), or the context manager where a fixture does not fit::

    from tests.redis_server import REDIS, running

    with running(folder) as url:      # redis://127.0.0.1:PORT/0
        ...

``REDIS`` is the path of the ``redis-server`` binary, None when it is not installed: the
tests that need it skip on that.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS = shutil.which("redis-server")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    """Until the server answers PING on ``port``; TimeoutError if it exits or is too slow."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"redis-server did not start on port {port}")


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[str]:
    """A redis-server working in ``workdir`` for the ``with`` block; yields its URL."""
    if REDIS is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for the test module; skips when redis-server is absent."""
    if REDIS is None:
        pytest.skip("redis-server binary not installed")
    with running(tmp_path_factory.mktemp("redis")) as url:
        yield url
