"""Numbers of rules 1.1 section 2 through the screening bridge: phone-context, extensions,
carrier-selection prefixes and ASCII digits only."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_screening import invite

from sipguard.policy import MemoryState, Reason, Ruleset, load_rules, normalise
from sipguard.screening import screen

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sipguard" / "data"
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
R = Reason


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    folder = tmp_path_factory.mktemp("carrier")
    shutil.copy(DATA / "consents.csv", folder / "consents.csv")
    text = (DATA / "rules.yaml").read_text(encoding="utf-8")
    text += '\ncarrier_prefixes: ["17951", "17911", "12593"]\n'
    (folder / "rules.yaml").write_text(text, encoding="utf-8")
    return load_rules(folder / "rules.yaml")


@pytest.mark.parametrize(
    ("raw", "nsn"),
    [
        ("tel:020-6123-4567;phone-context=+86", "2061234567"),
        ("tel:6123-4567;phone-context=+86-21", "2161234567"),
        ("sip:61234567;phone-context=+86-21@gw;user=phone", "2161234567"),
        ("sip:61234567;phone-context=+86-21@gw", "61234567"),  # no user=phone: v1 reading
        ("tel:4008001234;phone-context=+1", None),
        ("tel:4008001234;phone-context=gw.example.com", None),
        ("sip:4008001234;phone-context=example.com@gw;user=phone", None),
        ("sip:4008001234;ext=99@gw;user=phone", "400800123499"),
        ("tel:+86-400-800-1234;ext=99", "400800123499"),
        ("tel:+864008001234;isub=7", "40080012347"),
        ("tel:4008001234;ext=9x", None),
        ("tel:+864008001234;cpc=ordinary", "4008001234"),
        ("tel:４００８００１２３４", None),
    ],
)
def test_rfc3966_parameters(raw: str, nsn: str | None) -> None:
    assert normalise(raw, "86", "0") == nsn


def decide(rules: Ruleset, from_: str, ruri: str = "sip:13800138000@127.0.0.1") -> Reason:
    req = invite(from_, ruri)
    return screen(req, "127.0.0.2", 5060, rules, MemoryState(), NOW)[1].reason


@pytest.mark.parametrize(
    ("from_", "reason"),
    [
        ("<sip:4008001234;ext=99@127.0.0.2;user=phone>", R.NUMBER_LENGTH_CHANGED),
        ("<tel:+864008001234;ext=99>", R.NUMBER_LENGTH_CHANGED),
        ("<sip:4008001234;phone-context=+1@127.0.0.2;user=phone>", R.CALLER_HIDDEN),
        ("<sip:4008001234;phone-context=acme.example@127.0.0.2;user=phone>", R.CALLER_HIDDEN),
        ("<tel:61234567;phone-context=+86-21>", R.NO_CONSENT),
        ("<sip:4008001234;phone-context=+86@127.0.0.2;user=phone>", R.ALLOWED),
        ("<sip:17951-4008001234@127.0.0.2>", R.CALLER_UNREGISTERED),  # callers keep it
    ],
)
def test_presented_callers(rules: Ruleset, from_: str, reason: Reason) -> None:
    assert decide(rules, from_) is reason


def test_a_carrier_prefix_does_not_dodge_the_daily_cap(rules: Ruleset) -> None:
    """Two calls use the cap; the third, dialled with 17951 in front, is the same callee."""
    state = MemoryState()
    reasons = []
    for ruri in ("sip:13800138000@x", "tel:+86-138-0013-8000", "sip:17951-138-0013-8000@x"):
        req = invite("<sip:4008001234@127.0.0.2>", ruri)
        verdict = screen(req, "127.0.0.2", 5060, rules, state, NOW)[1]
        reasons.append((verdict.reason, verdict.callee))
    assert reasons == [
        (R.ALLOWED, "13800138000"),
        (R.ALLOWED, "13800138000"),
        (R.FREQUENCY_CAP, "13800138000"),
    ]


def test_a_carrier_prefix_before_a_phone_context(rules: Ruleset) -> None:
    req = invite("<sip:02161234567@127.0.0.2>", "tel:17911-6123-4567;phone-context=+86-21")
    verdict = screen(req, "127.0.0.2", 5060, rules, MemoryState(), NOW)[1]
    assert verdict.callee == "2161234567"


def test_carrier_prefixes_must_be_digits(tmp_path: Path) -> None:
    from sipguard.errors import RulesError

    shutil.copy(DATA / "consents.csv", tmp_path / "consents.csv")
    text = (DATA / "rules.yaml").read_text(encoding="utf-8") + '\ncarrier_prefixes: ["179x1"]\n'
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "rules.yaml")
    assert "rules.yaml:" in str(caught.value) and "179x1" in str(caught.value)
