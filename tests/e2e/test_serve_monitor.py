"""Hot reload switches a trunk between enforce and monitor without dropping a call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipguard.cli import main

from .harness import ACME, NETWORK, Served, Uas, free_port, run_uac, serve_in
from .test_serve_reload import reason_for

UNFILED = "4001112222"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "serve").mkdir()
    served = serve_in(tmp_path / "serve")
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def _set_mode(rules: Path, mode: str, served: Served, reloads: int) -> None:
    """Set trunk acme-sh-1's mode in the file and wait for the ``reloads``-th reload."""
    head = "trunks:\n  acme-sh-1:\n"
    before, rest = rules.read_text().split(head, 1)
    rest = rest.removeprefix("    mode: monitor\n").removeprefix("    mode: enforce\n")
    rules.write_text(f"{before}{head}    mode: {mode}\n{rest}")
    deadline = time.monotonic() + 10
    while served.log_text().count("rules.reloaded") < reloads:
        assert time.monotonic() < deadline, f"no reload {reloads}:\n{served.log_text()[-2000:]}"
        time.sleep(0.1)


def test_reload_to_monitor_and_back_keeps_the_call_up(server: Served, tmp_path: Path) -> None:
    """A call answered before the switch ends normally; the unfiled caller goes through while
    monitored, is journaled as monitored, and is refused again once enforcing."""
    rules = server.folder / "rules.yaml"
    assert reason_for(server, tmp_path, UNFILED) == "CALLER_UNREGISTERED"
    target = f"{server.host}:{server.port}"
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, server.net_port, "-m", "2", "-d", "0")
    keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000", "-m", "1")
    long_call = Uas(tmp_path, "uac_long_call.xml", ACME, free_port(ACME), *keys, target)
    try:
        deadline = time.monotonic() + 10
        while server.log_text().count("call.decision") < 2:  # the long call is decided
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            time.sleep(0.05)
        _set_mode(rules, "monitor", server, 1)
        assert long_call.proc.poll() is None  # still up across the reload
        keys = ("-key", "caller", UNFILED, "-key", "callee", "13800138000", "-m", "1")
        watched = run_uac(tmp_path, "uac_call.xml", ACME, target, *keys, "-d", "0")
        assert watched.returncode == 0, watched.errors[-2000:] + server.log_text()[-2000:]
        ended = long_call.wait(20)
        assert ended.returncode == 0, ended.errors[-2000:] + server.log_text()[-2000:]
        assert uas.wait(20).returncode == 0
    finally:
        long_call.kill()
        uas.kill()
    _set_mode(rules, "enforce", server, 2)
    assert reason_for(server, tmp_path, UNFILED) == "CALLER_UNREGISTERED"
    server_log = server.log_text()
    assert "CALLER_UNREGISTERED" in server_log
    rows = _monitored(rules)
    assert [(r["caller"], r["verdict"], r["monitored"]) for r in rows] == [
        (UNFILED, "allow", "CALLER_UNREGISTERED")
    ]


def _monitored(rules: Path) -> list[dict[str, object]]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["calls", "--rules", str(rules), "--monitored", "--format", "json"]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]
