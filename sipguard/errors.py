"""The one error hierarchy of sipguard.

Every error raised on untrusted input derives from :class:`SipguardError`.  Errors carry
what the caller needs to act on them: a parse error carries the SIP status a server should
answer with (``None`` means the message must be dropped silently), and a rules error carries
every located issue found, not just the first.
"""

from __future__ import annotations

from dataclasses import dataclass


class SipguardError(Exception):
    """Root of every error sipguard raises on purpose."""


class SipParseError(SipguardError):
    """Bytes from a peer that are not an acceptable SIP message.

    ``status_hint`` is the status a server answers a request with (400, 416, 420, 483,
    501, 505, ...).  ``None`` means "drop": the message is a response, or so broken that
    no response can be routed (RFC 3261 section 18.2.2).
    """

    def __init__(self, message: str, status_hint: int | None = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_hint = status_hint

    @property
    def drop(self) -> bool:
        """True when the message must be discarded without an answer."""
        return self.status_hint is None


@dataclass(frozen=True, slots=True)
class Issue:
    """One located problem in a rules or consents file."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RulesError(SipguardError):
    """A rules file (or its consents file) failed to load; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.col, i.message))
        super().__init__("\n".join(str(i) for i in self.issues))
