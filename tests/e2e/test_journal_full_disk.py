"""Finding 8 on a real full disk: serve keeps deciding and logging, refuses allowed outbound
calls with 503, loses nothing, and recovers by itself once space is freed.

The journal and the state live on a 4 MiB tmpfs mounted for the test (root is needed to
mount one), the log elsewhere; a filler file then takes every free block.  Calls are plain
UDP SIP from the Acme trunk's address; a callee on the network address answers every INVITE
it gets with 486, so "the call reached the callee" and "the call was refused" are told
apart by the final status.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ACME, NETWORK, Served, free_port, start_serve, write_rules

FILED, UNFILED, CALLEE = "4008001234", "4001112222", "13800138000"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the file system is full; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 65536)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        while True:  # the last partial block too
            try:
                os.write(fd, b"\0")
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


class Callee(threading.Thread):
    """Answers every INVITE with 486 Busy Here (so a call that reaches it ends at once)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((NETWORK, port))
        self.sock.settimeout(0.2)
        self.invites: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode(errors="replace")
            if not text.startswith("INVITE "):
                continue
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")
            keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in
                    ("via", "from", "to", "call-id", "cseq")]  # fmt: skip
            keep = [h + ";tag=busy" if h.lower().startswith("to:") else h for h in keep]
            self.invites.append(next(h for h in keep if h.lower().startswith("call-id")))
            reply = "\r\n".join(["SIP/2.0 486 Busy Here", *keep, "Content-Length: 0", "", ""])
            self.sock.sendto(reply.encode(), peer)


def call(server: Served, caller: str, call_id: str) -> int:
    """One INVITE from the Acme trunk; returns the final status (0: none within 8 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ACME, 0))
        port = sock.getsockname()[1]
        branch = f"z9hG4bK-{call_id}"
        lines = [
            f"INVITE sip:{CALLEE}@127.0.0.1:{server.port} SIP/2.0",
            f"Via: SIP/2.0/UDP {ACME}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{caller}@{ACME}>;tag=t-{call_id}",
            f"To: <sip:{CALLEE}@127.0.0.1>",
            f"Call-ID: {call_id}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:{caller}@{ACME}:{port}>",
            "Content-Length: 0",
        ]
        invite = ("\r\n".join(lines) + "\r\n\r\n").encode()
        sock.sendto(invite, (server.host, server.port))
        sock.settimeout(0.5)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except TimeoutError:
                sock.sendto(invite, (server.host, server.port))  # a retransmission
                continue
            status = int(data.split(b" ", 2)[1])
            if status >= 200:
                return status
    return 0


def decisions_logged(server: Served) -> dict[str, dict[str, object]]:
    """The ``call.decision`` lines of the log, by Call-ID."""
    out = {}
    for line in server.log_text().splitlines():
        if '"call.decision"' in line:
            event = json.loads(line)
            out[str(event.get("call_id"))] = event
    return out


def wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def run_through_a_full_disk(
    server: Served, disk: Path, callee: Callee, *, logged: bool
) -> list[str]:
    """The calls of the scenario; returns their Call-IDs.  ``logged``: the log is readable."""
    sent = ["before-1"]
    assert call(server, FILED, "before-1") == 486  # journaled, then reached the callee
    filler = fill(disk)
    refused = None
    for i in range(300):  # the journal's files have some slack: write until they fail
        sent.append(f"full-{i}")
        status = call(server, FILED, f"full-{i}")
        assert status in (486, 503), status
        if status == 503:
            refused = f"full-{i}"
            break
    assert refused is not None, "the journal never failed on a full disk"
    sent.append("reject-1")
    assert call(server, UNFILED, "reject-1") == 403  # still decided, still answered
    if logged:
        event = decisions_logged(server)["reject-1"]
        assert event["reason"] == "CALLER_UNREGISTERED" and event.get("journal") == "unavailable"
    sent.append("full-again")
    assert call(server, FILED, "full-again") == 503
    reached = len(callee.invites)
    time.sleep(1.0)  # the outcomes sent behind the calls fail too: nothing is pending
    filler.unlink()
    # no call in between: the probe finds the journal writable again by itself
    if logged:
        assert wait_for(lambda: "journal.recovered" in server.log_text(), 20.0)
    else:
        time.sleep(5.0)  # the probe runs every 2 s
    sent.append("after-1")
    assert call(server, FILED, "after-1") == 486
    assert len(callee.invites) == reached + 1
    return sent


@pytest.mark.parametrize("log_on", ["another disk", "the full disk"])
def test_full_disk_keeps_deciding_refuses_outbound_and_recovers_alone(
    small_disk: Path, log_on: str
) -> None:
    """With the log elsewhere every decision is on record somewhere; with the log on the
    same full disk log lines are lost, but never an answer or the recovery."""
    trunk_port, net_port, port = free_port(ACME), free_port(NETWORK), free_port()
    rules = write_rules(small_disk, trunk_port, net_port)
    callee = Callee(net_port)
    callee.start()
    logged = log_on == "another disk"
    logs = small_disk.parent / "run" if logged else small_disk
    logs.mkdir(exist_ok=True)
    server = start_serve(logs, rules, port, trunk_port, net_port)
    try:
        sent = run_through_a_full_disk(server, small_disk, callee, logged=logged)
    finally:
        code = server.stop()
        callee.stop.set()
        callee.join(2)
        callee.sock.close()
    assert code == 0, server.log_text()[-3000:]
    with sqlite3.connect(small_disk / "journal.db") as db:
        journaled = {row[0] for row in db.execute("SELECT call_id FROM entries")}
        actions = [row[0] for row in db.execute("SELECT action FROM entries WHERE kind='admin'")]
    assert "journal_recovered" in actions  # the probe, the first record written again
    if logged:
        unjournaled = {cid for cid, e in decisions_logged(server).items() if e.get("journal")}
        for call_id in sent:  # nothing lost: on record in the journal or, in full, in the log
            assert call_id in journaled or call_id in unjournaled, call_id
        assert "Traceback" not in server.log_text()
    else:
        assert "before-1" in journaled and "after-1" in journaled
