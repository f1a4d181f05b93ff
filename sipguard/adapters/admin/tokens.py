"""The admin API's bearer tokens: the token file, and a constant-time check.

Token file format: one token per line, either ``NAME:TOKEN`` or a bare ``TOKEN`` (named
``admin``).  Blank lines and lines starting with ``#`` are ignored.  A name is letters,
digits and ``._@-``; a token is at least 16 printable characters without spaces (a bare
token must not contain ``:``).  Names and tokens must be unique.

Invariants:
- A presented token is compared against *every* known token with ``hmac.compare_digest``
  on SHA-256 digests (equal lengths), and the loop never stops early, so the time taken
  says nothing about which token, or how much of one, matched.
- Problems in the file are located (``FILE:LINE: message``) and all reported at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_NAME = "admin"
MIN_LENGTH = 16
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")


class TokenFileError(ValueError):
    """The token file cannot be used; the message lists every located problem."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class Tokens:
    """Known tokens as (name, sha256 digest) pairs."""

    entries: tuple[tuple[str, bytes], ...]
    readable_by_others: bool = False  # the file's mode lets group or others read it

    @classmethod
    def of(cls, pairs: dict[str, str]) -> Tokens:
        """Tokens from ``{name: token}`` (for tests and embedding)."""
        return cls(tuple((name, _digest(token)) for name, token in pairs.items()))

    def identify(self, presented: str) -> str | None:
        """The name of the token ``presented`` is, or None; constant-time over all tokens."""
        probe = _digest(presented)
        found: str | None = None
        for name, digest in self.entries:
            if hmac.compare_digest(probe, digest):
                found = name
        return found


def parse_tokens(text: str, display: str) -> Tokens:
    """Parse a token file's text; raise TokenFileError listing every problem."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.partition(":")
        if not sep:
            name, token = DEFAULT_NAME, line
        problem = _problem(name, token, seen)
        if problem:
            problems.append(f"{display}:{number}: {problem}")
        else:
            seen[name] = token
    if not seen and not problems:
        problems.append(f"{display}:1: no token in the file")
    if problems:
        raise TokenFileError("\n".join(problems))
    return Tokens.of(seen)


def _problem(name: str, token: str, seen: dict[str, str]) -> str:
    if not _NAME.match(name):
        return f"bad token name {name!r}: letters, digits and ._@- only"
    if not _TOKEN.match(token):
        return f"token of {name!r} has spaces or unprintable characters"
    if len(token) < MIN_LENGTH:
        return f"token of {name!r} is shorter than {MIN_LENGTH} characters"
    if name in seen:
        return f"token name {name!r} appears twice"
    if token in seen.values():
        return f"token of {name!r} is also another name's token"
    return ""


def load_tokens(path: Path) -> Tokens:
    """Read and parse the token file at ``path``; TokenFileError when unreadable or bad."""
    try:
        text = path.read_text(encoding="utf-8")
        loose = bool(path.stat().st_mode & 0o044)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise TokenFileError(f"{path}: cannot read token file: {reason}") from exc
    return replace(parse_tokens(text, str(path)), readable_by_others=loose)
