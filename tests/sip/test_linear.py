"""Parsing cost grows linearly with the datagram: no input shape makes it blow up.

Each hostile 64 KB message is timed against a normal 64 KB message in the same run, and
must cost at most a few times as much (a ratio, never an absolute time).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest

from sipguard.errors import SipParseError
from sipguard.sip import StreamFramer, classify, parse

SIZE = 64 * 1024
LIMIT = 5.0

HEAD = (
    "INVITE sip:13800138000@203.0.113.5;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Care" <sip:4008001234@192.0.2.10>;tag=a1\r\n'
    "To: <sip:13800138000@203.0.113.5>\r\n"
    "Call-ID: c1@192.0.2.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:4008001234@192.0.2.10:5060>\r\n"
)


def _pad(fill: str) -> str:
    """Repeat ``fill`` (which may hold a format field for a counter) to about 64 KB."""
    out: list[str] = []
    size = len(HEAD)
    i = 0
    while size < SIZE - 200:
        line = fill.format(i=i)
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out)


def _one(name: str, unit: str, tail: str = "") -> bytes:
    """A message whose padding is one header value made of ``unit`` repeated.

    The header replaces the one of the same name in HEAD, so the value is really read.
    """
    head = "".join(
        line + "\r\n" for line in HEAD.split("\r\n")[:-1] if line[: len(name) + 1] != f"{name}:"
    )
    count = (SIZE - len(head) - len(name) - len(tail) - 40) // len(unit)
    return (head + f"{name}: " + unit * count + tail + "\r\n\r\n").encode()


def normal() -> bytes:
    """A plausible 64 KB request: many ordinary header lines and list values."""
    lines = _pad(
        "Record-Route: <sip:proxy{i}.example.net;lr>\r\n"
        "X-Trace-{i}: hop={i};node=edge-{i};ts=1700000000\r\n"
        "Via: SIP/2.0/UDP 198.51.100.{i}:5060;branch=z9hG4bK{i}x\r\n"
    )
    return (HEAD + lines + "\r\n").encode()


HOSTILE: dict[str, Callable[[], bytes]] = {
    "folded line then a run of spaces": lambda: _one("Subject", " ", "x\r\n folded"),
    "run of tabs before folding": lambda: _one("Subject", "\t", "x\r\n\tfolded"),
    "spaces inside Via sent-by": lambda: _one("Via", " ", "x;branch=z9hG4bK2").replace(
        b"Via:  ", b"Via: SIP/2.0/UDP a", 1
    ),
    "spaces before a Via colon": lambda: _one("Via", " ", "y").replace(
        b"Via:  ", b"Via: SIP/2.0/UDP x", 1
    ),
    "many commas in Via": lambda: _one("Via", ","),
    "many Via values": lambda: _one("Via", "SIP/2.0/UDP h;branch=z9hG4bKa,"),
    "many quotes in Contact": lambda: _one("Contact", '"a",'),
    "unterminated quote in From": lambda: _one("From", "\\a", "").replace(
        b"From: \\a", b'From: "\\a', 1
    ),
    "backslashes in display name": lambda: _one("To", "\\\\", '" <sip:a@b>').replace(
        b"To: \\", b'To: "\\', 1
    ),
    "angle brackets in Contact": lambda: _one("Contact", "<"),
    "many parameters in To": lambda: _one("To", ";a", "").replace(b"To: ;a", b"To: <sip:b@c>;a", 1),
    "many empty parameters in Via": lambda: _one("Via", ";", "").replace(
        b"Via: ;", b"Via: SIP/2.0/UDP h;", 1
    ),
    "long Request-URI user": lambda: (
        HEAD.replace("13800138000@", "1" * (SIZE - 400) + "@", 1).encode().rstrip(b"\r\n")
        + b"\r\n\r\n"
    ),
    "percent escapes in Request-URI": lambda: (
        HEAD.replace("13800138000@", "%41" * ((SIZE - 400) // 3) + "@", 1).encode() + b"\r\n"
    ),
    "URI without @ and many semicolons": lambda: _one("Contact", ";x", ">").replace(
        b"Contact: ;x", b"Contact: <sip:host;x", 1
    ),
    "many colons in sent-by": lambda: _one("Via", ":", "").replace(
        b"Via: :", b"Via: SIP/2.0/UDP h:", 1
    ),
    "header name of many spaces": lambda: (
        HEAD + "X" + " " * (SIZE - 400) + ": v\r\n\r\n"
    ).encode(),
    "Content-Length of many zeros": lambda: _one("Content-Length", "0"),
    "Accept list": lambda: _one("Accept", "text/plain;q=0.1,"),
    "plain Contacts then a bad one": lambda: _one("Contact", "<sip:a@b>,", "x"),
    "plain Vias then a bad one": lambda: _one("Via", "SIP/2.0/UDP h;branch=z9hG4bKa,", "x"),
    "escaped Contact URIs": lambda: _one("Contact", "<sip:%41@b>,", "<sip:c@d>"),
    "escaped display names": lambda: _one("Contact", '"\\\\" <sip:a@b>,', "<sip:c@d>"),
}


def _once(data: bytes) -> float:
    """Time of classify plus parse on ``data`` (parse errors are answers like any other)."""
    start = time.perf_counter()
    classify(data)
    with contextlib.suppress(SipParseError):
        parse(data)
    return time.perf_counter() - start


def _ratio(hostile: bytes, normal: bytes, rounds: int = 7) -> tuple[float, float]:
    """Best times of both messages, measured in alternation so both see the same load."""
    best_h = best_n = float("inf")
    for _ in range(rounds):
        best_n = min(best_n, _once(normal))
        best_h = min(best_h, _once(hostile))
    return best_h, best_n


def test_normal_message_is_processed() -> None:
    """The yardstick is a message the B2BUA would really process."""
    data = normal()
    assert len(data) <= SIZE
    assert classify(data).action == "process"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_costs_about_as_much_as_normal(name: str) -> None:
    """A hostile 64 KB message costs at most LIMIT times the normal one."""
    data = HOSTILE[name]()
    assert SIZE // 2 < len(data) <= SIZE + 1024
    assert classify(data).action in ("process", "reply", "drop")
    worst, baseline = _ratio(data, normal())
    assert worst <= LIMIT * baseline, f"{name}: {worst * 1e3:.2f} ms vs {baseline * 1e3:.2f} ms"


def _trickle(size: int, chunk: int) -> float:
    """Time to frame one message of about ``size`` octets fed ``chunk`` octets at a time."""
    pad = "X-Pad: " + "p" * 60 + "\r\n"
    head = HEAD + pad * ((size - len(HEAD)) // len(pad))
    body = b"b" * (size // 2)
    data = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    framer = StreamFramer(max_size=4 * SIZE)
    start = time.perf_counter()
    out = [m for i in range(0, len(data), chunk) for m in framer.feed(data[i : i + chunk])]
    cost = time.perf_counter() - start
    assert out == [data]
    return cost


def test_stream_framing_is_linear_when_octets_trickle_in() -> None:
    """A message trickling in a few octets at a time costs time linear in its size.

    Eight times the octets in the same small chunks may cost about eight times as much
    (here at most 20x); rescanning the buffer on every feed would cost about 64x.
    """
    small = min(_trickle(SIZE // 8, 16) for _ in range(3))
    large = min(_trickle(SIZE, 16) for _ in range(3))
    assert large <= 20 * small, f"{large * 1e3:.1f} ms vs {small * 1e3:.1f} ms"
