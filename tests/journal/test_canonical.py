"""The canonical form orjson writes is byte for byte the standard encoder's.

Every entry's hash covers its canonical form, so journals written before orjson wrote it
must verify unchanged: on any body of text, null and integers, the two encoders agree.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.journal.record import COLUMNS, canonical_body

BODY = COLUMNS[:-3]
REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(st.none(), st.integers(-(2**63), 2**64 - 1), TEXT, st.integers())


def _reference(values: list[object], seq: int | None) -> bytes:
    body = dict(zip(BODY, values, strict=True))
    body["seq"] = seq
    if body["monitored"] is None:
        del body["monitored"]
    return REFERENCE.encode(body).encode()


@settings(max_examples=400)
@given(st.lists(VALUE, min_size=len(BODY), max_size=len(BODY)), st.none() | st.integers(0))
def test_any_body_has_the_standard_encoders_canonical_form(
    values: list[object], seq: int | None
) -> None:
    assert canonical_body(values, seq) == _reference(values, seq)


def test_control_characters_and_separators_are_escaped_alike() -> None:
    text = "".join(map(chr, range(0x20))) + '"\\/\x7f\x85\u2028\u2029\ufeff😀'
    values: list[object] = [text] * len(BODY)
    assert canonical_body(values, 1) == _reference(values, 1)


def test_a_float_body_takes_the_standard_form() -> None:
    values: list[object] = [1e16] + [None] * (len(BODY) - 1)
    assert canonical_body(values, 2) == _reference(values, 2)
    assert b"1e+16" in canonical_body(values, 2)
