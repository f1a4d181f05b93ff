"""Unit tests of the header multimap."""

from __future__ import annotations

import pytest

from sipguard.sip import Headers
from sipguard.sip.headers import canonical, split_commas


@pytest.mark.parametrize(
    ("compact", "full"),
    [
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("v", "Via"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("r", "Refer-To"),
        ("x", "Session-Expires"),
        ("b", "Referred-By"),
        ("y", "Identity"),
    ],
)
def test_compact_form_equals_long_name(compact: str, full: str) -> None:
    """A compact name and its long name, in any case, look up the same field."""
    h = Headers([(compact.upper(), "value")])
    assert h.get(full) == "value"
    assert h.get(full.upper()) == "value"
    assert h.get(compact) == "value"
    assert full.lower() in h
    assert canonical(compact) == canonical(full)


def test_get_returns_first_and_get_fields_every_field() -> None:
    """get() gives the first field's value; get_fields() every field's raw value in order."""
    h = Headers([("Route", "<sip:a>"), ("X", "1"), ("route", "<sip:b>, <sip:c>")])
    assert h.get("ROUTE") == "<sip:a>"
    assert h.get_fields("route") == ["<sip:a>", "<sip:b>, <sip:c>"]
    assert h.get("missing") is None
    assert "missing" not in h


def test_get_all_splits_list_headers_respecting_quotes_and_brackets() -> None:
    """Commas inside quotes or <> never split; list headers split at top-level commas."""
    value = '"Doe, John" <sip:j@x;a=1,2>;q=0.5, <sip:k@y>'
    h = Headers([("Contact", value), ("m", "sip:z@w")])
    assert h.get_all("contact") == ['"Doe, John" <sip:j@x;a=1,2>;q=0.5', "<sip:k@y>", "sip:z@w"]


def test_get_all_does_not_split_single_value_headers() -> None:
    """A Date or From value with a comma stays one value: their grammar is not a list."""
    h = Headers([("Date", "Sat, 13 Nov 2010 23:29:00 GMT"), ("Subject", "a, b")])
    assert h.get_all("date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert h.get_all("s") == ["a, b"]


def test_split_commas_handles_escaped_quote() -> None:
    """An escaped quote inside a quoted string does not end it."""
    assert split_commas(r'"a\", b" <sip:x>, <sip:y>') == [r'"a\", b" <sip:x>', "<sip:y>"]


def test_set_replaces_in_place_and_remove_deletes_all() -> None:
    """set() keeps the first field's position and drops the others; remove() drops all."""
    h = Headers([("Via", "a"), ("To", "t"), ("v", "b")])
    h.set("VIA", "c")
    assert h.items() == [("VIA", "c"), ("To", "t")]
    h.add("Via", "d")
    h.remove("v")
    assert h.items() == [("To", "t")]
    h.set("From", "f")
    assert h.items() == [("To", "t"), ("From", "f")]


def test_mutation_clears_parsed_cache() -> None:
    """A value memoised by cached() is rebuilt after the headers change."""
    h = Headers([("X", "1")])
    assert h.cached("x", lambda: h.get("x")) == "1"
    h.set("X", "2")
    assert h.cached("x", lambda: h.get("x")) == "2"


def test_equality_ignores_content_length_only() -> None:
    """Headers compare by ordered fields, except Content-Length, which framing rewrites."""
    a = Headers([("To", "t"), ("Content-Length", "5")])
    b = Headers([("To", "t"), ("l", "0")])
    assert a == b
    assert a != Headers([("to", "t")])
    assert a.copy() == a and a.copy() is not a


def test_p_asserted_identity_is_a_list() -> None:
    """PAI may carry a sip and a tel identity in one field (RFC 3325 section 9.1)."""
    h = Headers([("P-Asserted-Identity", '"Acme" <sip:+864008001234@x>, <tel:+864008001234>')])
    assert h.get_all("p-asserted-identity") == [
        '"Acme" <sip:+864008001234@x>',
        "<tel:+864008001234>",
    ]


def test_memo_is_cached_with_the_headers_passed_in() -> None:
    """memo(key, build) answers build(headers), once, until the next mutation, exactly as
    cached(key, lambda: build(headers)) does."""
    calls: list[int] = []

    def build(h: Headers) -> str | None:
        calls.append(1)
        return h.get("x")

    h = Headers([("X", "1")])
    assert h.memo("k", build) == "1" and h.memo("k", build) == "1" and len(calls) == 1
    h.add("Y", "2")
    h.set("X", "3")
    assert h.memo("k", build) == "3" and len(calls) == 2
    assert h.cached("k", lambda: "never built") == "3"  # one cache for both
