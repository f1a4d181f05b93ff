"""Message builders shared by the SIP tests."""

from __future__ import annotations

BASE_HEADERS = (
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
    "Max-Forwards: 70",
    "From: <sip:4008001234@192.0.2.10>;tag=a1",
    "To: <sip:13800138000@203.0.113.5>",
    "Call-ID: c1@192.0.2.10",
    "CSeq: 1 INVITE",
)


def invite(*extra: str, body: bytes = b"", length: int | None = None, replace: str = "") -> bytes:
    """Build an INVITE; ``replace`` drops base headers whose name starts with it."""
    lines = ["INVITE sip:13800138000@203.0.113.5 SIP/2.0"]
    lines += [h for h in BASE_HEADERS if not (replace and h.lower().startswith(replace.lower()))]
    lines += list(extra)
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
