"""A bounded soak: steady calls for 20 s while the server's memory stays flat."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from .harness import ACME, NETWORK, Served, Uas, run_uac

RATE, SECONDS = 10, 20


@pytest.mark.slow
def test_rss_stays_flat_under_steady_calls(served: Served, tmp_path: Path) -> None:
    """200 calls at 10 CPS all complete and resident memory grows by under 8 MiB after warm-up."""
    calls = RATE * SECONDS
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(1.0):
            samples.append((time.monotonic() - start, served.rss_kib()))

    uas = Uas(tmp_path, "uas_call.xml", NETWORK, served.net_port, "-d", "0")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000")
        uac = run_uac(
            tmp_path, "uac_call.xml", ACME, f"{served.host}:{served.port}", *keys,
            "-m", str(calls), "-r", str(RATE), timeout=SECONDS + 30,
        )  # fmt: skip
    finally:
        stop.set()
        sampler.join()
        uas.kill()
    assert uac.returncode == 0, uac.errors[-2000:]
    warm = [rss for t, rss in samples if t >= 5]
    assert len(warm) >= 10, samples
    assert max(warm) - warm[0] < 8 * 1024, samples
