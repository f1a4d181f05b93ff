"""Header fields of a SIP message: an ordered multimap (RFC 3261 section 7.3).

Invariants:
- fields keep their order and their raw names, so a message can be written back as received;
- lookups are case-insensitive and treat a compact form (section 7.3.3 and the extension
  RFCs) as the same header as its long name;
- ``get_all`` splits comma-separated values only for headers whose grammar is a
  comma list (``#element``), and never inside quotes or angle brackets;
- ``first()`` (the first value of each header) and parsed values are memoised in one
  cache, which every mutation clears; ``with_first`` copies with one field rewritten and
  keeps only the memoised values its caller says still hold;
- splitting a value costs time linear in its length, whatever the quotes and brackets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Compact form -> canonical (lower-case long) name: RFC 3261 section 7.3.3 and the
#: extension RFCs (a, d, j: RFC 3841; b: 3892; n, y: 4474; o, u: 6665; r: 3515; x: 4028).
COMPACT: dict[str, str] = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type",
    "d": "request-disposition", "e": "content-encoding", "f": "from", "i": "call-id",
    "j": "reject-contact", "k": "supported", "l": "content-length", "m": "contact",
    "n": "identity-info", "o": "event", "r": "refer-to", "s": "subject", "t": "to",
    "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}  # fmt: skip

_SHORT = re.compile(r":[a-z]:")

#: Headers whose grammar is a comma-separated list, so one field may hold many values.
_LIST_NAMES = """
accept accept-contact accept-encoding accept-language alert-info allow allow-events
call-info contact content-encoding content-language error-info in-reply-to
p-asserted-identity p-preferred-identity path proxy-require record-route reject-contact
reason require route security-client security-server security-verify service-route
supported unsupported via warning
"""
LIST_HEADERS: frozenset[str] = frozenset(_LIST_NAMES.split())


def canonical(name: str) -> str:
    """Return the lookup key of a header name: lower case, compact forms expanded."""
    key = name.strip().lower()
    return COMPACT.get(key, key)


# One element of a comma list, after the comma before it (or the start): plain characters,
# quoted strings (backslash escapes the next character) and <...> sections, inside which
# commas do not split.  Possessive quantifiers keep every match linear.
_QUOTED = r'"(?:[^"\\]++|\\[\s\S]|\\\Z)*+"?'
_ELEMENTS = re.compile(rf'(?:^|,)((?:[^"<,]++|{_QUOTED}|<(?:[^">]++|{_QUOTED})*+>?)*+)')


def split_commas(value: str) -> list[str]:
    """Split a header value at top-level commas, respecting quotes and ``<...>``.

    Empty elements are kept (as ``""``) so validators can see stray commas.
    """
    if "," not in value:
        return [value.strip()]
    if '"' not in value and "<" not in value:
        return list(map(str.strip, value.split(",")))
    return list(map(str.strip, _ELEMENTS.findall(value)))


def iter_commas(value: str) -> Iterator[str]:
    """The elements ``split_commas`` returns, one at a time (nothing past what is read: a
    generator function, since mypyc builds a returned generator expression as a list)."""
    for match in _ELEMENTS.finditer(value):
        yield match.group(1).strip()


_CANON_CACHE: dict[str, str] = {}


def _key(name: str) -> str:
    key = _CANON_CACHE.get(name)
    if key is None:
        key = canonical(name)
        if len(_CANON_CACHE) < 512:
            _CANON_CACHE[name] = key
    return key


def canonical_keys(names: list[str]) -> list[str]:
    """Return the lookup keys of many header names at once (the parser's fast path)."""
    if not names:
        return []
    joined = ":".join(names).lower()
    keys = joined.split(":")
    if _SHORT.search(":" + joined + ":") is not None:
        keys = [COMPACT.get(k, k) if len(k) == 1 else k for k in keys]
    return keys


class Headers:
    """Ordered multimap of header fields; see the module docstring for the rules.

    Two ``Headers`` are equal when they hold the same fields in the same order, ignoring
    ``Content-Length``: it describes framing and :func:`sipguard.sip.serialise` always
    rewrites it from the body.
    """

    __slots__ = ("_cache", "_keys", "_names", "_values")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._names: list[str] = []
        self._values: list[str] = []
        self._keys: list[str] = []
        self._cache: dict[str, object] = {}
        for name, value in fields:
            self.add(name, value)

    @classmethod
    def from_lists(cls, names: list[str], values: list[str], keys: list[str]) -> Headers:
        """Build from parallel lists (raw names, values, lookup keys); takes ownership."""
        self = cls()
        self._names, self._values, self._keys = names, values, keys
        return self

    def add(self, name: str, value: str) -> None:
        """Append a field, keeping ``name`` as written."""
        self._names.append(name)
        self._values.append(value)
        self._keys.append(canonical(name))
        self._cache.clear()

    def get(self, name: str) -> str | None:
        """Return the value of the first field called ``name``, or None.

        ``self.first().get(_key(name))``, with the memoised dict and key read inline
        (this is the hottest read of the call core).
        """
        first: dict[str, str] | None = self._cache.get("#first")  # type: ignore[assignment]
        if first is None:
            first = self.first()
        key = _CANON_CACHE.get(name)
        return first.get(key if key is not None else _key(name))

    def get_fields(self, name: str) -> list[str]:
        """Return the raw value of every field called ``name``, unsplit."""
        key = _CANON_CACHE.get(name) or _key(name)
        first: dict[str, str] | None = self._cache.get("#first")  # type: ignore[assignment]
        if first is None:
            first = self.first()
        value = first.get(key)
        if value is None:
            return []
        if len(first) == len(self._keys) or self._keys.count(key) == 1:
            return [value]
        return [v for k, v in zip(self._keys, self._values, strict=True) if k == key]

    def first(self) -> dict[str, str]:
        """The first value of each header, by lookup key; built on first use, memoised.

        The dict belongs to the cache: callers must not change it.
        """
        first = self._cache.get("#first")
        if first is None:
            first = dict(zip(self._keys, self._values, strict=True))
            if len(first) != len(self._keys):  # a name repeats: keep its first value
                first = dict(zip(reversed(self._keys), reversed(self._values), strict=True))
            self._cache["#first"] = first
        return first  # type: ignore[return-value]

    def count(self, name: str) -> int:
        """How many fields are called ``name``."""
        key = _key(name)
        if key not in self.first():
            return 0
        return 1 if self.unique() else self._keys.count(key)

    def unique(self) -> bool:
        """True when no header name appears on more than one field."""
        return len(self.first()) == len(self._keys)

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name``; comma lists are split where the grammar allows."""
        values = self.get_fields(name)
        if _key(name) not in LIST_HEADERS:
            return values
        out: list[str] = []
        for value in values:
            out.extend(split_commas(value))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` by one field, at the first one's position."""
        key = canonical(name)
        kept: list[tuple[str, str]] = []
        placed = False
        for raw, old, k in zip(self._names, self._values, self._keys, strict=True):
            if k != key:
                kept.append((raw, old))
            elif not placed:
                kept.append((name, value))
                placed = True
        if not placed:
            kept.append((name, value))
        self._rebuild(kept)

    def remove(self, name: str) -> None:
        """Delete every field called ``name`` (no error when there is none)."""
        key = canonical(name)
        self._rebuild([(n, v) for n, v, k in self.triples() if k != key])

    def items(self) -> list[tuple[str, str]]:
        """Return the fields in order as ``(raw name, value)`` pairs."""
        return list(zip(self._names, self._values, strict=True))

    def select(self, keys: frozenset[str]) -> list[tuple[str, str]]:
        """The ``(raw name, value)`` pairs, in order, of the fields whose key is in ``keys``.

        ``[(n, v) for n, v in self.items() if canonical(n) in keys]``, read off the keys
        computed when the fields were added.
        """
        return [
            (n, v)
            for n, v, k in zip(self._names, self._values, self._keys, strict=True)
            if k in keys
        ]

    def with_first(self, name: str, value: str, keep: Callable[[str], bool]) -> Headers:
        """A copy whose first field called ``name`` (which must exist) holds ``value``.

        The memoised values under the cache keys ``keep`` accepts are carried over; the
        caller vouches that the rewritten field does not change them.
        """
        values = list(self._values)
        values[self._keys.index(_key(name))] = value
        out = Headers.from_lists(list(self._names), values, list(self._keys))
        out._cache = {k: v for k, v in self._cache.items() if k != "#first" and keep(k)}
        return out

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """Return ``build()``, memoised under ``key`` until the next mutation."""
        return self.memo(key, lambda _: build())

    def memo(self, key: str, build: Callable[[Headers], T]) -> T:
        """``cached(key, lambda: build(self))``, with no closure made on every read."""
        cache = self._cache
        if key in cache:
            return cache[key]  # type: ignore[return-value]
        value = build(self)
        cache[key] = value
        return value

    def forget_parsed(self) -> None:
        """Drop every memoised value; each is built again on its next use."""
        self._cache.clear()

    def copy(self) -> Headers:
        """Return an independent copy."""
        return Headers.from_lists(list(self._names), list(self._values), list(self._keys))

    def position(self, key: str) -> int | None:
        """The index of the first field whose lookup key is ``key``, or None."""
        keys = self._keys
        return keys.index(key) if key in keys else None

    def triples(self) -> Iterator[tuple[str, str, str]]:
        """``(raw name, value, lookup key)`` of each field, in order."""
        return zip(self._names, self._values, self._keys, strict=True)

    def _rebuild(self, fields: list[tuple[str, str]]) -> None:
        self._names, self._values, self._keys = [], [], []
        for raw, value in fields:
            self.add(raw, value)
        self._cache.clear()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        first: dict[str, str] | None = self._cache.get("#first")  # type: ignore[assignment]
        return (_CANON_CACHE.get(name) or _key(name)) in (first or self.first())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._framed() == other._framed()

    __hash__ = None  # type: ignore[assignment]

    def _framed(self) -> list[tuple[str, str]]:
        return [(n, v) for n, v, k in self.triples() if k != "content-length"]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"
