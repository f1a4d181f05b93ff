"""End to end: a real ``sipguard serve --admin`` driven over HTTP and called by sipp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.harness import ACME, SIPGUARD, Served, environment_ok, free_port, run_uac, write_rules

from sipguard.journal.store import JournalStore

from .conftest import OPS_TOKEN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok())),
]
CALLER, CALLEE = "4008001234", "13800138000"


class Admin:
    """A tiny client for the admin API of one server."""

    def __init__(self, port: int, token: str = OPS_TOKEN) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def call(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Admin]]:
    trunk_port, net_port, port, admin_port = (
        free_port("127.0.0.2"), free_port("127.0.0.4"), free_port(), free_port()
    )  # fmt: skip
    rules = write_rules(tmp_path, trunk_port, net_port)
    rules.write_text(rules.read_text() + 'admin:\n  token_file: "admin.token"\n')
    (tmp_path / "admin.token").write_text(f"ops:{OPS_TOKEN}\n")
    command = [
        sys.executable, "-m", "sipguard", "serve", "--rules", str(rules),
        "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin_port}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SIPGUARD)}
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=tmp_path, env=env,
        )  # fmt: skip
    server = Served(proc, "127.0.0.1", port, tmp_path, trunk_port, net_port)
    deadline = time.monotonic() + 15
    while "serve.ready" not in server.log_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"serve not ready:\n{server.log_text()}")
        time.sleep(0.05)
    try:
        yield server, Admin(admin_port)
    finally:
        code = server.stop()
        assert code == 0, f"serve exited {code}:\n{server.log_text()[-3000:]}"


def test_suspend_through_the_api_rejects_the_next_call(
    served: tuple[Served, Admin], tmp_path: Path
) -> None:
    """Health and stats answer; a suspension made over HTTP turns the next call into 403."""
    server, admin = served
    assert "admin.ready" in server.log_text()
    status, health = admin.call("GET", "/health")
    assert status == 200 and health["ready"] is True and health["checks"]["journal"] == "ok"
    assert Admin(admin.port, "wrong-token-0123456789").call("GET", "/stats")[0] == 401
    status, stats = admin.call("GET", "/stats")
    assert status == 200 and stats["calls_in_progress"] == 0 and stats["decisions"] == {}
    status, body = admin.call("POST", f"/numbers/{CALLER}/suspend", {"why": "complaints"})
    assert (status, body) == (200, {"number": CALLER, "suspended": True, "by": "ops"})

    keys = ("-key", "caller", CALLER, "-key", "callee", CALLEE, "-m", "1")
    run = run_uac(tmp_path, "uac_reject.xml", ACME, f"{server.host}:{server.port}", *keys)
    assert run.returncode == 0, f"{run.errors[-2000:]}\n{run.output[-1000:]}"
    assert "STATUS 403 REASON 403 NUMBER_SUSPENDED" in run.logs

    status, stats = admin.call("GET", "/stats")
    assert stats["decisions"] == {"NUMBER_SUSPENDED": 1}
    status, calls = admin.call("GET", f"/calls?number={CALLER}&reason=NUMBER_SUSPENDED")
    assert status == 200 and calls["count"] == 1 and calls["calls"][0]["status"] == 403
    status, body = admin.call("POST", f"/numbers/{CALLER}/resume")
    assert status == 200 and body["suspended"] is False
    status, listed = admin.call("GET", "/numbers/suspended")
    assert (status, listed["count"]) == (200, 0)
    store = JournalStore(server.folder / "journal.db")
    try:
        assert store.verify().ok
        admin_entries = [e for e in store.entries() if e.kind == "admin"]
    finally:
        store.close()
    assert [(e.action, e.number) for e in admin_entries] == [
        ("suspend", CALLER),
        ("resume", CALLER),
    ]
    assert all(json.loads(e.detail or "")["by"] == "ops" for e in admin_entries)


def test_admin_address_in_use_stops_serve_with_status_1(tmp_path: Path) -> None:
    """A configured API that cannot bind is an error, not a server silently without it."""
    import socket

    rules = write_rules(tmp_path, free_port("127.0.0.2"), free_port("127.0.0.4"))
    rules.write_text(rules.read_text() + 'admin:\n  token_file: "admin.token"\n')
    (tmp_path / "admin.token").write_text(f"ops:{OPS_TOKEN}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        admin_port = taken.getsockname()[1]
        command = [
            sys.executable, "-m", "sipguard", "serve", "--rules", str(rules),
            "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{admin_port}",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(SIPGUARD)}
        done = subprocess.run(
            command, capture_output=True, cwd=tmp_path, env=env, timeout=30, check=False
        )
    assert done.returncode == 1, done.stderr.decode()[-2000:]
    assert b"admin.bind_failed" in done.stdout + done.stderr
