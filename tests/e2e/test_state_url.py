"""``state.url`` in the rules reaches ``sipguard serve``: two nodes on one Redis state share a
per-callee daily cap, and ``serve --state`` overrides the rules."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.redis_server import REDIS

from .harness import (
    ACME,
    NETWORK,
    Served,
    Uas,
    environment_ok,
    free_port,
    run_uac,
    sipguard_command,
    write_rules,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok())),
    pytest.mark.skipif(REDIS is None, reason="redis-server binary not installed"),
]
redis = pytest.importorskip("redis")


def _node(folder: Path, ports: tuple[int, int], state: str, *extra: str) -> Served:
    """A serve node with a cap of 2 calls per callee per day and ``state.url: state``."""
    folder.mkdir()
    rules = write_rules(folder, *ports)
    text = rules.read_text().replace("max_calls_per_callee_per_day: 100000",
                                     "max_calls_per_callee_per_day: 2")  # fmt: skip
    rules.write_text(f'{text}state:\n  url: "{state}"\n')
    log = (folder / "serve.log").open("wb")
    port = free_port()
    argv = [*sipguard_command(), "serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen([*argv, *extra], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=folder)  # fmt: skip
    served = Served(proc, "127.0.0.1", port, folder, *ports)
    deadline = time.monotonic() + 10
    while "serve.ready" not in served.log_text():
        assert proc.poll() is None and time.monotonic() < deadline, served.log_text()
        time.sleep(0.05)
    return served


def _status(node: Served, folder: Path) -> str:
    """The final status one outbound call from 4008001234 through ``node`` gets."""
    keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000", "-m", "1")
    run = run_uac(folder, "uac_final_any.xml", ACME, f"{node.host}:{node.port}", *keys)
    found = [line.split()[-1] for line in run.logs.splitlines() if line.startswith("FINAL")]
    assert len(found) == 1, run.output[-1500:] + node.log_text()[-1500:]
    return found[0]


def test_two_nodes_share_a_cap_through_the_rules_state_url(
    redis_url: str, tmp_path: Path
) -> None:
    """Two calls through node 1 fill the cap in Redis; the third, through node 2, is
    refused; a node started with --state memory does not see the Redis counts."""
    ports = (free_port(ACME), free_port(NETWORK))
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, ports[1])
    nodes = [_node(tmp_path / "n1", ports, redis_url), _node(tmp_path / "n2", ports, redis_url)]
    nodes.append(_node(tmp_path / "n3", ports, redis_url, "--state", "memory"))
    try:
        assert [_status(nodes[0], tmp_path) for _ in range(2)] == ["200", "200"]
        assert _status(nodes[1], tmp_path) == "403"
        assert _status(nodes[2], tmp_path) == "200"  # its own counts, in memory
    finally:
        for node in nodes:
            node.stop()
        uas.kill()
    assert "FREQUENCY_CAP" in nodes[1].log_text()
    client = redis.Redis.from_url(redis_url)
    assert any(b"13800138000" in key for key in client.keys("*"))
