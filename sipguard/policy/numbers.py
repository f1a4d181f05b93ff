"""Number normalisation and the index of filed access numbers (rules spec section 2).

Invariants:
- Every number, filed or presented, is compared as its national significant number (NSN):
  an ASCII digit string with the separators, ``+cc``/``00cc`` or one national prefix removed.
- ``normalise`` returns ``None`` whenever anything but digits would remain; it never raises.
- RFC 3966 parameters (rules 1.1 section 2): ``phone-context`` places a local number (a
  global context with the country code and an area, or none; a foreign or domain context
  means no number), ``ext`` and ``isub`` append their digits, others are ignored.
- ``nsn_function`` gives ``normalise`` bound to one country code and national prefix, with
  its two commonest inputs (a plain NSN, ``+cc`` then digits) answered inline; every other
  input goes through ``normalise`` itself, so both always agree.
- ``NumberIndex.lookup`` is one dict probe.  ``NumberIndex.length_related`` probes the dict
  once per proper prefix of ``nsn`` (a filed number inside it) and bisects one sorted list
  of the filed NSNs (a filed number starting with it): O(len(nsn) + log n), with no table
  of prefixes, so 10^6 filed numbers cost one string, one entry and two slots each.
- The sorted list is built and ``release`` empties the index in short C calls
  (``stepwise``), so a reload thread doing either never holds the GIL for long.
- A filing period is held as proleptic ordinals ``valid_from``/``valid_until``, inclusive;
  an entry without one has ``0`` and ``FOREVER``, so one comparison pair covers both.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sipguard.policy.stepwise import empty_in_steps, sorted_in_steps

#: ``valid_until`` of an entry filed without an end date (later than any real ordinal).
FOREVER = 2**31

_SEPARATORS = str.maketrans("", "", "-. ()")
_SCHEMES = ("sip:", "sips:", "tel:")


def _user_part(raw: str) -> str | None:
    """Step 1: the user part of a sip/sips URI or the number of a tel URI.

    Its RFC 3966 parameters are kept for a tel URI and for a sip URI with ``user=phone``,
    and dropped otherwise; a bare user part keeps them (the bridge has chosen already).
    """
    lowered = raw[:5].lower()
    for scheme in _SCHEMES:
        if lowered.startswith(scheme):
            rest = raw[len(scheme) :]
            if scheme != "tel:":
                user, at, host = rest.partition("@")
                if not at:
                    return None
                user = user.split(":", 1)[0]
                phone = ";user=phone" in host.lower()
                return user if phone else user.split(";", 1)[0]
            return rest
    return raw


def _params(text: str) -> dict[str, str]:
    """RFC 3966 parameters by lower-cased name (the first of a repeated name counts)."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        name, _, value = part.partition("=")
        out.setdefault(name.strip().lower(), value.strip())
    return out


def _ascii_digits(text: str) -> bool:
    return text.isdigit() and text.isascii()


def _telephone(number: str, params: str, country_code: str, national_prefix: str) -> str | None:
    """Rules 1.1 section 2: ``phone-context`` read, ``ext``/``isub`` digits appended."""
    found = _params(params)
    appended = ""
    for name in ("ext", "isub"):
        value = found.get(name)
        if value is not None:
            value = value.translate(_SEPARATORS)
            if not _ascii_digits(value):
                return None
            appended += value
    context = found.get("phone-context")
    local = number.translate(_SEPARATORS)
    if context is None or local.startswith("+"):
        base = normalise(local, country_code, national_prefix)
    elif not context.startswith("+"):
        return None  # a domain-name context: no number
    else:
        digits = context[1:].translate(_SEPARATORS)
        if not _ascii_digits(digits) or not digits.startswith(country_code):
            return None  # malformed or another country's context: foreign
        area = digits[len(country_code) :]
        if not area:
            base = normalise(local, country_code, national_prefix)
        else:
            base = area + local if _ascii_digits(local) else None
    return None if base is None else base + appended


def strip_carrier_prefix(raw: str, prefixes: tuple[str, ...]) -> str:
    """A callee user part with one carrier-selection prefix stripped (rules 1.1 section 2).

    The prefix is matched on the number with its separators dropped and cut with them.
    """
    user = _user_part(raw)
    if user is None or not prefixes:
        return raw
    number, semi, params = user.partition(";")
    digits = number.translate(_SEPARATORS)
    for prefix in prefixes:
        if digits.startswith(prefix) and len(digits) > len(prefix):
            return digits[len(prefix) :] + semi + params
    return raw


def normalise(raw: str, country_code: str, national_prefix: str) -> str | None:
    """Return the NSN of ``raw`` (a number, user part or URI), or None when it has none."""
    if raw.isdigit() and raw.isascii():
        digits = raw
    else:
        user = _user_part(raw)
        if user is None:
            return None
        number, semi, params = user.partition(";")
        if semi:
            return _telephone(number, params, country_code, national_prefix)
        digits = number.translate(_SEPARATORS)
        if digits.startswith("+"):
            if not digits.startswith(country_code, 1):
                return None
            digits = digits[1 + len(country_code) :]
            return digits if digits.isdigit() and digits.isascii() else None
    if digits.startswith("00") and digits.startswith(country_code, 2):
        digits = digits[2 + len(country_code) :]
    elif national_prefix and digits.startswith(national_prefix):
        digits = digits[len(national_prefix) :]
    if digits and digits.isdigit() and digits.isascii():
        return digits
    return None


def nsn_function(country_code: str, national_prefix: str) -> Callable[[str | None], str | None]:
    """``normalise`` for one ruleset, None passed through, common forms answered inline."""
    leads = ("00", national_prefix) if national_prefix else ("00",)
    plus = "+" + country_code
    cut = len(plus)

    def nsn(raw: str | None) -> str | None:
        if raw is None:
            return None
        if raw.isdigit() and raw.isascii():
            if not raw.startswith(leads):
                return raw
        elif raw.startswith(plus):
            rest = raw[cut:]
            if rest.isdigit() and rest.isascii():
                return rest
        return normalise(raw, country_code, national_prefix)

    return nsn


@dataclass(frozen=True, slots=True, init=False)
class NumberEntry:
    """One filed access number, with flags precomputed for the hot path of ``evaluate``.

    ``licence_until`` is the proleptic ordinal of the last day the operator's licence is
    valid, or -1 when the operator's ``harassment_pledge`` is false (never valid).
    ``valid_from``/``valid_until`` bound the filing period as inclusive local ordinals.
    """

    nsn: str
    operator: str
    trunk: str
    inbound: bool
    outbound: bool
    usage: str | None
    licence_until: int
    valid_from: int = 0
    valid_until: int = FOREVER
    display_name: str | None = None

    def __init__(
        self,
        nsn: str,
        operator: str,
        trunk: str,
        inbound: bool,  # noqa: FBT001 (the dataclass field, in order)
        outbound: bool,  # noqa: FBT001 (the dataclass field, in order)
        usage: str | None,
        licence_until: int,
        valid_from: int = 0,
        valid_until: int = FOREVER,
        display_name: str | None = None,
    ) -> None:
        object.__setattr__(self, "nsn", nsn)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "trunk", trunk)
        object.__setattr__(self, "inbound", inbound)
        object.__setattr__(self, "outbound", outbound)
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "licence_until", licence_until)
        object.__setattr__(self, "valid_from", valid_from)
        object.__setattr__(self, "valid_until", valid_until)
        object.__setattr__(self, "display_name", display_name)


class NumberIndex:
    """Exact and length-related lookups over the filed NSNs."""

    __slots__ = ("_entries", "_sorted", "get")

    def __init__(self, entries: Iterable[NumberEntry] | dict[str, NumberEntry]) -> None:
        if isinstance(entries, dict):
            self._entries: dict[str, NumberEntry] = entries
        else:
            self._entries = {entry.nsn: entry for entry in entries}
        self._sorted: list[str] = sorted_in_steps(list(self._entries))
        #: ``lookup`` as a bound ``dict.get``, for the hot path of ``evaluate``.
        self.get: Callable[[str], NumberEntry | None] = self._entries.get

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, nsn: object) -> bool:
        return nsn in self._entries

    def lookup(self, nsn: str) -> NumberEntry | None:
        """The filed entry for ``nsn``, or None."""
        return self._entries.get(nsn)

    def length_related(self, nsn: str) -> bool:
        """True when ``nsn`` is not filed but a filed NSN is a proper prefix of it or vice versa."""
        entries = self._entries
        if nsn in entries:
            return False
        ordered = self._sorted
        at = bisect_right(ordered, nsn)  # every filed NSN starting with ``nsn`` sorts here
        if at < len(ordered) and ordered[at].startswith(nsn):
            return True
        return any(nsn[:cut] in entries for cut in range(1, len(nsn)))

    def release(self) -> None:
        """Empty the index in short steps; only for an index no one else can reach."""
        empty_in_steps(self._entries, self._sorted)

    def entries(self) -> list[NumberEntry]:
        """Every filed entry, in filing order."""
        return list(self._entries.values())
