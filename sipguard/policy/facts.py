"""Call facts in, verdicts out: the data that crosses the policy boundary.

Invariants:
- Everything here is a frozen, slotted dataclass or an enum; nothing holds a reference to a
  parsed SIP message, so ``policy`` never depends on ``sip``.
- Numbers in facts are *raw* user parts (URI parameters already dropped); the policy
  normalises them to NSNs with the ruleset's country code and national prefix (spec section 2).
- ``Reason`` lists the 15 reasons of spec section 4, FORWARD_UNVERIFIED (rules 1.1 check
  2a) and 12a-12b of rules 1.1 section 5 in precedence order, plus ``ALLOWED``.
- ``Verdict`` and ``CallFacts`` write their ``__init__`` (compiled, an explicit one stores
  natively; tests/test_native_inits.py holds each to its fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    """Which way a call goes, from the call center's point of view (spec section 3)."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Reason(StrEnum):
    """Verdict reasons in precedence order (spec section 4); the first that applies wins."""

    UNKNOWN_SOURCE = "UNKNOWN_SOURCE"
    CALLER_HIDDEN = "CALLER_HIDDEN"
    FORWARD_UNVERIFIED = "FORWARD_UNVERIFIED"  # rules 1.1 section 3, check 2a
    NUMBER_LENGTH_CHANGED = "NUMBER_LENGTH_CHANGED"
    CALLER_UNREGISTERED = "CALLER_UNREGISTERED"
    CALLER_NOT_ON_TRUNK = "CALLER_NOT_ON_TRUNK"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    LICENCE_INVALID = "LICENCE_INVALID"
    INBOUND_ONLY = "INBOUND_ONLY"
    NUMBER_SUSPENDED = "NUMBER_SUSPENDED"
    NO_CONSENT = "NO_CONSENT"
    QUIET_HOURS = "QUIET_HOURS"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    CALL_RATE_EXCEEDED = "CALL_RATE_EXCEEDED"  # 12a, rules 1.1 section 5
    MASS_CALLING = "MASS_CALLING"  # 12b
    CALLEE_LENGTH_CHANGED = "CALLEE_LENGTH_CHANGED"
    CALLEE_UNREGISTERED = "CALLEE_UNREGISTERED"
    CALLEE_NOT_INBOUND = "CALLEE_NOT_INBOUND"
    ALLOWED = "ALLOWED"

    @property
    def status(self) -> int:
        """The SIP status a rejection for this reason is answered with (0 for ALLOWED)."""
        return _STATUS[self]

    @property
    def counts_as_violation(self) -> bool:
        """Rejections 8 to 12 count towards ``suspend_after_violations``."""
        return self in _VIOLATIONS


_STATUS: dict[Reason, int] = {r: 403 for r in Reason}
_STATUS[Reason.CALLEE_LENGTH_CHANGED] = 404
_STATUS[Reason.CALLEE_UNREGISTERED] = 404
_STATUS[Reason.ALLOWED] = 0

_VIOLATIONS = frozenset(
    {
        Reason.INBOUND_ONLY,
        Reason.NUMBER_SUSPENDED,
        Reason.NO_CONSENT,
        Reason.QUIET_HOURS,
        Reason.FREQUENCY_CAP,
        Reason.CALL_RATE_EXCEEDED,
        Reason.MASS_CALLING,
    }
)


@dataclass(frozen=True, slots=True, init=False)
class CallFacts:
    """What the policy needs to know about one initial INVITE.

    ``from_user``/``pai_user``/``ruri_user`` are the user part of a sip/sips URI or the
    number of a tel URI, with parameters dropped and %-escapes decoded; ``None`` when the
    header is absent or carries no user part.  ``privacy`` holds the lower-cased
    priv-values of every Privacy header.
    """

    call_id: str
    source_ip: str
    source_port: int | None
    from_user: str | None
    from_host: str | None
    pai_user: str | None
    ruri_user: str | None
    privacy: tuple[str, ...] = ()
    transport: str = "udp"
    # rules 1.1 section 1: identity headers beyond From.  ``identities`` holds (header,
    # raw number) for every P-Asserted-Identity, P-Preferred-Identity and counting
    # Remote-Party-ID value, in precedence order; it may be left empty when one PAI value
    # (``pai_user``) is the only one.  ``rpid_hidden``: a counting RPID asks privacy=full|uri.
    identities: tuple[tuple[str, str | None], ...] = ()
    rpid_hidden: bool = False
    # rules 1.1 section 3: ``forwarded`` when Diversion or a History-Info of two entries or
    # more is present; ``diverting_user`` is the raw number of the diverting entry.
    forwarded: bool = False
    diverting_user: str | None = None

    def __init__(
        self,
        call_id: str,
        source_ip: str,
        source_port: int | None,
        from_user: str | None,
        from_host: str | None,
        pai_user: str | None,
        ruri_user: str | None,
        privacy: tuple[str, ...] = (),
        transport: str = "udp",
        identities: tuple[tuple[str, str | None], ...] = (),
        rpid_hidden: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
        forwarded: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
        diverting_user: str | None = None,
    ) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "source_ip", source_ip)
        object.__setattr__(self, "source_port", source_port)
        object.__setattr__(self, "from_user", from_user)
        object.__setattr__(self, "from_host", from_host)
        object.__setattr__(self, "pai_user", pai_user)
        object.__setattr__(self, "ruri_user", ruri_user)
        object.__setattr__(self, "privacy", privacy)
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "identities", identities)
        object.__setattr__(self, "rpid_hidden", rpid_hidden)
        object.__setattr__(self, "forwarded", forwarded)
        object.__setattr__(self, "diverting_user", diverting_user)


class NumberState(StrEnum):
    """Why a filed number counted as not filed: outside its filing period (rules 1.1 s. 7)."""

    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True, init=False)
class Verdict:
    """The policy's decision on one call, with everything spec section 5 reports."""

    reason: Reason
    direction: Direction | None
    caller: str | None
    callee: str | None
    number: str | None
    operator: str | None
    trunk: str | None
    credential: str | None = None
    suspended_now: bool = False
    # Rules 1.1 (live trunks): the filing period of ``number``; the first reason that would
    # have rejected the call had its check not been monitored.
    number_state: NumberState | None = None
    monitored: Reason | None = None
    # rules 1.1 section 1: the header the caller identity came from (``IdentityHeader``
    # values), or None.
    identity_header: str | None = None
    # rules 1.1 section 3: a verified forwarded call
    forwarded: bool = False

    def __init__(
        self,
        reason: Reason,
        direction: Direction | None,
        caller: str | None,
        callee: str | None,
        number: str | None,
        operator: str | None,
        trunk: str | None,
        credential: str | None = None,
        suspended_now: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
        number_state: NumberState | None = None,
        monitored: Reason | None = None,
        identity_header: str | None = None,
        forwarded: bool = False,  # noqa: FBT001, FBT002 (the dataclass field, in order)
    ) -> None:
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "callee", callee)
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "trunk", trunk)
        object.__setattr__(self, "credential", credential)
        object.__setattr__(self, "suspended_now", suspended_now)
        object.__setattr__(self, "number_state", number_state)
        object.__setattr__(self, "monitored", monitored)
        object.__setattr__(self, "identity_header", identity_header)
        object.__setattr__(self, "forwarded", forwarded)

    @property
    def allowed(self) -> bool:
        return self.reason is Reason.ALLOWED

    @property
    def status(self) -> int:
        return self.reason.status

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "reject"

    @property
    def reason_header(self) -> str | None:
        """The RFC 3326 Reason header value for a rejection, or None when allowed."""
        if self.allowed:
            return None
        return f'SIP;cause={self.status};text="{self.reason.value}"'

    def to_json_dict(self, facts: CallFacts, time_iso: str) -> dict[str, Any]:
        """The verdict object of spec section 5, keys in the documented order."""
        if facts.source_port is None:
            source = facts.source_ip
        elif ":" in facts.source_ip:
            source = f"[{facts.source_ip}]:{facts.source_port}"
        else:
            source = f"{facts.source_ip}:{facts.source_port}"
        return {
            "call_id": facts.call_id,
            "time": time_iso,
            "source": source,
            "direction": self.direction.value if self.direction else None,
            "caller": self.caller,
            "callee": self.callee,
            "number": self.number,
            "operator": self.operator,
            "trunk": self.trunk,
            "verdict": self.verdict,
            "status": self.status,
            "reason": self.reason.value,
            "credential": self.credential,
            "number_state": self.number_state.value if self.number_state else None,
            "monitored": self.monitored.value if self.monitored else None,
            "identity_header": self.identity_header,
            "forwarded": self.forwarded,
        }
