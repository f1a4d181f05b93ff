"""A fleet end to end: sipp calls through a real Kamailio front to two ``serve`` nodes.

The nodes share their state through a real redis-server when the rules can name it
(``state: {url: …}``), and one journal in a private PostgreSQL cluster when sipguard has
the PostgreSQL journal (else each node keeps an SQLite journal): the ``storage`` fixture is
the one place that chooses.  The tests that need a count shared across the nodes are marked
so.  Each test reads the fleet's journal the way an auditor would, with ``sipguard calls``,
and tells which node placed a call from the callee's side (the top Via of leg B).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipguard.policy.model import Journal, Rules
from tests.redis_server import REDIS

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
    pytest.mark.skipif(REDIS is None, reason="redis-server is not installed"),
]


def postgres() -> object | None:
    """The private PostgreSQL cluster helper, when this sipguard has the PostgreSQL journal."""
    if not (SHARED_STATE and "url" in Journal.model_fields):
        return None
    try:
        from tests import pg_cluster
    except ImportError:
        return None
    return pg_cluster if pg_cluster.pg_available() else None


@pytest.fixture(scope="module")
def storage(redis_url: str) -> Iterator[fl.Storage]:
    """Where the fleet keeps state and journal: the one place to switch backends.

    Redis state and one PostgreSQL journal when this sipguard has both; else SQLite
    journals, one per node (and Redis state when the rules can name it).
    """
    pg: Any = postgres()
    if pg is None:
        yield fl.sqlite_journals(redis_url if SHARED_STATE else None)
        return
    with pg.running_cluster() as cluster:
        yield fl.postgres_journal(redis_url, cluster.create_database("fleet"))


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


def network(fleet: fl.Fleet, folder: Path, scenario: str = "uas_fleet_call.xml") -> Uas:
    return Uas(folder, scenario, NETWORK, fleet.net_port, "-d", "0")


def legs(uas: Uas) -> dict[str, int]:
    """callee -> port of the node that placed the call's leg B (from the callee's log)."""
    uas.kill()
    return fl.legs(uas.folder, uas.tag)


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
        placed = legs(uas)
    assert code == 0 and answered == set(callees), out[-3000:]
    assert set(placed.values()) == {n.port for n in fleet.nodes}, "one node took every call"
    rows = [r for r in fleet.calls("--caller", CALLER) if r["callee"] in set(callees)]
    assert sorted(str(r["callee"]) for r in rows) == sorted(callees)  # each call once
    assert all(r["verdict"] == "allow" and str(r["source"]).startswith(f"{ACME}:") for r in rows)


def test_cancel_and_a_callee_hangup_cross_the_front(fleet: fl.Fleet, tmp_path: Path) -> None:
    """A CANCEL follows its INVITE to the node; the callee's BYE returns along the front's route."""
    for uac, uas_scenario in (("uac_cancel_either_order.xml", "uas_cancel.xml"),
                              ("uac_callee_hangs_up.xml", "uas_hangs_up.xml")):  # fmt: skip
        uas = Uas(tmp_path, uas_scenario, NETWORK, fleet.net_port, "-m", "1", "-d", "0")
        try:
            keys = ("-key", "caller", CALLER, "-key", "callee", fl.CALLEES[190], "-m", "1")
            run = run_uac(tmp_path, uac, ACME, front_of(fleet), *keys)
            callee = uas.wait(15)
        finally:
            uas.kill()
        assert run.returncode == 0, f"{uac}: {run.errors[-2000:]}\n{run.output[-1500:]}"
        assert callee.returncode == 0, f"{uas_scenario}: {callee.errors[-2000:]}"


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
    why = {"why": "complaints about repeated calls"}
    status, body = fleet.admin(first, "POST", f"/numbers/{CALLER}/suspend", why)
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


def test_a_node_answering_503_passes_its_calls_to_the_other(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A node at its call limit answers 503; the front re-sends those INVITEs to the next."""
    busy = fl.build(tmp_path_factory.mktemp("busy"), fl.sqlite_journals(None),
                    node_args=(("--max-calls", "0"),))  # fmt: skip
    try:
        callees = fl.CALLEES[70:80]
        uas = network(busy, tmp_path)
        try:
            code, answered, out = place_calls(busy, tmp_path, callees, front_of(busy))
        finally:
            placed = legs(uas)
        assert code == 0 and answered == set(callees), out[-3000:]
        assert set(placed.values()) == {busy.nodes[1].port}
        assert "fails over" in busy.front.log.read_text(errors="replace")
        assert [r["journal"] for r in busy.calls()] == ["node2"] * len(callees)
    finally:
        fl.stop(busy)


def test_a_node_killed_mid_run_new_calls_go_to_the_other_and_no_record_is_lost(
    fleet: fl.Fleet, tmp_path: Path
) -> None:
    """Runs last: one node is killed under load, then started again."""
    callees = fl.CALLEES[30:60]
    uas = network(fleet, tmp_path)
    keys = ("-key", "caller", CALLER, "-inf", str(inject(tmp_path, callees)), "-m",
            str(len(callees)), "-r", "5", "-recv_timeout", "15000")  # fmt: skip
    args = [*sipp_args("uac_fleet_call.xml", ACME, free_port(ACME), tmp_path, "kill", *keys),
            front_of(fleet)]  # fmt: skip
    uac = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    victim = fleet.nodes[1]
    try:
        time.sleep(2.0)
        victim.kill()
        killed_at = time.time()
        out, _ = uac.communicate(timeout=120)
    finally:
        if uac.poll() is None:
            uac.kill()
        placed = legs(uas)
    log = (tmp_path / "kill.log").read_text(errors="replace")
    answered = {line.split()[-1] for line in log.splitlines() if "ANSWERED" in line}
    rows = [r for r in fleet.calls("--caller", CALLER) if r["callee"] in set(callees)]
    journaled = {str(r["callee"]) for r in rows if r["verdict"] == "allow"}
    assert answered <= journaled, f"answered but not journaled: {answered - journaled}"
    # Only calls that were up on the killed node may fail; every later one is answered.
    assert len(answered) >= len(callees) - 3, out.decode(errors="replace")[-3000:]
    later = {str(r["callee"]) for r in rows if _epoch(str(r["time"])) > killed_at + 1.0}
    assert later and {placed[c] for c in later} == {fleet.nodes[0].port}
    assert victim.port in placed.values(), "the killed node took no call before"
    for node in fleet.nodes:
        verify = subprocess.run([*sipguard_command(), "journal", "verify", "--rules",
                                 str(node.rules)], capture_output=True, text=True,
                                timeout=60, check=False)  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
    back_again(fleet, victim, tmp_path)


def back_again(fleet: fl.Fleet, node: fl.Node, tmp_path: Path) -> None:
    """The node starts again: its next answered probe puts it back in the hash."""
    node.start("127.0.0.1")
    time.sleep(3.5)  # a probe interval, and one probe's round trip at most
    callees = fl.CALLEES[110:130]
    uas = network(fleet, tmp_path)
    try:
        code, answered, out = place_calls(fleet, tmp_path, callees, front_of(fleet))
    finally:
        placed = legs(uas)
    assert code == 0 and answered == set(callees), out[-3000:]
    assert set(placed.values()) == {n.port for n in fleet.nodes}


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
