"""The journal service's framing: any split of the byte stream, and malformed frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.journal.record import Entry
from sipguard.journal.wire import (
    MAX_FRAME,
    FrameReader,
    ProtocolError,
    body_entry,
    entry_body,
    frame,
    stored,
)

from .conftest import decision

MESSAGES = st.lists(
    st.lists(st.one_of(st.integers(), st.text(), st.none(), st.booleans()), min_size=1),
    min_size=1,
    max_size=8,
)


@given(MESSAGES, st.lists(st.integers(min_value=1, max_value=40), min_size=1))
def test_any_split_of_the_stream_yields_the_same_messages(
    messages: list[list[object]], cuts: list[int]
) -> None:
    """Frames fed in pieces of any size come out whole, in order, and nothing is left."""
    data = b"".join(frame(m) for m in messages)
    reader, out, at = FrameReader(), [], 0
    for size in cuts * (len(data) // max(1, min(cuts)) + 1):
        if at >= len(data):
            break
        out += reader.feed(data[at : at + size])
        at += size
    assert out == messages
    assert reader.pending == 0


def test_one_byte_at_a_time_and_many_frames_in_one_read() -> None:
    """The two extremes: a frame trickling in, and three frames in one chunk."""
    reader = FrameReader()
    data = frame([1, "sync"])
    assert [m for b in data for m in reader.feed(bytes([b]))] == [[1, "sync"]]
    assert reader.feed(frame([2]) + frame([3]) + frame([4])[:5]) == [[2], [3]]
    assert reader.pending == 5


def test_lone_surrogates_survive_the_wire() -> None:
    """Text that is not valid UTF-8 crosses as ASCII escapes and comes back as it was."""
    assert FrameReader().feed(frame([1, "a\udcffb"])) == [[1, "a\udcffb"]]


@pytest.mark.parametrize(
    "bad",
    [
        struct.pack(">I", MAX_FRAME + 1),
        struct.pack(">I", 2) + b"{}",
        struct.pack(">I", 2) + b"[]",
        struct.pack(">I", 3) + b"[1,",
        struct.pack(">I", 3) + b"\xff\xfe]",
    ],
)
def test_malformed_frames_are_protocol_errors(bad: bytes) -> None:
    """Oversized, non-array, empty, truncated JSON or non-ASCII payloads are refused."""
    with pytest.raises(ProtocolError):
        FrameReader().feed(bad)


def test_entry_body_round_trip_and_stored_form() -> None:
    """An entry crosses as its body and is rebuilt with the service's seq and hashes."""
    entry = decision(1)
    again = body_entry(FrameReader().feed(frame(entry_body(entry)))[0])
    assert again == entry
    placed = stored(entry, 7, "00" * 32, "ab" * 32)
    assert placed == Entry(*entry.row()[:-3], 7, "00" * 32, "ab" * 32)  # type: ignore[call-arg]
    with pytest.raises(ProtocolError):
        body_entry([1, 2])


def test_a_message_orjson_cannot_write_goes_exactly_by_the_standard_codec() -> None:
    """Plain messages are UTF-8 JSON; a lone surrogate or an integer past 64 bits is sent
    as marked ASCII JSON and read back as it was, not as a float or an error."""
    plain = frame([1, "ok", "中文"])
    assert plain[4:] == '[1,"ok","中文"]'.encode()
    for message in ([1, 2**70], [1, "a\udcffb"], [1, -(2**64)]):
        data = frame(message)
        assert data[4:5] == b"="
        assert FrameReader().feed(data) == [message]
