"""Hot reload of a running server: a changed file takes effect, invalid rules keep the old."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ACME, Served, run_uac, serve_in

NEW_NUMBER = '  - {number: "4001112222", operator: acme, trunk: acme-sh-1, outbound: true}\n'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """A private server whose rules the test rewrites."""
    served = serve_in(tmp_path)
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def reason_for(served: Served, folder: Path, caller: str) -> str:
    """The Reason text the server answers a call from ``caller`` with."""
    keys = ("-key", "caller", caller, "-key", "callee", "13800138000", "-m", "1")
    run = run_uac(folder, "uac_reject.xml", ACME, f"{served.host}:{served.port}", *keys)
    assert run.returncode == 0, run.errors[-2000:]
    return run.logs.split("REASON ")[-1].split()[-1]


def wait_for(served: Served, text: str, timeout: float = 5.0) -> None:
    """Wait until the server log contains ``text``."""
    deadline = time.monotonic() + timeout
    while text not in served.log_text():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{served.log_text()[-2000:]}"
        time.sleep(0.1)


def test_edited_rules_apply_and_invalid_rules_are_refused(server: Served, tmp_path: Path) -> None:
    """Filing a number by editing the file changes its verdict; a broken file changes nothing."""
    rules = server.folder / "rules.yaml"
    assert reason_for(server, tmp_path, "4001112222") == "CALLER_UNREGISTERED"
    text = rules.read_text().replace("outbound:\n  require", NEW_NUMBER + "outbound:\n  require")
    rules.write_text(text)
    wait_for(server, "rules.reloaded")
    assert reason_for(server, tmp_path, "4001112222") == "NO_CONSENT"
    rules.write_text(text.replace("retention_days: 30", "retention_days: 7\nbogus_key: 1"))
    server.proc.send_signal(signal.SIGHUP)
    wait_for(server, "rules.reload_failed")
    invalid = [ln for ln in server.log_text().splitlines() if "rules.invalid" in ln]
    assert len(invalid) == 2 and all("rules.yaml:" in ln for ln in invalid), invalid
    assert reason_for(server, tmp_path, "4001112222") == "NO_CONSENT"
