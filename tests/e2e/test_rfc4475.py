"""Every RFC 4475 torture message, sent over UDP to a running server, answered as expected.

Each message leaves from its own loopback address (127.0.1.N) so late retransmissions of one
answer can never be mistaken for the answer to another.  Those addresses are the network's
peers in this ruleset, so well-formed requests are genuinely processed (screened, routed or
refused by policy) rather than stopped at the source check.
"""

from __future__ import annotations

import csv
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Served, serve_in

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "tests" / "data" / "rfc4475"
CORPUS = SHIPPED if SHIPPED.is_dir() else ROOT.parent / "shared" / "conformance" / "rfc4475"
# Answers that mean "could not parse / refused as malformed": never right for "process".
PARSE_ERRORS = frozenset({400, 413, 414, 416, 420, 483, 505, 513})
# Ports a response may be routed to: the Via sent-by ports used by the corpus (RFC 3261 18.2.2).
REPLY_PORTS = (5060, 5070, 5050)


def expectations() -> list[dict[str, str]]:
    """The rows of EXPECTED.tsv."""
    with (CORPUS / "EXPECTED.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def transaction_key(data: bytes) -> tuple[bytes, bytes]:
    """(method, top Via line) of a raw message: equal keys are one transaction (RFC 3261 17.2.3)."""
    lines = data.split(b"\n")
    via = next((ln.strip() for ln in lines if ln.lower().startswith((b"via", b"v:"))), b"")
    return lines[0].split(b" ", 1)[0], via


def rounds(rows: list[dict[str, str]]) -> dict[str, int]:
    """Assign each file a server so that no server sees a later message of an earlier transaction.

    Several corpus messages share their branch, sent-by and method (cparam01/cparam02, for
    instance), so one server rightly treats the second as a retransmission of the first.
    """
    seen: list[set[tuple[bytes, bytes]]] = []
    assigned: dict[str, int] = {}
    for row in rows:
        key = transaction_key((CORPUS / row["file"]).read_bytes())
        index = next((i for i, keys in enumerate(seen) if key not in keys), len(seen))
        if index == len(seen):
            seen.append(set())
        seen[index].add(key)
        assigned[row["file"]] = index
    return assigned


@pytest.fixture(scope="module")
def torture_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Served]]:
    """Servers (started on first use) whose network peers are 127.0.1.0/24."""
    servers: dict[int, Served] = {}
    try:
        yield servers
    finally:
        for server in servers.values():
            assert server.stop() == 0, server.log_text()[-3000:]


def server_for(servers: dict[int, Served], index: int, factory: pytest.TempPathFactory) -> Served:
    """The server of round ``index``, started if needed."""
    if index not in servers:
        folder = factory.mktemp(f"rfc4475-{index}")
        servers[index] = serve_in(folder, network_peers=("127.0.1.0/24",))
    return servers[index]


def exchange(server: Served, data: bytes, index: int, wait: float) -> list[int]:
    """Send ``data`` from 127.0.1.<index>:5060; the status codes answered within ``wait``."""
    host = f"127.0.1.{index}"
    socks = []
    for port in REPLY_PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, port))
        socks.append(sock)
    try:
        socks[0].sendto(data, (server.host, server.port))
        statuses: list[int] = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(socks, [], [], left)
            for sock in ready:
                reply = sock.recv(65535)
                statuses.append(status_of(reply))
            if any(s >= 200 for s in statuses):
                break
        return statuses
    finally:
        for sock in socks:
            sock.close()


def status_of(reply: bytes) -> int:
    """The status code of a response, or -1 when what came back is not a response."""
    parts = reply.split(b" ", 2)
    if len(parts) >= 2 and parts[0] == b"SIP/2.0" and parts[1].isdigit():
        return int(parts[1])
    return -1


def meets(expected: str, kind: str, statuses: list[int]) -> bool:
    """Whether the answers seen satisfy one EXPECTED.tsv outcome."""
    finals = [s for s in statuses if s != 100]
    if expected == "drop":
        return not statuses
    if expected.startswith("reply:"):
        return int(expected.split(":")[1]) in finals
    assert expected == "process", expected
    if kind == "response":
        return not statuses  # a response is consumed (forwarded or dropped), never answered
    return bool(finals) and not (set(finals) & PARSE_ERRORS) and -1 not in finals


def alternatives(expected: str) -> list[str]:
    """``either:a|b`` -> [a, b]; anything else is a single outcome."""
    return expected.removeprefix("either:").split("|")


ROWS = expectations()
ROUNDS = rounds(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_rfc4475_message_answered_as_expected(
    torture_servers: dict[int, Served],
    tmp_path_factory: pytest.TempPathFactory,
    row: dict[str, str],
) -> None:
    """The server's answer to one torture message is one EXPECTED.tsv allows."""
    torture_server = server_for(torture_servers, ROUNDS[row["file"]], tmp_path_factory)
    index = ROWS.index(row) + 1
    options = alternatives(row["b2bua_expected"])
    only_drop = all(o == "drop" or (o == "process" and row["kind"] == "response") for o in options)
    statuses = exchange(torture_server, (CORPUS / row["file"]).read_bytes(), index,
                        1.0 if only_drop else 3.0)  # fmt: skip
    assert any(meets(o, row["kind"], statuses) for o in options), (
        f"{row['file']}: expected {row['b2bua_expected']}, got {statuses or 'no answer'}"
    )
    assert torture_server.proc.poll() is None, "the server died"
