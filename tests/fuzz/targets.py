"""Fuzz targets: each takes arbitrary bytes and may only fail in the ways its contract allows.

The same targets run three ways: under atheris (``tests/fuzz/run.py``, coverage-guided), over
the kept corpus in ``tests/data/fuzz`` by pytest (``test_corpus.py``), and from CI for a
fixed time.  A target raises only when the code under test broke its contract: an exception
other than ``SipParseError`` from the parser, a classification that is neither process,
reply nor drop, or the call core raising at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sipguard.b2bua import B2BUA, Addr
from sipguard.errors import SipParseError
from sipguard.policy import load_rules
from sipguard.screening import facts_from_fields, facts_from_request
from sipguard.sip import Request, StreamFramer, classify, parse

RULES = Path(__file__).resolve().parents[2] / "rules.yaml"
WALL = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: outside quiet hours
TRUNK, NETWORK = Addr("127.0.0.2", 5062), Addr("127.0.0.4", 5070)


def parse_target(data: bytes) -> None:
    """``parse`` returns a message or raises SipParseError with a sane status hint."""
    try:
        parse(data)
    except SipParseError as exc:
        assert exc.status_hint is None or 400 <= exc.status_hint < 600, exc.status_hint


def classify_target(data: bytes) -> None:
    """``classify`` never raises and always says what to do."""
    outcome = classify(data)
    assert outcome.action in ("process", "reply", "drop"), outcome.action
    if outcome.action == "process":
        assert outcome.message is not None
    if outcome.action == "reply":
        assert outcome.status is None or 400 <= outcome.status < 600


def framing_target(data: bytes) -> None:
    """A stream fed in uneven pieces yields whole messages or one SipParseError."""
    framer = StreamFramer(max_size=4096)
    size = 1 + (data[0] % 13 if data else 0)
    try:
        for start in range(0, len(data), size):
            for message in framer.feed(data[start : start + size]):
                assert message
    except SipParseError:
        return
    assert framer.buffered <= 4096


def screening_target(data: bytes) -> None:
    """Facts come from a classified INVITE, or from raw header text, or fail with 400."""
    outcome = classify(data)
    if outcome.action == "process" and isinstance(outcome.message, Request):
        try:
            facts_from_request(outcome.message, "127.0.0.2", 5060)
        except SipParseError as exc:
            assert exc.status_hint == 400
    text = data.decode("utf-8", "surrogateescape")
    from_header, request_uri, pai_header = [*text.split("\n"), "", "", ""][:3]
    try:
        facts_from_fields(
            call_id="x",
            source_ip="127.0.0.2",
            source_port=5060,
            from_header=from_header,
            request_uri=request_uri,
            pai_header=pai_header,
        )
    except SipParseError as exc:
        assert exc.status_hint == 400


class CoreTarget:
    """The call core fed the input from a trunk and from the network: it never raises."""

    def __init__(self) -> None:
        self.core = B2BUA(load_rules(RULES))
        self.now = 0.0

    def __call__(self, data: bytes) -> None:
        self.now += 0.01
        for source in (TRUNK, NETWORK):
            self.core.on_message(data, source, self.now, WALL)


TARGETS: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "parse": lambda: parse_target,
    "classify": lambda: classify_target,
    "framing": lambda: framing_target,
    "screening": lambda: screening_target,
    "core": CoreTarget,
}
