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


@pytest.fixture(scope="module")
def torture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server whose network peers are 127.0.1.0/24."""
    server = serve_in(tmp_path_factory.mktemp("rfc4475"), network_peers='"127.0.1.0/24"')
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


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


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_rfc4475_message_answered_as_expected(torture_server: Served, row: dict[str, str]) -> None:
    """The server's answer to one torture message is one EXPECTED.tsv allows."""
    index = ROWS.index(row) + 1
    options = alternatives(row["b2bua_expected"])
    only_drop = all(o == "drop" or (o == "process" and row["kind"] == "response") for o in options)
    statuses = exchange(torture_server, (CORPUS / row["file"]).read_bytes(), index,
                        1.0 if only_drop else 3.0)  # fmt: skip
    assert any(meets(o, row["kind"], statuses) for o in options), (
        f"{row['file']}: expected {row['b2bua_expected']}, got {statuses or 'no answer'}"
    )
    assert torture_server.proc.poll() is None, "the server died"
