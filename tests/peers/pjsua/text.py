"""Reading the raw SIP text pjsua2 hands to the test peer (RFC 3261 §7).

The peer checks sipguard from the outside, so it deliberately does not reuse
``sipguard.sip``: an independent reader catches mistakes a shared parser would hide.

Invariants:
- header names keep their spelling; lookups are case-insensitive and know the compact
  forms of the headers the tests look at (§7.3.3);
- folded continuation lines (§7.3.1) are joined with one space;
- the body is everything after the first empty line, returned as text or ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLANK_LINE = re.compile(r"\r?\n\r?\n")
COMPACT = {
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "c": "content-type",
    "l": "content-length",
    "v": "via",
    "k": "supported",
    "s": "subject",
}


def canonical(name: str) -> str:
    """Return the lower-case long form of a header name."""
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass(frozen=True, slots=True)
class SipText:
    """A SIP message as text: start line, headers in order, and body."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: str | None

    def get(self, name: str) -> str | None:
        """Return the first value of a header, or ``None``."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header, in order (comma lists are not split)."""
        want = canonical(name)
        return [value for key, value in self.headers if canonical(key) == want]

    @property
    def is_response(self) -> bool:
        """True for a response (its start line begins with the SIP version)."""
        return self.start_line.upper().startswith("SIP/")

    @property
    def status(self) -> int | None:
        """The status code of a response, else ``None``."""
        if not self.is_response:
            return None
        parts = self.start_line.split(None, 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    @property
    def method(self) -> str:
        """The request method, or for a response the method named in CSeq."""
        if self.is_response:
            cseq = (self.get("CSeq") or "").split()
            return cseq[1].upper() if len(cseq) > 1 else ""
        return self.start_line.split(None, 1)[0].upper() if self.start_line else ""

    @property
    def request_uri(self) -> str | None:
        """The Request-URI of a request, else ``None``."""
        if self.is_response:
            return None
        parts = self.start_line.split()
        return parts[1] if len(parts) > 1 else None


def parse_text(text: str) -> SipText:
    """Split a whole SIP message into start line, unfolded headers and body."""
    match = _BLANK_LINE.search(text)
    head, body = (text[: match.start()], text[match.end() :]) if match else (text, "")
    lines = head.replace("\r\n", "\n").split("\n")
    start = lines[0].strip() if lines else ""
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return SipText(start, tuple(headers), body or None)
