"""Unit tests of Content-Length framing on byte streams."""

from __future__ import annotations

import pytest

from sipguard.errors import SipParseError
from sipguard.sip import Request, StreamFramer, parse

from .helpers import invite

ONE = invite(body=b"hello", length=5)
TWO = invite("Subject: two", body=b"", length=0)


def test_several_messages_in_one_feed() -> None:
    """One feed holding two messages and a partial third returns the two whole ones."""
    framer = StreamFramer()
    assert framer.feed(ONE + TWO + ONE[:10]) == [ONE, TWO]
    assert framer.buffered == 10
    assert framer.feed(ONE[10:]) == [ONE]
    assert framer.buffered == 0


def test_one_message_across_many_feeds() -> None:
    """A message fed one octet at a time comes out once, when its last octet arrives."""
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(ONE)):
        got = framer.feed(ONE[i : i + 1])
        assert got == [] or i == len(ONE) - 1
        out += got
    assert out == [ONE]
    msg = parse(out[0])
    assert isinstance(msg, Request) and msg.body == b"hello"


def test_keepalive_crlfs_are_skipped() -> None:
    """Double-CRLF pings and CRLF pongs between messages are swallowed (RFC 5626 3.5.1)."""
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.feed(b"\r\n" + ONE + b"\r\n\r\n" + TWO) == [ONE, TWO]
    assert framer.buffered == 0


def test_missing_content_length_on_stream_is_error() -> None:
    """Without Content-Length a stream message cannot be framed: 400."""
    with pytest.raises(SipParseError) as info:
        StreamFramer().feed(invite())
    assert info.value.status_hint == 400


def test_conflicting_content_lengths_are_error() -> None:
    """Two Content-Length fields make the frame ambiguous: 400."""
    with pytest.raises(SipParseError):
        StreamFramer().feed(invite("l: 3", length=0))


def test_oversize_message_is_513_and_buffer_cleared() -> None:
    """A declared message beyond max_size raises 513 and the buffer is emptied."""
    framer = StreamFramer(max_size=1024)
    with pytest.raises(SipParseError) as info:
        framer.feed(invite(length=5000))
    assert info.value.status_hint == 513
    assert framer.buffered == 0


def test_endless_head_is_bounded() -> None:
    """A head that never ends stops at max_size instead of growing without bound."""
    framer = StreamFramer(max_size=1024)
    assert framer.feed(b"INVITE sip:a@b SIP/2.0\r\n") == []
    with pytest.raises(SipParseError) as info:
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"a" * 50 + b"\r\n")
    assert info.value.status_hint == 513
