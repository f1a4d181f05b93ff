"""Every speed trick of the decision path, pinned to its plain form.

- ``evaluate`` equals the spec-shaped ``reference_evaluate`` on generated call sequences;
- ``Ruleset.nsn`` (``nsn_function``) equals ``normalise``;
- ``LocalClock`` equals ``datetime.astimezone``, also around offset changes;
- verdicts and facts built positionally equal those built by keyword.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.policy import (
    CallFacts,
    Direction,
    MemoryState,
    Reason,
    Ruleset,
    Verdict,
    evaluate,
    load_rules,
    normalise,
)
from sipguard.policy.facts import NumberState
from sipguard.policy.numbers import nsn_function
from sipguard.policy.ruleset import LocalClock

from .conftest import BASE, CONSENTS, ZONE
from .reference import reference_evaluate

VARIANTS = {
    "base": BASE,
    "open": BASE.replace("require_consent: true", "require_consent: false")
    .replace("  max_calls_per_callee_per_day: 2\n", "")
    .replace('national_prefix: "0"', 'national_prefix: ""'),
    "forwarding": BASE.replace(
        "    operator: acme\n", "    operator: acme\n    forwarding: true\n", 1
    ),
    "carrier": BASE.replace(
        'national_prefix: "0"', 'national_prefix: "0"\ncarrier_prefixes: ["17951", "12593"]'
    ),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def ruleset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    folder = tmp_path_factory.mktemp(request.param)
    (folder / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    (folder / "rules.yaml").write_text(VARIANTS[request.param], encoding="utf-8")
    return load_rules(folder / "rules.yaml")


NUMBER_FORMS = [
    "4008001234",
    "+864008001234",
    "0086-400-800-1234",
    "04008001234",
    "95123",
    "+8695123",
    "020-6123-4567",
    "+86 20 6123 4567",
    "2061234567",
    "02061234567",
    "40080012345",
    "400800123",
    "95",
    "anonymous",
    "Anonymous",
    "alice",
    "13800138000",
    "+8613800138000",
    "13900139000",
    "13700000000",
    "951230",
    "٤٠٠٨٠٠١٢٣٤",
    "+86٤٠٠",
    "",
    "+86",
    "0",
    "00",
    # rules 1.1 section 2: RFC 3966 parameters and carrier-selection prefixes
    "4008001234;ext=99",
    "+864008001234;isub=1",
    "6123-4567;phone-context=+86-21",
    "020-6123-4567;phone-context=+86",
    "4008001234;phone-context=+1",
    "4008001234;phone-context=example.com",
    "4008001234;EXT=٩",
    "13800138000;npdi;rn=1",
    "17951 138 0013 8000",
    "1795113800138000",
    "12593+8613800138000",
    "17951",
]
RAW = st.one_of(
    st.none(),
    st.sampled_from(NUMBER_FORMS),
    st.text(alphabet="0123456789+-. ()86٣", max_size=14),
)
SOURCES = [
    "192.0.2.10",
    "198.51.100.5",
    "192.0.2.20",
    "203.0.113.7",
    "2001:db8:f::1",
    "2001:db8:a::9",
    "::ffff:192.0.2.10",
    "192.0.2.99",
    "not an address",
]
HEADERS = ["p-asserted-identity", "p-preferred-identity", "remote-party-id"]
# Identity lists a filed caller might send: agreeing, disagreeing and number-less values.
GOOD_IDENTITIES = [
    (),
    (("p-asserted-identity", "+864008001234"),),
    (("p-asserted-identity", "4008001234"), ("p-asserted-identity", "+864008001234")),
    (("p-asserted-identity", "agent7"), ("p-preferred-identity", "4008001234")),
    (("p-preferred-identity", "95123"),),
    (("remote-party-id", "04008001234"),),
    (("p-asserted-identity", "4008001234"), ("remote-party-id", "13912345678")),
]
FACTS = st.builds(
    CallFacts,
    call_id=st.just("c"),
    source_ip=st.sampled_from(SOURCES),
    source_port=st.just(5060),
    from_user=RAW,
    from_host=st.sampled_from([None, "192.0.2.10", "anonymous.invalid", "Anonymous.Invalid"]),
    pai_user=RAW,
    ruri_user=RAW,
    privacy=st.lists(st.sampled_from(["id", "user", "header", "none", "session"]), max_size=2).map(
        tuple
    ),
    identities=st.lists(st.tuples(st.sampled_from(HEADERS), RAW), max_size=3).map(tuple),
    rpid_hidden=st.booleans(),
    forwarded=st.booleans(),
    diverting_user=RAW,
)
# Calls that get far down the table: a filed caller on its own trunk, a consented callee.
GOOD = st.builds(
    CallFacts,
    call_id=st.just("c"),
    source_ip=st.sampled_from(["192.0.2.10", "198.51.100.1"]),
    source_port=st.just(5060),
    from_user=st.sampled_from(["4008001234", "+86 400 800 1234", "95123", None]),
    from_host=st.just("192.0.2.10"),
    pai_user=st.sampled_from([None, "+864008001234", "04008001234"]),
    ruri_user=st.sampled_from(
        ["13800138000", "+8613800138000", "13800138000;npdi", None, "17951-13800138000"]
    ),
    identities=st.sampled_from(GOOD_IDENTITIES),
    forwarded=st.booleans(),
    diverting_user=st.sampled_from([None, "95123", "4008001234", "+86 400 800 1234", "2061234567"]),
) | st.builds(
    CallFacts,
    call_id=st.just("c"),
    source_ip=st.just("192.0.2.20"),
    source_port=st.just(5060),
    from_user=st.sampled_from(["020-6123-4567", "+86 20 6123 4567"]),
    from_host=st.just("192.0.2.20"),
    pai_user=st.none(),
    ruri_user=st.sampled_from(["13900139000", "013900139000"]),
)
ZONES = [UTC, ZONE, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]
ANY_TIME = st.datetimes(
    min_value=datetime(2026, 5, 31),
    max_value=datetime(2028, 1, 2),
    timezones=st.sampled_from(ZONES),
)
# Around the quiet-hours edges and the licence's last day, in the rules' zone.
EDGE = st.builds(
    lambda day, minute, second: (
        datetime.combine(day, datetime.min.time(), ZONE) + timedelta(minutes=minute, seconds=second)
    ),
    st.sampled_from([date(2026, 6, 1), date(2027, 12, 31), date(2028, 1, 1)]),
    st.sampled_from([479, 480, 720, 809, 810, 1259, 1260, 1439]),
    st.floats(0, 59.999),
)
NOW = ANY_TIME | EDGE


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(FACTS | GOOD, NOW), min_size=1, max_size=12))
def test_evaluate_equals_the_reference(
    ruleset: Ruleset, calls: list[tuple[CallFacts, datetime]]
) -> None:
    """Verdicts and the state they leave equal the plain form's, call after call."""
    fast, plain = MemoryState(), MemoryState()
    for facts, now in sorted(calls, key=lambda c: c[1]):
        verdict = evaluate(facts, ruleset, fast, now)
        assert verdict == reference_evaluate(facts, ruleset, plain, now)
        up = verdict.allowed and verdict.direction is Direction.INBOUND
        if up and verdict.caller is not None and verdict.number is not None:
            for state in (fast, plain):  # as serve records it: the forward checks can pass
                state.inbound_started(facts.call_id, verdict.caller, verdict.number, now)
    assert fast.suspensions() == plain.suspensions()
    assert fast._counts == plain._counts


@given(RAW, st.sampled_from([("86", "0"), ("86", ""), ("1", "1"), ("44", "0")]))
def test_nsn_function_equals_normalise(raw: str | None, settings_: tuple[str, str]) -> None:
    """The inline forms (plain NSN, +cc digits) answer exactly as ``normalise`` does."""
    cc, prefix = settings_
    expected = None if raw is None else normalise(raw, cc, prefix)
    assert nsn_function(cc, prefix)(raw) == expected


# Instants where a zone's offset changes: DST in New York and Lord Howe (a 30-minute step),
# Kathmandu's +05:30 -> +05:45 in 1986 and Shanghai's local mean time (+08:05:43) in 1900.
CHANGES = [
    ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    ("Asia/Kathmandu", datetime(1985, 12, 31, 18, 30, tzinfo=UTC)),
    ("Asia/Shanghai", datetime(1900, 12, 31, 15, 54, 17, tzinfo=UTC)),
    ("Asia/Shanghai", datetime(2026, 6, 1, 2, 0, tzinfo=UTC)),
    ("Europe/Dublin", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
]


def _plain_local(now: datetime, zone: ZoneInfo) -> tuple[int, int, date]:
    local = now.astimezone(zone)
    return local.toordinal(), local.hour * 60 + local.minute, local.date()


SHOWN_IN = [
    UTC,
    ZONE,
    ZoneInfo("Europe/London"),
    ZoneInfo("Australia/Lord_Howe"),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=-3, seconds=17, microseconds=5)),
    timezone(timedelta(hours=9, seconds=-17)),
]


@settings(max_examples=600)
@given(
    st.sampled_from(CHANGES),
    st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6),
    st.integers(-90 * 10**6, 90 * 10**6),
    st.sampled_from(SHOWN_IN),
)
def test_local_clock_equals_timestamp_and_astimezone(
    change: tuple[str, datetime], shift: int, step: int, shown_in: tzinfo
) -> None:
    """Memoised or not, epoch seconds and local minute are exactly the plain ones."""
    name, instant = change
    zone = ZoneInfo(name)
    clock = LocalClock(zone)
    first = (instant + timedelta(microseconds=shift)).astimezone(shown_in)
    second = first + timedelta(microseconds=step)  # often the same minute: a memo hit
    for now in (first, second, first, second.replace(fold=1)):
        assert clock.at(now) == (now.timestamp(), _plain_local(now, zone))


@given(st.datetimes(min_value=datetime(2004, 2, 1), max_value=datetime(2106, 1, 1)))
def test_memoised_seconds_equal_timestamp(moment: datetime) -> None:
    """Across the memoised years, ``base + seconds`` rounds exactly as ``timestamp()``."""
    clock = LocalClock(ZONE)
    now = moment.replace(tzinfo=UTC)
    clock.at(now.replace(second=0, microsecond=0))  # fill the memo for this minute
    assert clock.at(now) == (now.timestamp(), _plain_local(now, ZONE))


VERDICT_ARGS = st.tuples(
    st.sampled_from(list(Reason)),
    st.sampled_from([None, *Direction]),
    *(st.none() | st.text(max_size=5) for _ in range(5)),
    st.none() | st.text(max_size=5),
    st.booleans(),
    st.sampled_from([None, *NumberState]),
    st.sampled_from([None, *Reason]),
    st.none() | st.text(max_size=5),
    st.booleans(),
)


FACTS_ARGS = st.tuples(
    st.text(max_size=5),
    st.text(max_size=5),
    st.none() | st.integers(0, 65535),
    *(st.none() | st.text(max_size=5) for _ in range(4)),
    st.lists(st.text(max_size=3), max_size=2).map(tuple),
    st.text(max_size=3),
    st.lists(st.tuples(st.text(max_size=3), st.none() | st.text(max_size=3)), max_size=2).map(
        tuple
    ),
    st.booleans(),
    st.booleans(),
    st.none() | st.text(max_size=5),
)


@pytest.mark.parametrize(("plain", "args"), [(Verdict, VERDICT_ARGS), (CallFacts, FACTS_ARGS)])
def test_the_positional_init_equals_the_keyword_one(
    plain: type, args: st.SearchStrategy[tuple[object, ...]]
) -> None:
    """The hand-written ``__init__``, called positionally as the decision path calls it,
    gives the keyword-built object: class, fields, eq, hash, repr, frozen."""

    names = [f.name for f in dataclasses.fields(plain)]

    @given(args)
    def check(values: tuple[object, ...]) -> None:
        built, made = plain(*values), plain(**dict(zip(names, values, strict=True)))
        assert type(built) is plain
        assert built == made
        assert hash(built) == hash(made)
        assert repr(built) == repr(made)
        assert [getattr(built, name) for name in names] == list(values)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(built, names[0], values[0])

    check()
