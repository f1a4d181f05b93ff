"""Nanosecond instants and the exact violation window (spec section 4, replay captures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sipguard.policy import MemoryState
from sipguard.policy.instant import Instant, epoch_ns, window_ns

T0 = 1_780_365_600 * 10**9 + 999  # 999 ns past a microsecond
HOUR = timedelta(hours=1)


@given(st.integers(0, 4 * 10**18))
def test_from_ns_round_trips_and_reads_as_the_truncated_datetime(ns: int) -> None:
    at = Instant.from_ns(ns)
    assert epoch_ns(at) == ns
    assert at == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def test_plain_datetimes_are_exact_too() -> None:
    assert epoch_ns(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005_000
    assert window_ns(HOUR) == 3600 * 10**9


def test_five_violations_one_ns_inside_the_window_count_five() -> None:
    state = MemoryState()
    times = [T0, T0 + 10**12, T0 + 2 * 10**12, T0 + 3 * 10**12, T0 + window_ns(HOUR) - 1]
    counts = [state.add_violation("4008001234", Instant.from_ns(t), HOUR) for t in times]
    assert counts == [1, 2, 3, 4, 5]
    edge = MemoryState()
    times[-1] += 1  # exactly the window before the newest: the oldest falls out
    counts = [edge.add_violation("4008001234", Instant.from_ns(t), HOUR) for t in times]
    assert counts == [1, 2, 3, 4, 4]


ZONES = [
    UTC,
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
]


LOW, HIGH = datetime(1901, 1, 1), datetime(2200, 1, 1)


@given(
    st.datetimes(LOW, HIGH, timezones=st.sampled_from(ZONES) | st.timezones()),
    st.integers(0, 999),
)
def test_epoch_ns_equals_the_datetime_subtraction(at: datetime, nanosecond: int) -> None:
    """The integer form is exactly ``at - epoch`` in nanoseconds, for any zone, any fold."""
    plain = ((at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)) * 1000
    assert epoch_ns(at) == plain
    instant = Instant.from_ns(plain + nanosecond)
    assert epoch_ns(instant) == plain + nanosecond
