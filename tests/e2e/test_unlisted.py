"""Against a real ``sipguard serve``: an unlisted address is no reflection amplifier and no
scan target, answers carry received, and a malformed INVITE from a trunk is on record."""

from __future__ import annotations

import select
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ACME, STRANGER, Served, free_port, serve_in


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve_in(tmp_path_factory.mktemp("unlisted"))
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def message(method: str, host: str, port: int, i: int, via: str | None = None) -> bytes:
    lines = [
        f"{method} sip:13800138000@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/UDP {via or f'{host}:{port}'};branch=z9hG4bK-u{i}",
        "Max-Forwards: 70",
        f"From: <sip:4008001234@{host}>;tag=t{i}",
        "To: <sip:13800138000@127.0.0.1>",
        f"Call-ID: unlisted-{i}@{host}",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def collect(sock: socket.socket, quiet: float) -> list[bytes]:
    """Every datagram that arrives until ``quiet`` seconds pass without one."""
    got: list[bytes] = []
    while select.select([sock], [], [], quiet)[0]:
        got.append(sock.recv(65535))
    return got


def udp(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, port))
    return sock


def test_an_invite_flood_from_an_unlisted_address_amplifies_at_most_one(server: Served) -> None:
    """2,000 INVITEs never ACKed: fewer datagrams come back than went out, none a 100."""
    with udp(STRANGER) as sock:
        port = sock.getsockname()[1]
        for i in range(2000):
            sock.sendto(message("INVITE", STRANGER, port, i), (server.host, server.port))
            if i % 200 == 199:
                time.sleep(0.01)
        back = collect(sock, 4.0)
    assert len(back) / 2000 <= 1.0
    assert back and all(b.startswith(b"SIP/2.0 403 ") for b in back)
    assert len(back) < 200  # rate-limited, not one per request


def test_a_scan_finds_no_200_no_405_and_no_software_name(server: Served) -> None:
    with udp("127.0.0.19") as sock:
        port = sock.getsockname()[1]
        for i, method in enumerate(["OPTIONS", "REGISTER"]):
            sock.sendto(message(method, "127.0.0.19", port, 9000 + i), (server.host, server.port))
        back = collect(sock, 1.5)
    assert [b.split(b" ", 2)[1] for b in back] == [b"403", b"403"]
    assert all(b"sipguard" not in b.lower() for b in back)


def test_received_is_added_and_the_answer_goes_to_the_sent_by_port(server: Served) -> None:
    """From 127.0.0.2 with a Via naming 127.0.0.9: the 100 comes to 127.0.0.2:<sent-by port>."""
    reply_port = free_port(ACME)
    with udp(ACME) as sender, udp(ACME, reply_port) as receiver:
        data = message("INVITE", ACME, 0, 9100, via=f"127.0.0.9:{reply_port}")
        sender.sendto(data, (server.host, server.port))
        back = collect(receiver, 1.5)
    assert back, "no answer at the sent-by port"
    assert f"received={ACME}".encode() in back[0]


def test_a_malformed_invite_from_a_trunk_is_journaled(server: Served) -> None:
    with udp(ACME) as sock:
        port = sock.getsockname()[1]
        data = message("INVITE", ACME, port, 9200).replace(
            b"Content-Length", b"From: <sip:95123@127.0.0.2>;tag=x\r\nContent-Length"
        )
        sock.sendto(data, (server.host, server.port))
        back = collect(sock, 1.0)
    assert back and back[0].startswith(b"SIP/2.0 400 ")
    rows: list[tuple[str, str]] = []
    for _ in range(50):
        with sqlite3.connect(Path(server.folder) / "journal.db") as conn:
            sql = "SELECT source, trunk FROM entries WHERE reason = 'MALFORMED'"
            rows = conn.execute(sql).fetchall()
        if rows:
            break
        time.sleep(0.1)
    assert rows == [(f"{ACME}:{port}", "acme-sh-1")]
