"""Consent records for outbound return visits: fast CSV loading into a compact index.

Invariants:
- A row is valid for a call at epoch ``t`` when ``granted_at <= t < expires_at`` (rules
  spec section 1); timestamps are ISO 8601 and a missing offset means the rules' zone.
- Rows are stored as a dict from ``"number|callee"`` (both NSNs) to one ``bytes`` per row:
  granted and expires as two doubles, then the credential in UTF-8.  One object per row,
  so a check touches the dict and that one object.
- Timestamps are read by ``parse_moment``: every form ``datetime.fromisoformat`` accepts,
  plus ``T24:00``; sub-microsecond digits are refused, never cut (a located issue).
- Loading collects every bad row as an ``Issue`` located ``FILE:LINE:COL`` (1-based); the
  column is the character offset of the field in its line.
"""

from __future__ import annotations

import csv
import os
import re
import struct
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from sipguard.errors import Issue, RulesError
from sipguard.policy.numbers import normalise
from sipguard.policy.numbers_csv import open_csv

if TYPE_CHECKING:
    from _csv import Reader

COLUMNS = ("callee", "number", "credential", "granted_at", "expires_at")


class ConsentIndex:
    """Every consent row, keyed by (filed number, callee) NSN pair."""

    __slots__ = ("_first", "_more", "_rows")

    def __init__(self) -> None:
        # One bytes object per row: granted_at and expires_at as two doubles, then the
        # credential in UTF-8, so a check reads one object after the dict probe.
        self._first: dict[str, bytes] = {}
        self._more: dict[str, list[bytes]] = {}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(
        self, number: str, callee: str, credential: str, granted: float, expires: float
    ) -> None:
        """Append one row (both numbers as NSNs, times as epoch seconds)."""
        row = _pack(granted, expires) + credential.encode("utf-8", "surrogatepass")
        self._rows += 1
        key = f"{number}|{callee}"
        if self._first.setdefault(key, row) is not row:
            self._more.setdefault(key, []).append(row)

    def find(self, number_nsn: str, callee_nsn: str, t_epoch: float) -> str | None:
        """The credential of a row valid for ``number -> callee`` at ``t_epoch``, or None."""
        key = f"{number_nsn}|{callee_nsn}"
        row = self._first.get(key)
        if row is None:
            return None
        granted, expires = _unpack(row)
        if granted <= t_epoch < expires:
            return row[16:].decode("utf-8", "surrogatepass")
        for other in self._more.get(key, ()):
            granted, expires = _unpack(other)
            if granted <= t_epoch < expires:
                return other[16:].decode("utf-8", "surrogatepass")
        return None


_TIMES = struct.Struct("<dd")
_pack = _TIMES.pack
_unpack = _TIMES.unpack_from


_SUB_MICRO = re.compile(r"[.,][0-9]{6}([0-9]+)")
_END_OF_DAY = re.compile(r"([0-9-]+[Tt ])24:00(?::00(?:[.,]0+)?)?(.*)")


class TimeTooPrecise(ValueError):
    """A timestamp with sub-microsecond digits: it cannot be represented exactly."""


def parse_moment(text: str) -> datetime:
    """An ISO 8601 timestamp as ``datetime.fromisoformat`` reads it, plus ``T24:00`` (the
    end of a day, read as the next day's 00:00); nonzero digits past the sixth fractional
    digit raise ``TimeTooPrecise`` instead of being cut."""
    if "." not in text and "," not in text and "24:" not in text:
        return datetime.fromisoformat(text)
    cut = _SUB_MICRO.search(text)
    if cut is not None and cut.group(1).strip("0"):
        raise TimeTooPrecise("sub-microsecond digits cannot be represented")
    end = _END_OF_DAY.fullmatch(text)
    if end is not None:
        return datetime.fromisoformat(end.group(1) + "00:00" + end.group(2)) + _DAY
    return datetime.fromisoformat(text)


_DAY = timedelta(days=1)


def _epoch(text: str, zone: tzinfo) -> float:
    moment = parse_moment(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _columns(header: list[str], display: str) -> tuple[list[int] | None, list[Issue]]:
    names = [h.strip().lower() for h in header]
    if sorted(names) != sorted(COLUMNS):
        wanted = ",".join(COLUMNS)
        return None, [Issue(display, 1, 1, f"bad header {','.join(header)!r}: expected {wanted}")]
    return [names.index(c) for c in COLUMNS], []


def _col(fields: list[str], index: int) -> int:
    return 1 + sum(len(f) + 1 for f in fields[:index])


def load_consents(
    path: str | os.PathLike[str],
    country_code: str,
    national_prefix: str,
    zone: tzinfo,
    display: str | None = None,
) -> ConsentIndex:
    """Load a consents CSV; raise ``RulesError`` listing every bad row.

    ``display`` is the file name used in issues (defaults to ``str(path)``).
    """
    index, issues = read_consents(path, country_code, national_prefix, zone, display)
    if issues:
        raise RulesError(issues)
    return index


def read_consents(
    path: str | os.PathLike[str],
    country_code: str,
    national_prefix: str,
    zone: tzinfo,
    display: str | None = None,
) -> tuple[ConsentIndex, list[Issue]]:
    """Load a consents CSV, returning the index of good rows and an issue per bad row."""
    name = str(path) if display is None else display
    index = ConsentIndex()
    try:
        handle = open_csv(path)  # large reads: a reload does not starve serve's loop
    except OSError as exc:
        return index, [Issue(name, 1, 1, f"cannot read consents file: {exc.strerror}")]
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return index, [Issue(name, 1, 1, "empty consents file: expected a header row")]
        order, issues = _columns(header, name)
        if order is None:
            return index, issues
        try:
            _read_rows(reader, order, index, issues, name, (country_code, national_prefix, zone))
        except (csv.Error, UnicodeDecodeError) as exc:
            issues.append(Issue(name, reader.line_num + 1, 1, f"unreadable CSV: {exc}"))
    return index, issues


def _read_rows(
    reader: Reader,
    order: list[int],
    index: ConsentIndex,
    issues: list[Issue],
    name: str,
    ctx: tuple[str, str, tzinfo],
) -> None:
    """The hot loop: plain-digit numbers and offset-carrying timestamps skip helper calls."""
    cc, prefix, zone = ctx
    ci, ni, ki, gi, ei = order
    leads = ("00", prefix) if prefix else ("00",)
    parse, nan = parse_moment, float("nan")
    add = index.add
    for fields in reader:
        if len(fields) != 5:
            if fields:
                text = f"expected 5 fields, found {len(fields)}"
                issues.append(Issue(name, reader.line_num, 1, text))
            continue
        c, n = fields[ci], fields[ni]
        plain = c.isdigit() and c.isascii() and not c.startswith(leads)
        callee = c if plain else normalise(c, cc, prefix)
        plain = n.isdigit() and n.isascii() and not n.startswith(leads)
        number = n if plain else normalise(n, cc, prefix)
        try:
            granted, expires = parse(fields[gi]), parse(fields[ei])
            g = (granted if granted.tzinfo else granted.replace(tzinfo=zone)).timestamp()
            e = (expires if expires.tzinfo else expires.replace(tzinfo=zone)).timestamp()
        except ValueError:
            g = e = nan
        if callee is None or number is None or not g < e or not fields[ki]:
            issues.append(_row_issue(fields, order, name, reader.line_num, ctx))
            continue
        add(number, callee, fields[ki], g, e)


def _row_issue(
    fields: list[str], order: list[int], name: str, line: int, ctx: tuple[str, str, tzinfo]
) -> Issue:
    """Explain the first problem of a row already known to be bad."""
    cc, prefix, zone = ctx
    ci, ni, ki, gi, ei = order
    for i, label in ((ci, "callee"), (ni, "number")):
        if normalise(fields[i], cc, prefix) is None:
            return Issue(name, line, _col(fields, i), f"{label} {fields[i]!r} is not a number")
    if not fields[ki]:
        return Issue(name, line, _col(fields, ki), "empty credential")
    for i, label in ((gi, "granted_at"), (ei, "expires_at")):
        try:
            _epoch(fields[i], zone)
        except TimeTooPrecise as exc:
            return Issue(name, line, _col(fields, i), f"bad {label} {fields[i]!r}: {exc}")
        except ValueError:
            text = f"bad {label} {fields[i]!r}: expected an ISO 8601 timestamp"
            return Issue(name, line, _col(fields, i), text)
    return Issue(name, line, _col(fields, ei), "expires_at must be later than granted_at")
