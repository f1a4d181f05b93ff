"""Pydantic v2 models of rules.yaml, schema version 1 (rules spec section 1).

Invariants:
- Every model forbids unknown keys and is frozen; field validators check one value in
  isolation (time range, zone, duration, CIDR, URI).  Checks that relate two places of
  the file (references, duplicates, overlaps) live in ``load.py`` so that each is located.
- Validation messages are short, lower-case and name the offending value; ``load.py``
  prefixes them with ``FILE:LINE:COL``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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


def _check_zone(text: str) -> str:
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


def _check_listen(text: str) -> str:
    try:
        address = parse_hostport(text)
    except ValueError as exc:
        raise ValueError(f"bad listen address {text!r}: {exc}") from exc
    if address.port is None:
        raise ValueError(f"bad listen address {text!r}: expected HOST:PORT or [V6]:PORT")
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


def _check_display(text: str) -> str:
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Operator(_Strict):
    """A call-center business operator (licensee)."""

    name: str
    licence: str
    licence_expires: date
    harassment_pledge: bool
    outbound_commitment: bool = False


class Trunk(_Strict):
    """A call-center trunk at this edge."""

    operator: str
    peers: list[Peer] = Field(min_length=1)
    deliver_to: SipUri
    max_cps: float | None = Field(default=None, gt=0)  # new calls/s the trunk may place
    # Rules 1.1 (live trunks): monitor instead of enforce (default: the top-level mode),
    # and admission control on the calls up or being set up through the trunk.
    mode: Mode | None = None
    max_concurrent_calls: int | None = Field(default=None, ge=1)
    # rules 1.1 section 3: the trunk forwards users' calls (Diversion, History-Info)
    forwarding: bool = False


class Network(_Strict):
    """The carrier side: core network or PSTN gateway."""

    peers: list[Peer] = Field(min_length=1)
    deliver_to: SipUri


class Number(_Strict):
    """An access number as filed in the code-number registry."""

    number: str
    operator: str
    trunk: str
    inbound: bool = True
    outbound: bool = False
    usage: str | None = None
    # Filing period (rules 1.1 section 7), inclusive local dates; outside it, not filed.
    valid_from: date | None = None
    valid_until: date | None = None
    # rules 1.1 section 1: the display name an allowed outbound call from it carries
    display_name: Annotated[str, AfterValidator(_check_display)] | None = None

    @field_validator("valid_until")
    @classmethod
    def _period(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value < start:
            raise ValueError(f"valid_until {value} is before valid_from {start}")
        return value


class NumbersFile(_Strict):
    """Where the filed numbers are when they come from a registry export (CSV)."""

    file: str


class ShortCalls(_Strict):
    """Suspend a number whose answered calls are mostly very short (rules 1.1 section 5)."""

    seconds: float = Field(gt=0)  # a call shorter than this is short
    ratio: float = Field(ge=0, lt=1)  # more than this share of short calls suspends
    over_last: int = Field(ge=1)  # out of this many most recent answered calls


class Outbound(_Strict):
    """Rules for calls the call centers place."""

    require_consent: bool = True
    quiet_hours: list[TimeRange] = Field(default_factory=list)
    max_calls_per_callee_per_day: int | None = Field(default=None, ge=1)
    suspend_after_violations: int | None = Field(default=None, ge=1)
    violation_window: Duration = "1h"
    # Rules 1.1 (live trunks): checks watched on every trunk instead of rejecting, and the
    # behavioural limits (section 5).
    monitor: list[Monitorable] = Field(default_factory=list)
    max_calls_per_minute_per_number: int | None = Field(default=None, ge=1)
    max_distinct_callees_per_hour_per_number: int | None = Field(default=None, ge=1)
    short_calls: ShortCalls | None = None


class Consents(_Strict):
    """Where the consent records are."""

    file: str


class Journal(_Strict):
    """Where decisions are journaled, and for how long."""

    path: str
    retention_days: int = 30

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value < 30:
            raise ValueError(f"must be >= 30 (got {value})")
        return value


class ReloadGuard(_Strict):
    """How much of the filings a hot reload may drop before it is held for confirmation."""

    max_drop: float = Field(default=0.5, ge=0.0, le=1.0)  # share of consents or numbers


class Admin(_Strict):
    """The authenticated admin HTTP API: where it listens and the file of bearer tokens."""

    listen: Annotated[str, AfterValidator(_check_listen)] = "127.0.0.1:9060"
    token_file: str  # relative to the rules file


class Alerts(_Strict):
    """Where alerts go (rules 1.1 section 6)."""

    webhook: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    events: list[
        Literal["number_suspended", "short_calls", "journal_failed", "rules_reload_failed",
                "limit_warning"]
    ] = Field(min_length=1)  # fmt: skip
    timeout: Duration = "2s"


class Rules(_Strict):
    """The root of rules.yaml, schema version 1."""

    version: Literal[1]
    country_code: Digits
    national_prefix: NationalPrefix = "0"
    timezone: str
    operators: dict[str, Operator] = Field(default_factory=dict)
    trunks: dict[str, Trunk] = Field(default_factory=dict)
    network: Network
    numbers: list[Number] | NumbersFile = Field(default_factory=list)
    outbound: Outbound = Field(default_factory=Outbound)
    consents: Consents | None = None
    journal: Journal | None = None
    listen: list[Annotated[str, AfterValidator(_check_listen)]] = Field(default_factory=list)
    reload_guard: ReloadGuard = Field(default_factory=ReloadGuard)
    admin: Admin | None = None
    # A request from an address in no peer list: one stateless 403, or nothing at all.
    unknown_sources: Literal["reject", "drop"] = "reject"
    # Rules 1.1 (live trunks): the default mode of every trunk, and where alerts go.
    mode: Mode = "enforce"
    alerts: Alerts | None = None
    # rules 1.1 section 2: carrier-selection prefixes stripped once from callee numbers
    carrier_prefixes: list[Digits] = Field(default_factory=list)
    # rules 1.1 section 3: how long after an inbound call a forward of it may come
    forwarding_window: Duration = "30s"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)
