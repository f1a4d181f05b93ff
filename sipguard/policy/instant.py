"""Instants at nanosecond precision, for capture timestamps (replay) compared exactly.

Invariants:
- ``Instant`` is an aware UTC ``datetime`` (microseconds, as every datetime) that also
  carries the nanoseconds within its microsecond; everything that reads it as a datetime
  sees the microsecond-truncated time.
- ``epoch_ns`` is the exact integer nanoseconds since the epoch of any aware datetime
  (an ``Instant``'s own nanoseconds included, computed on integers from the wall fields and
  the offset), and ``window_ns`` of a timedelta, so the violation window (spec section 4)
  is compared on integers, never on floats.
- Pure: no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()


class Instant(datetime):
    """A UTC datetime with ``nanosecond`` (0-999) below its microsecond."""

    nanosecond: int = 0

    @classmethod
    def from_ns(cls, ns: int) -> Instant:
        """The instant ``ns`` nanoseconds after the epoch."""
        micro, rest = divmod(ns, 1000)
        base = _EPOCH + timedelta(microseconds=micro)
        made = cls(
            base.year, base.month, base.day, base.hour, base.minute, base.second,
            base.microsecond, UTC,
        )  # fmt: skip
        made.nanosecond = rest
        return made


def window_ns(window: timedelta) -> int:
    """A duration in integer nanoseconds."""
    return ((window.days * 86_400 + window.seconds) * 1_000_000 + window.microseconds) * 1000


def epoch_ns(at: datetime) -> int:
    """Exact nanoseconds since the epoch of an aware datetime (an Instant's included).

    Integer arithmetic on the wall fields and the UTC offset: exactly ``at - epoch``'s
    value, without building the intermediate datetime and timedelta (pinned in
    tests/policy/test_instant.py).
    """
    if at.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    offset = at.utcoffset()
    if offset is None:
        return window_ns(at - _EPOCH)  # raises as a naive-aware subtraction does
    seconds = (at.toordinal() - _EPOCH_ORDINAL) * 86_400 + at.hour * 3600 + at.minute * 60
    micros = (seconds + at.second) * 1_000_000 + at.microsecond
    ns = micros * 1000 - window_ns(offset)
    return ns + at.nanosecond if isinstance(at, Instant) else ns
