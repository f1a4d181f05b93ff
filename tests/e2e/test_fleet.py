"""A fleet end to end: sipp calls through a real Kamailio front to two ``serve`` nodes.

The nodes share their state through a real redis-server when the rules can name it
(``state: {url: …}``); the tests that need one count across the nodes say so and need it.
Each test reads the fleet's journal the way an auditor would, with ``sipguard calls``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipguard.policy.model import Rules

from . import fleet as fl
from .harness import (
    ACME,
    NETWORK,
    Uas,
    environment_ok,
    free_port,
    run_uac,
    sipguard_command,
    sipp_args,
)

CALLER = "4008001234"
SHARED_STATE = "state" in Rules.model_fields
NEEDS_SHARED = pytest.mark.skipif(
    not SHARED_STATE, reason="these rules have no state: {url} key: serve nodes share no state"
)
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok())),
    pytest.mark.skipif(fl.KAMAILIO is None, reason="kamailio is not installed"),
    pytest.mark.skipif(fl.REDIS is None, reason="redis-server is not installed"),
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on a loopback port, without persistence."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [str(fl.REDIS), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    fl.wait_redis(port, proc)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def storage(redis_url: str) -> fl.Storage:
    """Where the fleet keeps state and journal: the one place to switch backends."""
    return fl.sqlite_journals(redis_url if SHARED_STATE else None)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, storage: fl.Storage) -> Iterator[fl.Fleet]:
    built = fl.build(tmp_path_factory.mktemp("fleet"), storage)
    try:
        yield built
    finally:
        codes = fl.stop(built)
        alive = {name: code for name, code in codes.items() if code != -9}
        assert all(code == 0 for code in alive.values()), alive


def inject(folder: Path, callees: list[str]) -> Path:
    path = folder / f"callees-{time.monotonic_ns()}.csv"
    path.write_text("SEQUENTIAL\n" + "".join(f"{c};\n" for c in callees))
    return path


def place_calls(fleet: fl.Fleet, folder: Path, callees: list[str], target: str,
                rate: int = 10) -> tuple[int, set[str], str]:  # fmt: skip
    """Calls from the Acme trunk to ``callees`` at ``target``: (sipp status, answered, log)."""
    keys = ("-key", "caller", CALLER, "-inf", str(inject(folder, callees)), "-m",
            str(len(callees)), "-r", str(rate), "-recv_timeout", "15000")  # fmt: skip
    run = run_uac(folder, "uac_fleet_call.xml", ACME, target, *keys, timeout=120)
    answered = {line.split()[-1] for line in run.logs.splitlines() if "ANSWERED" in line}
    return run.returncode, answered, run.output + run.errors


def network(fleet: fl.Fleet, folder: Path) -> Uas:
    return Uas(folder, "uas_call.xml", NETWORK, fleet.net_port, "-d", "0")


def front_of(fleet: fl.Fleet) -> str:
    return f"127.0.0.1:{fleet.front.port}"


def test_calls_spread_over_both_nodes_and_all_are_journaled(
    fleet: fl.Fleet, tmp_path: Path
) -> None:
    callees = fl.CALLEES[:20]
    uas = network(fleet, tmp_path)
    try:
        code, answered, out = place_calls(fleet, tmp_path, callees, front_of(fleet))
    finally:
        uas.kill()
    assert code == 0 and answered == set(callees), out[-3000:]
    rows = [r for r in fleet.calls("--caller", CALLER) if r["callee"] in set(callees)]
    assert sorted(str(r["callee"]) for r in rows) == sorted(callees)  # each call once
    by_node = {r["journal"] for r in rows}
    assert by_node == {"node1", "node2"}, "the front sent every call to one node"
    assert all(r["verdict"] == "allow" and str(r["source"]).startswith(f"{ACME}:") for r in rows)


@NEEDS_SHARED
def test_a_per_callee_daily_cap_holds_across_the_nodes(fleet: fl.Fleet, tmp_path: Path) -> None:
    callee = fl.CALLEES[100]
    uas = network(fleet, tmp_path)
    try:
        code, answered, out = place_calls(fleet, tmp_path, [callee] * fl.DAILY_CAP,
                                          front_of(fleet), rate=5)  # fmt: skip
    finally:
        uas.kill()
    assert code == 0 and answered == {callee}, out[-3000:]
    for node in fleet.nodes:  # straight at each node: the count is the fleet's, not its own
        keys = ("-key", "caller", CALLER, "-key", "callee", callee, "-m", "1")
        run = run_uac(tmp_path, "uac_reject.xml", ACME, f"127.0.0.1:{node.port}", *keys)
        assert "REASON 403 FREQUENCY_CAP" in run.logs, run.errors[-2000:]
    allowed = [r for r in fleet.calls("--callee", callee) if r["verdict"] == "allow"]
    assert len(allowed) == fl.DAILY_CAP


@NEEDS_SHARED
def test_a_suspension_through_one_nodes_admin_api_refuses_on_every_node(
    fleet: fl.Fleet, tmp_path: Path
) -> None:
    first = fleet.nodes[0]
    status, body = fleet.admin(first, "POST", f"/numbers/{CALLER}/suspend")
    assert status == 200 and body["suspended"] is True, body
    try:
        time.sleep(1.0)  # a node re-reads suspensions it did not make every half second
        for node in fleet.nodes:
            keys = ("-key", "caller", CALLER, "-key", "callee", fl.CALLEES[150], "-m", "1")
            run = run_uac(tmp_path, "uac_reject.xml", ACME, f"127.0.0.1:{node.port}", *keys)
            assert "REASON 403 NUMBER_SUSPENDED" in run.logs, run.errors[-2000:]
        refused = fleet.calls("--reason", "NUMBER_SUSPENDED")
        assert len(refused) >= len(fleet.nodes)
    finally:
        status, body = fleet.admin(first, "POST", f"/numbers/{CALLER}/resume")
        assert status == 200, body


def test_a_node_killed_mid_run_new_calls_go_to_the_other_and_no_record_is_lost(
    fleet: fl.Fleet, tmp_path: Path
) -> None:
    """Runs last: it leaves the fleet with one node."""
    callees = fl.CALLEES[30:60]
    uas = network(fleet, tmp_path)
    keys = ("-key", "caller", CALLER, "-inf", str(inject(tmp_path, callees)), "-m",
            str(len(callees)), "-r", "5", "-recv_timeout", "15000")  # fmt: skip
    args = [*sipp_args("uac_fleet_call.xml", ACME, free_port(ACME), tmp_path, "kill", *keys),
            front_of(fleet)]  # fmt: skip
    uac = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(2.0)
        victim = fleet.nodes[1]
        victim.kill()
        killed_at = time.time()
        out, _ = uac.communicate(timeout=120)
    finally:
        if uac.poll() is None:
            uac.kill()
        uas.kill()
    log = (tmp_path / "kill.log").read_text(errors="replace")
    answered = {line.split()[-1] for line in log.splitlines() if "ANSWERED" in line}
    rows = [r for r in fleet.calls("--caller", CALLER) if r["callee"] in set(callees)]
    journaled = {str(r["callee"]) for r in rows if r["verdict"] == "allow"}
    assert answered <= journaled, f"answered but not journaled: {answered - journaled}"
    # Only calls that were up on the killed node may fail; every later one is answered.
    assert len(answered) >= len(callees) - 3, out.decode(errors="replace")[-3000:]
    later = [r for r in rows if _epoch(str(r["time"])) > killed_at + 1.0]
    assert later and all(r["journal"] == "node1" for r in later)
    assert any(r["journal"] == "node2" for r in rows), "the killed node took no call before"
    for node in fleet.nodes:
        verify = subprocess.run([*sipguard_command(), "journal", "verify", "--rules",
                                 str(node.rules)], capture_output=True, text=True,
                                timeout=60, check=False)  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
