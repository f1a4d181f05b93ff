"""serve suspends a number whose answered calls hang up after 1 s (sipp on both sides)."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipguard.cli import main

from .harness import ACME, NETWORK, Served, Uas, run_uac, serve_in
from .test_serve_alerts import _refused

SHORT = "  short_calls: {seconds: 6, ratio: 0.6, over_last: 3}\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "serve").mkdir()
    served = serve_in(tmp_path / "serve")
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def test_three_one_second_calls_suspend_the_number(server: Served, tmp_path: Path) -> None:
    rules = server.folder / "rules.yaml"
    text = rules.read_text().replace(
        '  violation_window: "1h"\n', '  violation_window: "1h"\n' + SHORT
    )
    rules.write_text(text)
    deadline = time.monotonic() + 10
    while "rules.reloaded" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.1)
    target = f"{server.host}:{server.port}"
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, server.net_port, "-m", "3", "-d", "0")
    try:
        keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000")
        calls = run_uac(tmp_path, "uac_short_call.xml", ACME, target, *keys, "-m", "3", "-d", "0")
        assert calls.returncode == 0, calls.errors[-2000:] + server.log_text()[-2000:]
        assert uas.wait(20).returncode == 0
    finally:
        uas.kill()
    deadline = time.monotonic() + 5
    while "number.suspended" not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()[-2000:]
        time.sleep(0.1)
    assert _refused(server, tmp_path) == "NUMBER_SUSPENDED"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            main(
                ["journal", "entries", "--rules", str(rules), "--kind", "admin", "--format", "json"]
            )
            == 0
        )
    admin = [json.loads(line) for line in out.getvalue().splitlines()]
    assert any(e.get("number") == "4008001234" and "SHORT_CALLS" in json.dumps(e) for e in admin), (
        admin
    )
