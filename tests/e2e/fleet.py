"""A fleet on loopback: a real Kamailio front, ``sipguard serve`` nodes behind it, Redis state.

Where the fleet keeps its state and journal is one :class:`Storage` value: the rules text
each node gets and the rules files ``sipguard calls`` must read to see every call.  Today
every node has its own SQLite journal; a single PostgreSQL journal is another Storage
(one rules block, one journal to read), with no change to the tests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.rulesets import loopback

from .harness import ACME, BETA, NETWORK, free_port, sipguard_command

KAMAILIO = shutil.which("kamailio")
CALLEES = [f"1380013{n:04d}" for n in range(200)]  # every one consented to 4008001234
DAILY_CAP = 3


@dataclass(frozen=True)
class Storage:
    """Where a fleet's nodes keep their state and their journal."""

    name: str
    rules_block: Callable[[Path], str]  # node folder -> the state:/journal: rules text
    journals: Callable[[list[Path]], list[Path]]  # node rules files -> the ones to query
    shared_state: bool


def sqlite_journals(state_url: str | None) -> Storage:
    """One SQLite journal per node; the state in Redis when ``state_url`` is given."""
    state = f'state:\n  url: "{state_url}"\n' if state_url else ""

    def block(folder: Path) -> str:
        return f"{state}journal:\n  path: journal.db\n  retention_days: 30\n"

    return Storage(
        "sqlite-per-node", block, lambda rules: list(rules), shared_state=state_url is not None
    )


def postgres_journal(state_url: str, journal_url: str) -> Storage:
    """One PostgreSQL journal for the whole fleet, the state in Redis."""

    def block(folder: Path) -> str:
        return (f'state:\n  url: "{state_url}"\n'
                f'journal:\n  url: "{journal_url}"\n  retention_days: 30\n')  # fmt: skip

    return Storage("postgresql", block, lambda rules: list(rules)[:1], shared_state=True)


def legs(folder: Path, tag: str) -> dict[str, int]:
    """callee -> the port of the node that placed its leg B, from a uas_fleet_call.xml log."""
    path = folder / f"{tag}.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-3] == "LEG":
            found[parts[-1]] = int(parts[-2])
    return found


def rules_text(trunk_port: int, net_port: int, storage_block: str) -> str:
    """The end-to-end ruleset with a daily cap, an admin API and the fleet's storage."""
    layout = loopback(
        acme=(ACME, f"sip:{ACME}:{trunk_port}"),
        network=(NETWORK, f"sip:{NETWORK}:{net_port}"),
        beta=(BETA, f"sip:{BETA}:{trunk_port}"),
    )
    text = layout.text()
    cap = "max_calls_per_callee_per_day: 100000"
    assert cap in text, "the test rules no longer carry the loopback daily cap"
    text = text.replace(cap, f"max_calls_per_callee_per_day: {DAILY_CAP}")
    head, _, _ = text.partition("journal:\n")
    return head + storage_block + "admin:\n  token_file: admin.token\n"


def consents() -> str:
    lines = ["callee,number,credential,granted_at,expires_at"]
    lines += [f"{c},4008001234,FLEET-{c},2020-01-01T00:00:00,2099-01-01T00:00:00" for c in CALLEES]
    return "\n".join(lines) + "\n"


@dataclass
class Node:
    """One ``sipguard serve`` node of the fleet."""

    folder: Path
    port: int
    admin_port: int
    token: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def rules(self) -> Path:
        return self.folder / "rules.yaml"

    def log_text(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, front_host: str, *extra: str) -> None:
        argv = [*sipguard_command(), "serve", "--rules", str(self.rules), "--listen",
                f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}",
                "--trust-front", front_host, *extra]  # fmt: skip
        with (self.folder / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.folder)  # fmt: skip
        deadline = time.monotonic() + 15
        while "serve.ready" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serve did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@dataclass
class Front:
    """The Kamailio front, started through ``sipguard kamailio run --front``."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "front.log"

    def start(self, nodes: list[Node]) -> None:
        argv = [*sipguard_command(), "kamailio", "run", "--front",
                *(f"127.0.0.1:{n.port}" for n in nodes), "--listen", f"127.0.0.1:{self.port}",
                "--no-tcp", "--children", "2", "--ping-interval", "1", "--workdir",
                str(self.folder)]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        wait_options("127.0.0.1", self.port, self.proc, time.monotonic() + 15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def wait_options(host: str, port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Until ``host:port`` answers an OPTIONS (or ``proc`` dies, or the deadline passes)."""
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.3)
            local = s.getsockname()[1]
            msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKfleet{local}\r\n"
                   "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
                   f"Call-ID: fleet-probe-{local}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\n"
                   "Content-Length: 0\r\n\r\n")  # fmt: skip
            try:
                s.sendto(msg.encode(), (host, port))
                if s.recv(4096).startswith(b"SIP/2.0 200"):
                    return
            except OSError:
                time.sleep(0.2)
    raise TimeoutError(f"nothing answered OPTIONS on {host}:{port}")


@dataclass
class Fleet:
    """The front, its nodes, the peers' ports, and where the calls are journaled."""

    front: Front
    nodes: list[Node]
    trunk_port: int
    net_port: int
    storage: Storage

    def calls(self, *filters: str) -> list[dict[str, object]]:
        """Every journaled call of the fleet, read with ``sipguard calls`` as an auditor would."""
        rows: list[dict[str, object]] = []
        for rules in self.storage.journals([n.rules for n in self.nodes]):
            argv = [*sipguard_command(), "calls", "--rules", str(rules), "--format", "json",
                    *filters]  # fmt: skip
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            assert out.returncode == 0, out.stderr
            lines = out.stdout.splitlines()  # one JSON object per call
            rows += [dict(json.loads(line), journal=rules.parent.name) for line in lines if line]
        return rows

    def admin(
        self, node: Node, method: str, path: str, body: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        """One admin API request to ``node``, with its bearer token (and a JSON body)."""
        import urllib.error
        import urllib.request

        headers = {"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"}
        url = f"http://127.0.0.1:{node.admin_port}{path}"
        data = json.dumps(body).encode() if body is not None else b""
        req = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, data=data if method == "POST" else None,
                                        timeout=10) as resp:  # fmt: skip
                return int(resp.status), json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"{}")


def build(
    folder: Path, storage: Storage, count: int = 2, node_args: tuple[tuple[str, ...], ...] = ()
) -> Fleet:
    """Write every node's rules and start the nodes, then the front; stopped by ``stop``."""
    trunk_port, net_port = free_port("127.0.0.2"), free_port("127.0.0.4")
    token = secrets.token_hex(16)
    nodes = []
    for i in range(count):
        node_dir = folder / f"node{i + 1}"
        node_dir.mkdir()
        text = rules_text(trunk_port, net_port, storage.rules_block(node_dir))
        (node_dir / "rules.yaml").write_text(text)
        (node_dir / "consents.csv").write_text(consents())
        (node_dir / "admin.token").write_text(f"ops:{token}\n")
        (node_dir / "admin.token").chmod(0o600)
        nodes.append(Node(node_dir, free_port(), free_port(), token))
    fleet = Fleet(Front(folder, free_port()), nodes, trunk_port, net_port, storage)
    try:
        for i, node in enumerate(nodes):
            node.start("127.0.0.1", *(node_args[i] if i < len(node_args) else ()))
        fleet.front.start(nodes)
    except BaseException:
        stop(fleet)
        raise
    return fleet


def stop(fleet: Fleet) -> dict[str, int]:
    """Stop the front and every node; the exit status of each node still running."""
    fleet.front.stop()
    return {n.folder.name: n.stop() for n in fleet.nodes}
