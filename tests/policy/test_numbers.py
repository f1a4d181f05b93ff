"""Number normalisation (spec section 2) and the filed-number index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.policy import NumberEntry, NumberIndex, normalise

CASES = [
    ("+86 20 6123 4567", "2061234567"),
    ("0086-20-61234567", "2061234567"),
    ("02061234567", "2061234567"),
    ("95566", "95566"),
    ("4006601234", "4006601234"),
    ("13800138000", "13800138000"),
    ("862061234567", "862061234567"),
    ("(020) 6123.4567", "2061234567"),
    ("sip:+862061234567@example.com;user=phone", "2061234567"),
    ("sips:02061234567:secret@example.com", "2061234567"),
    ("tel:+86-20-6123-4567;phone-context=example.com", "2061234567"),
    ("TEL:95566", "95566"),
    ("2061234567;npdi", "2061234567"),
    ("+1 212 555 0100", None),
    ("alice", None),
    ("anonymous", None),
    ("", None),
    ("0", None),
    ("+86", None),
    ("sip:example.com", None),
    ("95566#", None),
    ("１２３", None),
]


@pytest.mark.parametrize(("raw", "nsn"), CASES)
def test_normalise_table(raw: str, nsn: str | None) -> None:
    """Each example of spec section 2 (and a few URI forms) normalises as documented."""
    assert normalise(raw, "86", "0") == nsn


def test_no_national_prefix() -> None:
    """With an empty national prefix only +cc/00cc are stripped."""
    assert normalise("02061234567", "1", "") == "02061234567"
    assert normalise("0012125550100", "1", "") == "2125550100"


NSN = st.from_regex(r"[1-9][0-9]{2,14}", fullmatch=True)
SEP = st.sampled_from(["", "-", ".", " ", "(", ")"])


@given(NSN)
def test_nsn_is_fixed_point(nsn: str) -> None:
    """An NSN (digits, no national prefix) normalises to itself, so normalising is idempotent."""
    assert normalise(nsn, "86", "0") == nsn
    assert normalise(normalise(nsn, "86", "0") or "", "86", "0") == nsn


@given(NSN, st.lists(SEP, min_size=1, max_size=20))
def test_separators_ignored(nsn: str, seps: list[str]) -> None:
    """Visual separators anywhere in the number change nothing."""
    text = "".join(d + seps[i % len(seps)] for i, d in enumerate(nsn))
    assert normalise(text, "86", "0") == nsn


@given(NSN)
def test_prefix_forms_equivalent(nsn: str) -> None:
    """+cc, 00cc and the national prefix all lead to the same NSN."""
    forms = [f"+86{nsn}", f"0086{nsn}", f"0{nsn}", f"sip:+86{nsn}@h", f"tel:0{nsn}"]
    assert {normalise(f, "86", "0") for f in forms} == {nsn}


@given(st.text(max_size=30))
def test_result_is_digits_or_none(raw: str) -> None:
    """Whatever the input, the result is None or a non-empty ASCII digit string."""
    nsn = normalise(raw, "86", "0")
    assert nsn is None or (nsn.isascii() and nsn.isdigit() and nsn != "")


def _index(*nsns: str) -> NumberIndex:
    return NumberIndex(
        NumberEntry(n, "op", "t", inbound=True, outbound=True, usage=None, licence_until=0)
        for n in nsns
    )


def test_lookup_exact() -> None:
    """lookup finds filed NSNs only."""
    index = _index("95123", "4008001234")
    entry = index.lookup("95123")
    assert entry is not None and entry.nsn == "95123"
    assert index.lookup("9512") is None
    assert len(index) == 2


@pytest.mark.parametrize(
    ("nsn", "related"),
    [
        ("951231", True),  # digits appended to a filed number
        ("9512", True),  # digits cut from a filed number
        ("9", True),
        ("95123", False),  # filed: not length-changed
        ("95124", False),  # same length, different digits
        ("40080012345678", True),
        ("13800138000", False),
    ],
)
def test_length_related(nsn: str, *, related: bool) -> None:
    """length_related holds for proper prefixes of filed NSNs and filed NSNs' extensions."""
    assert _index("95123", "4008001234").length_related(nsn) is related
