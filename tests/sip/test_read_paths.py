"""The call core's inlined header reads agree with the plain, obvious reads.

- ``Headers.get``, ``get_fields`` and ``in`` read the memoised first-value dict and the
  memoised lookup key inline: each answers what ``canonical`` plus a scan of the fields
  answers, before and after the memo is built, for names in any case and compact form;
- ``param`` skips ``lower()`` for a name already written in lower case: it answers what the
  case-insensitive scan answers;
- the header split of the parser rejects a line without a colon with the same error as
  before, naming the first such line.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.errors import SipParseError
from sipguard.sip import parse
from sipguard.sip.address import param
from sipguard.sip.headers import Headers, canonical

_NAMES = st.sampled_from(
    ["Via", "v", "VIA", "To", "t", "From", "f", "Call-ID", "i", "call-id", "CSeq", "X-A", "x-a"]
)
_FIELDS = st.lists(st.tuples(_NAMES, st.text("ab ;,", max_size=5)), max_size=8)


def _plain_fields(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in fields if canonical(n) == canonical(name)]


@given(_FIELDS, _NAMES, st.sampled_from(["cold", "warm"]))
def test_inlined_reads_equal_a_scan_of_the_fields(
    fields: list[tuple[str, str]], name: str, memo: str
) -> None:
    h = Headers(fields)
    if memo == "warm":
        h.first()  # the memoised dict exists before the read
    want = _plain_fields(fields, name)
    assert h.get(name) == (want[0] if want else None)
    assert h.get_fields(name) == want
    assert (name in h) is bool(want)
    assert (name.upper() in h) is bool(want)


_PARAM_NAMES = st.sampled_from(["branch", "Branch", "BRANCH", "tag", "rport", "x", "İ", "ß"])


@given(
    st.lists(st.tuples(_PARAM_NAMES, st.one_of(st.none(), st.text("a1", max_size=2)))),
    _PARAM_NAMES,
)
def test_param_equals_the_case_insensitive_scan(
    params: list[tuple[str, str | None]], name: str
) -> None:
    found = [v for n, v in params if n.lower() == name.lower()]
    want = None if not found else ("" if found[0] is None else found[0])
    assert param(tuple(params), name) == want


def test_a_line_without_a_colon_is_named_in_the_error() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nno colon\r\n\r\n"
    with pytest.raises(SipParseError, match="header line without a colon: 'no colon'"):
        parse(data)
