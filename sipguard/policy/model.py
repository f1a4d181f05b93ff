"""Pydantic v2 models of rules.yaml, schema version 1 (rules spec section 1).

Invariants:
- Every model forbids unknown keys and is frozen; field validators check one value in
  isolation (time range, zone, duration, CIDR, URI).  Checks that relate two places of
  the file (references, duplicates, overlaps) live in ``load.py`` so that each is located.
- Validation messages are short, lower-case and name the offending value; ``load.py``
  prefixes them with ``FILE:LINE:COL``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sipguard.policy.signalling import check_relay_header
from sipguard.policy.values import (
    Digits,
    Duration,
    Mode,
    Monitorable,
    NationalPrefix,
    Peer,
    SipUri,
    TimeRange,
    check_display,
    check_listen,
    check_state_url,
    check_zone,
)


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
    display_name: Annotated[str, AfterValidator(check_display)] | None = None

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
    """Where decisions are journaled (an SQLite file or a PostgreSQL URL), and how long."""

    path: str | None = None
    url: Annotated[str, Field(pattern=r"^postgres(ql)?://\S+$")] | None = None
    retention_days: int = 30

    @model_validator(mode="after")
    def _one_place(self) -> Journal:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path (an SQLite file) or url (postgresql://...)")
        return self

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value < 30:
            raise ValueError(f"must be >= 30 (got {value})")
        return value


class StateStore(_Strict):
    """Where the counts and suspensions live: sqlite:PATH, redis://HOST:PORT/DB or memory."""

    url: Annotated[str, AfterValidator(check_state_url)]


class ReloadGuard(_Strict):
    """How much of the filings a hot reload may drop before it is held for confirmation."""

    max_drop: float = Field(default=0.5, ge=0.0, le=1.0)  # share of consents or numbers


class Admin(_Strict):
    """The authenticated admin HTTP API: where it listens and the file of bearer tokens."""

    listen: Annotated[str, AfterValidator(check_listen)] = "127.0.0.1:9060"
    token_file: str  # relative to the rules file


class Alerts(_Strict):
    """Where alerts go (rules 1.1 section 6)."""

    webhook: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    events: list[
        Literal["number_suspended", "short_calls", "journal_failed", "rules_reload_failed",
                "limit_warning"]
    ] = Field(min_length=1)  # fmt: skip
    timeout: Duration = "2s"


class Sip(_Strict):
    """What of the signalling crosses the edge (see ``signalling.py``)."""

    # Headers relayed between the legs on top of the call-control ones; all others stripped.
    relay_headers: list[Annotated[str, AfterValidator(check_relay_header)]] = Field(
        default_factory=list
    )
    # A refusal's status line names its reason ("403 Quiet Hours") instead of "Forbidden".
    refusal_phrase: bool = False


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
    state: StateStore | None = None
    listen: list[Annotated[str, AfterValidator(check_listen)]] = Field(default_factory=list)
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
    sip: Sip = Field(default_factory=Sip)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)
