"""Forwarded calls (rules 1.1 section 3) through ``sipguard serve`` between sipp peers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    ACME,
    NETWORK,
    Served,
    Uas,
    free_port,
    run_uac,
    sipp_args,
    start_serve,
    write_rules,
)

USER, AGENT, FILED = "13800138000", "13600136000", "95123"


@pytest.fixture(scope="module")
def forwarding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server whose Acme trunk forwards users' calls."""
    folder = tmp_path_factory.mktemp("forwarding")
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    rules = write_rules(folder, trunk_port, net_port)
    text = rules.read_text().replace(
        "    operator: acme\n", "    operator: acme\n    forwarding: true\n", 1
    )
    rules.write_text(text)
    server = start_serve(folder, rules, free_port(), trunk_port, net_port)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def _forward_rejected(served: Served, tmp_path: Path, diverting: str) -> str:
    keys = ("-key", "caller", USER, "-key", "callee", AGENT, "-key", "diverting", diverting)
    target = f"{served.host}:{served.port}"
    run = run_uac(tmp_path, "uac_forward_reject.xml", ACME, target, *keys, "-m", "1")
    assert run.returncode == 0, f"{run.errors[-2000:]}\n{run.output[-1000:]}"
    return run.logs


def test_a_forward_is_allowed_while_the_users_call_rings(
    forwarding: Served, tmp_path: Path
) -> None:
    """The user's inbound call rings at the trunk; its forward to an agent goes out."""
    served, target = forwarding, f"{forwarding.host}:{forwarding.port}"
    trunk = Uas(tmp_path, "uas_cancel.xml", ACME, served.trunk_port, "-m", "1")
    network = Uas(tmp_path, "uas_call.xml", NETWORK, served.net_port, "-m", "1", "-d", "0")
    inbound_keys = ("-key", "caller", USER, "-key", "callee", FILED, "-m", "1")
    args = [*sipp_args("uac_ring_cancel.xml", NETWORK, free_port(NETWORK), tmp_path, "in",
                       *inbound_keys), target]  # fmt: skip
    inbound = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # the inbound call is ringing at the trunk
        keys = ("-key", "caller", USER, "-key", "callee", AGENT, "-key", "diverting", FILED)
        run = run_uac(tmp_path, "uac_forward.xml", ACME, target, *keys, "-m", "1", "-d", "0")
        assert run.returncode == 0, f"{run.errors[-2000:]}\n{served.log_text()[-2000:]}"
        assert network.wait(15).returncode == 0
        code = inbound.wait(20)  # cancelled after 3 s: the inbound call has ended
        errors = (tmp_path / "in.err").read_text() if (tmp_path / "in.err").exists() else ""
        assert code == 0, errors[-2000:]
        assert trunk.wait(15).returncode == 0
    finally:
        for peer in (trunk, network):
            peer.kill()
        if inbound.poll() is None:
            inbound.kill()
            inbound.wait()
    # The user's call has ended: the same forward is now unverified.
    logs = _forward_rejected(served, tmp_path, FILED)
    assert "STATUS 403 REASON 403 FORWARD_UNVERIFIED" in logs


def test_a_forward_naming_another_trunks_number_is_unverified(
    forwarding: Served, tmp_path: Path
) -> None:
    logs = _forward_rejected(forwarding, tmp_path, "4006601234")
    assert "STATUS 403 REASON 403 FORWARD_UNVERIFIED" in logs


def test_without_forwarding_a_forward_is_a_v1_call(served: Served, tmp_path: Path) -> None:
    """On a trunk with forwarding: false, the user's number is simply not filed."""
    logs = _forward_rejected(served, tmp_path, FILED)
    assert "STATUS 403 REASON 403 CALLER_UNREGISTERED" in logs
