"""What of the signalling crosses the edge: the header allow-list and the refusal phrase.

Invariants:
- ``CALL_CONTROL`` headers always cross between the legs (both directions, requests and
  responses, in and out of dialog); the rules can add names (``sip.relay_headers``), never
  remove these.  Every other header is stripped, so ``User-Agent``, ``Server``,
  ``Warning``, ``Organization`` and vendor ``X-`` headers never name a peer's software.
- ``MANAGED`` headers are built per leg or per verdict (routing, identity, framing) and
  can never be allow-listed: ``check_relay_header`` refuses them with a short message.
- Header names here are lower case and in their full form, which is how the SIP layer
  keys headers (a one-letter compact form is refused: write the full name).
- Pure: no I/O, no clock.
"""

from __future__ import annotations

import re

#: Always relayed: the headers that negotiate the call and describe its body.
CALL_CONTROL: frozenset[str] = frozenset(
    [
        "allow",
        "supported",
        "require",
        "unsupported",
        "session-expires",
        "min-se",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "event",
        "subscription-state",
        "subject",
        "retry-after",
        "content-disposition",
        "content-encoding",
        "content-language",
    ]
)

#: Never relayed as written: sipguard builds them for each leg or from the verdict.
MANAGED: frozenset[str] = frozenset(
    [
        "via",
        "route",
        "record-route",
        "contact",
        "from",
        "to",
        "call-id",
        "cseq",
        "max-forwards",
        "content-length",
        "content-type",
        "rseq",
        "rack",
        "p-asserted-identity",
        "p-preferred-identity",
        "remote-party-id",
        "privacy",
        "diversion",
        "history-info",
    ]
)

# RFC 3261 section 25.1: a header name is a token.
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


def check_relay_header(name: str) -> str:
    """The lower-case key of an allow-listed header name; ValueError if it cannot be one."""
    if not _TOKEN.match(name):
        raise ValueError(f"bad header name {name!r}: letters, digits and -.!%*_+`'~ only")
    key = name.lower()
    if len(key) == 1:
        raise ValueError(f"compact header name {name!r}: write the full name")
    if key in MANAGED:
        raise ValueError(f"{name!r} is built by sipguard for each leg and is never relayed")
    return key


def relayed(extra: list[str]) -> frozenset[str]:
    """The allow-list: ``CALL_CONTROL`` and the rules' own additions (lower-case keys)."""
    return CALL_CONTROL | frozenset(extra)


def refusal_phrase(reason: str) -> str:
    """The status-line reason phrase of a refusal: ``QUIET_HOURS`` -> ``Quiet Hours``."""
    return reason.replace("_", " ").title()
