"""A lenient look at an INVITE the strict parser refused, so replay can still report it.

Invariants:
- Used only after ``sipguard.sip.parse`` raised: such a request never reaches the policy
  (spec section 4, "Malformed requests"); replay lists it with the parser's answer.
- It reads the start line and the first Call-ID, CSeq, Via, From and P-Asserted-Identity
  lines (long or compact names, RFC 3261 section 7.3.3) by pattern, without validating
  anything; a missing Call-ID or CSeq number means there is nothing to report (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(rb"^([A-Za-z-]+)[ \t]*:[ \t]*(.*?)\r?$", re.MULTILINE)
_NAMES = {
    b"call-id": "call_id",
    b"i": "call_id",
    b"cseq": "cseq",
    b"via": "via",
    b"v": "via",
    b"from": "from",
    b"f": "from",
    b"p-asserted-identity": "pai",
}
_USER = re.compile(r"sips?:([^@;>?\s:]+)(?::[^@;>?\s]*)?@|tel:([^;>?\s]+)", re.IGNORECASE)
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)
_CSEQ = re.compile(r"(\d+)")


@dataclass(frozen=True, slots=True)
class ScannedInvite:
    """What could be read from a malformed INVITE."""

    call_id: str
    cseq: int
    branch: str
    from_user: str | None
    pai_user: str | None
    ruri_user: str | None


def _user(value: str | None) -> str | None:
    if value is None:
        return None
    found = _USER.search(value)
    return (found.group(1) or found.group(2)) if found else None


def scan_invite(data: bytes) -> ScannedInvite | None:
    """Read the transaction key and numbers of a malformed INVITE, or None."""
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else len(data)]
    first, _, rest = head.partition(b"\n")
    parts = first.split(b" ")
    values: dict[str, str] = {}
    for match in _HEADER.finditer(rest):
        key = _NAMES.get(match.group(1).lower())
        if key is not None and key not in values:
            values[key] = match.group(2).decode("utf-8", "replace").strip()
    cseq = _CSEQ.match(values.get("cseq", ""))
    call_id = values.get("call_id")
    if not call_id or cseq is None:
        return None
    branch = _BRANCH.search(values.get("via", ""))
    ruri = parts[1].decode("utf-8", "replace") if len(parts) >= 3 else None
    return ScannedInvite(
        call_id=call_id,
        cseq=int(cseq.group(1)),
        branch=branch.group(1) if branch else "",
        from_user=_user(values.get("from")),
        pai_user=_user(values.get("pai")),
        ruri_user=_user(ruri),
    )
