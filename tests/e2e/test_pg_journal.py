"""The PostgreSQL journal end to end: real ``sipguard serve`` nodes, sipp, a private cluster.

Covered: two nodes writing one chain at once; kill -9 of one node under load (every call
that got a final answer is journaled, the chain verifies); the database restarting under
load (outbound calls get 503 while it is down and are bridged again afterwards, with no
restart of sipguard).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.pg_cluster import PgCluster, pg_available, pg_cluster_fixture

from .harness import (
    ACME,
    NETWORK,
    Served,
    Uas,
    environment_ok,
    free_port,
    sipguard_command,
    sipp_args,
    start_serve,
    write_rules,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok())),
    pytest.mark.skipif(not pg_available(), reason="PostgreSQL or psycopg not installed"),
]
pg_cluster = pg_cluster_fixture()
FINAL = re.compile(r"^FINAL (\S+) (\d{3})$", re.MULTILINE)
REJECTED, BRIDGED = "4001112222", "4008001234"  # CALLER_UNREGISTERED, allowed


def _node(folder: Path, url: str, trunk_port: int, net_port: int) -> Served:
    """A serve node whose rules journal to ``url`` (its state file in its own folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rules = write_rules(folder, trunk_port, net_port)
    text = rules.read_text().replace("  path: journal.db\n", f'  url: "{url}"\n')
    rules.write_text(text + 'state:\n  url: "sqlite:state.db"\n')
    return start_serve(folder, rules, free_port(), trunk_port, net_port)


def _caller(
    folder: Path, tag: str, caller: str, rate: int, node: Served, seconds: int
) -> subprocess.Popen[bytes]:
    """A sipp UAC placing calls at ``rate`` until it stops itself after ``seconds``."""
    args = sipp_args(
        "uac_final_any.xml", ACME, free_port(ACME), folder, tag,
        "-key", "caller", caller, "-key", "callee", "13800138000",
        "-r", str(rate), "-timeout", f"{seconds}s", "-timeout_error", "-recv_timeout", "3000",
    )  # fmt: skip
    target = f"{node.host}:{node.port}"
    return subprocess.Popen([*args, target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _finals(folder: Path, tag: str) -> list[tuple[str, str]]:
    """(Call-ID, status) of every final answer the caller ``tag`` saw, in arrival order."""
    log = folder / f"{tag}.log"
    return FINAL.findall(log.read_text(errors="replace")) if log.exists() else []


def _wait_all(procs: list[subprocess.Popen[bytes]], timeout: float = 40) -> None:
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sipguard_command(), *argv], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def _journaled(url: str) -> dict[str, dict[str, object]]:
    """Every call in the journal by Call-ID, as ``sipguard calls --format json`` lists it."""
    out = _cli("calls", "--journal", url, "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {str(r["call_id"]): r for r in rows}


def _verified(url: str) -> None:
    out = _cli("journal", "verify", "--journal", url)
    assert out.returncode == 0 and "chain intact" in out.stdout, out.stdout + out.stderr


def test_two_nodes_write_one_chain(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """Two nodes take calls at once: every decided call of both is journaled exactly once,
    in one chain that verifies."""
    url = pg_cluster.create_database("two_nodes")
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    nodes = [_node(tmp_path / f"n{i}", url, trunk_port, net_port) for i in (1, 2)]
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, net_port)
    callers = [_caller(tmp_path, f"{kind}{i}", number, rate, node, 4)
               for i, node in enumerate(nodes)
               for kind, number, rate in (("rej", REJECTED, 40), ("ok", BRIDGED, 8))]  # fmt: skip
    try:
        _wait_all(callers)
    finally:
        for node in nodes:
            assert node.stop() == 0, node.log_text()[-2000:]
        uas.kill()
    journaled = _journaled(url)
    for i in range(2):
        for kind, status in (("rej", "403"), ("ok", "200")):
            finals = dict(_finals(tmp_path, f"{kind}{i}"))
            assert len(finals) >= 8 and set(finals.values()) == {status}, (kind, i, finals)
            lost = set(finals) - set(journaled)
            assert not lost, f"node {i}: {len(lost)} {kind} calls answered, not journaled"
    _verified(url)


def test_kill_9_of_one_node_loses_no_answered_call(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """kill -9 of one node under load: the other goes on, every call either node answered
    is in the journal, and the chain verifies."""
    url = pg_cluster.create_database("kill_node")
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    nodes = [_node(tmp_path / f"n{i}", url, trunk_port, net_port) for i in (1, 2)]
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, net_port)
    callers = [_caller(tmp_path, f"{kind}{i}", number, rate, node, 6)
               for i, node in enumerate(nodes)
               for kind, number, rate in (("rej", REJECTED, 60), ("ok", BRIDGED, 10))]  # fmt: skip
    try:
        time.sleep(3)
        nodes[0].proc.send_signal(signal.SIGKILL)
        nodes[0].proc.wait(10)
        _wait_all(callers)
    finally:
        assert nodes[1].stop() == 0, nodes[1].log_text()[-2000:]
        uas.kill()
    time.sleep(1.0)  # the killed node's journal service commits what it holds, then leaves
    journaled = _journaled(url)
    answered = {tag: dict(_finals(tmp_path, tag)) for tag in ("rej0", "ok0", "rej1", "ok1")}
    assert len(answered["rej0"]) > 60 and len(answered["rej1"]) > len(answered["rej0"])
    for tag, finals in answered.items():
        lost = set(finals) - set(journaled)
        assert not lost, f"{tag}: {len(lost)} calls answered but not journaled"
    _verified(url)


def test_database_restart_under_load(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """The database goes down under load: outbound calls get 503 meanwhile, then are
    bridged again, with the same sipguard process; every bridged call is journaled."""
    url = pg_cluster.create_database("db_restart")
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    node = _node(tmp_path / "n1", url, trunk_port, net_port)
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, net_port)
    caller = _caller(tmp_path, "ok", BRIDGED, 20, node, 11)
    try:
        time.sleep(3)
        pg_cluster.stop()
        time.sleep(2.5)
        pg_cluster.start_again()
        _wait_all([caller])
        assert node.proc.poll() is None, "sipguard exited"
    finally:
        node.stop()
        uas.kill()
    statuses = [status for _, status in _finals(tmp_path, "ok")]
    assert "503" in statuses, statuses
    first_down, last_down = statuses.index("503"), len(statuses) - statuses[::-1].index("503")
    assert "200" in statuses[:first_down], "no call bridged before the database went down"
    assert statuses[last_down:].count("200") >= 10, "calls were not bridged again afterwards"
    assert "journal.service_restarted" not in node.log_text()
    journaled = _journaled(url)
    bridged = {cid for cid, status in _finals(tmp_path, "ok") if status == "200"}
    assert not bridged - set(journaled), "a bridged call is missing from the journal"
    _verified(url)
