"""Value types of rules.yaml fields: times, durations, zones, peers, URIs, digits, names.

Invariants:
- Each ``_check_*`` validates one value in isolation and raises ``ValueError`` with a short,
  lower-case message naming the value; ``model.py`` attaches them to fields and ``load.py``
  locates the message at ``FILE:LINE:COL``.
- Pure: no I/O (zone names come from the installed tz database), no clock.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field

from sipguard.policy.hostport import parse_hostport

_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_DURATION = re.compile(r"^(?:\d+[smhd])+$")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time_range(text: str) -> tuple[int, int]:
    """Parse ``HH:MM-HH:MM`` into minute offsets ``(start, end)``; raise ValueError if bad."""
    match = _RANGE.match(text)
    if match is None:
        raise ValueError(f"bad time range {text!r}: expected HH:MM-HH:MM")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"bad time range {text!r}: no such time of day")
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end % 1440:
        raise ValueError(f"bad time range {text!r}: start equals end")
    return start, end


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``90s``, ``15m``, ``1h`` or ``1h30m``; raise ValueError if bad."""
    if not _DURATION.match(text):
        raise ValueError(f"bad duration {text!r}: expected e.g. 30s, 15m, 1h, 1d or 1h30m")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be longer than zero")
    return timedelta(seconds=seconds)


# City names people write for a zone that IANA names after another city.
_CITY_ZONES = {
    "beijing": "Asia/Shanghai", "peking": "Asia/Shanghai", "guangzhou": "Asia/Shanghai",
    "shenzhen": "Asia/Shanghai", "hangzhou": "Asia/Shanghai", "nanjing": "Asia/Shanghai",
    "wuhan": "Asia/Shanghai", "chengdu": "Asia/Shanghai", "tianjin": "Asia/Shanghai",
    "xian": "Asia/Shanghai", "china": "Asia/Shanghai", "prc": "Asia/Shanghai",
}  # fmt: skip


def suggest(word: str, choices: list[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices`` to ``word``, or ``""``."""
    folded = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=0.75)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def zone_hint(text: str) -> str:
    """A "did you mean" for an unknown zone: a city alias, a case slip or a close name."""
    city = text.rsplit("/", 1)[-1].replace("'", "").replace("_", "").replace(" ", "").lower()
    if city in _CITY_ZONES:
        return f" (did you mean {_CITY_ZONES[city]!r}?)"
    return suggest(text, sorted(available_timezones()))


def check_zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r}{zone_hint(text)}") from exc
    return text


def _check_peer(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"bad peer {text!r}: expected an IPv4/IPv6 address or CIDR") from exc
        raise ValueError(f"bad peer {text!r}: host bits set, write {net}") from exc
    return text


def _check_sip_uri(text: str) -> str:
    lowered = text.lower()
    if not (lowered.startswith("sip:") or lowered.startswith("sips:")) or len(text) < 6:
        raise ValueError(f"bad deliver_to {text!r}: expected a sip: or sips: URI")
    return text


def check_listen(text: str) -> str:
    try:
        address = parse_hostport(text)
    except ValueError as exc:
        raise ValueError(f"bad listen address {text!r}: {exc}") from exc
    if address.port is None:
        raise ValueError(f"bad listen address {text!r}: expected HOST:PORT or [V6]:PORT")
    return text


def check_state_url(text: str) -> str:
    """``memory``, ``sqlite`` or ``sqlite:PATH``, or a ``redis://``, ``rediss://`` or
    ``unix://`` URL."""
    if text in ("memory", "sqlite") or (text.startswith("sqlite:") and len(text) > 7):
        return text
    if text.startswith(("redis://", "rediss://", "unix://")) and len(text.split("://", 1)[1]):
        return text
    expected = "sqlite:PATH, redis://HOST:PORT/DB or memory"
    raise ValueError(f"bad state url {text!r}: expected {expected}")


def resolve_state_url(text: str, base: Path) -> str:
    """A checked state url with a relative ``sqlite:PATH`` made relative to ``base``."""
    if text.startswith("sqlite:"):
        return f"sqlite:{base / text[7:]}"
    return text


def _check_range(text: str) -> str:
    parse_time_range(text)
    return text


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_digits(text: str) -> str:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{text!r} is not all digits")
    return text


def check_display(text: str) -> str:
    if not text.strip() or len(text) > 64:
        raise ValueError(f"bad display_name {text!r}: expected 1 to 64 characters")
    if any(ch in '"\\' or not ch.isprintable() for ch in text):
        raise ValueError(f"bad display_name {text!r}: no quotes, backslashes or controls")
    return text


Peer = Annotated[str, AfterValidator(_check_peer)]
SipUri = Annotated[str, AfterValidator(_check_sip_uri)]
Digits = Annotated[str, AfterValidator(_check_digits)]
TimeRange = Annotated[str, AfterValidator(_check_range)]
Duration = Annotated[str, AfterValidator(_check_duration)]
NationalPrefix = Annotated[str, Field(pattern=r"^[0-9]*$")]
Mode = Literal["enforce", "monitor"]
Monitorable = Literal[
    "INBOUND_ONLY", "NUMBER_SUSPENDED", "NO_CONSENT", "QUIET_HOURS", "FREQUENCY_CAP",
    "CALL_RATE_EXCEEDED", "MASS_CALLING",
]  # fmt: skip
