"""Filed numbers from a registry export (rules 1.1 section 7): fast CSV loading.

Invariants:
- A row becomes one ``NumberEntry`` and nothing else: no model object per row.  Operator
  ids, trunk ids, usages and dates are shared objects, so 10^6 rows cost about one string,
  one entry and the index's slots each.
- Every v1 check of an inline number applies to each row: unknown operator or trunk, a
  trunk of another operator, a duplicate, a number that is not all digits, and an outbound
  number of an operator without ``outbound_commitment``; plus booleans, dates and a period
  whose end comes before its start.  An optional ``display_name`` column (rules 1.1
  section 1) is checked as the inline field is; without the column no entry has one.
- The file is decoded ``_CHUNK`` bytes at a time, one system call each: every read lets
  the GIL go and takes it straight back, and a reload thread doing that every 8 KiB (the
  text layer's default) resets the wait after which the event loop may ask for the GIL, so
  the loop starves for as long as the file is read.
- Bad rows are collected as ``Issue``s located ``FILE:LINE:COL`` (1-based, the column is the
  character offset of the field in its line) and left out of the index.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from operator import itemgetter
from typing import TYPE_CHECKING, TextIO

from sipguard.errors import Issue
from sipguard.policy.crosscheck import Parts
from sipguard.policy.numbers import FOREVER, NumberEntry, normalise
from sipguard.policy.values import check_display

if TYPE_CHECKING:
    from _csv import Reader

COLUMNS = (
    "number", "operator", "trunk", "inbound", "outbound", "usage", "valid_from", "valid_until",
)  # fmt: skip
OPTIONAL = ("display_name",)
_CHUNK = 4 << 20  # bytes read and decoded per system call
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def filing_of(parts: Parts) -> Filing:
    """The checks of a row, from what validated of the rules (unvalidated operators pass)."""
    commitment = {k: True for k in parts.operator_ids}
    until = {k: -1 for k in parts.operator_ids}
    for k, op in parts.operators.items():
        commitment[k] = bool(getattr(op, "outbound_commitment", True))
        pledge = getattr(op, "harassment_pledge", False)
        expires = getattr(op, "licence_expires", None)
        until[k] = expires.toordinal() if pledge and isinstance(expires, date) else -1
    trunks = {k: str(getattr(t, "operator", "")) for k, t in parts.trunks.items()}
    trunks.update({k: "" for k in parts.trunk_ids - trunks.keys()})
    return Filing(parts.country_code, parts.national_prefix, commitment, until, trunks)


class Filing:
    """What a row is checked against: operators, trunks and the number format."""

    __slots__ = ("commitment", "country_code", "licence_until", "national_prefix", "trunk_operator")

    def __init__(
        self,
        country_code: str,
        national_prefix: str,
        commitment: dict[str, bool],
        licence_until: dict[str, int],
        trunk_operator: dict[str, str],
    ) -> None:
        self.country_code, self.national_prefix = country_code, national_prefix
        self.commitment, self.licence_until = commitment, licence_until
        self.trunk_operator = trunk_operator


def open_csv(path: str | os.PathLike[str]) -> TextIO:
    """``path`` opened for ``csv.reader``, decoded :data:`_CHUNK` bytes per system call
    (numbers and consents files alike; see the module invariants)."""
    handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115
    handle._CHUNK_SIZE = _CHUNK  # type: ignore[attr-defined]
    return handle


def read_numbers(
    path: str | os.PathLike[str], filing: Filing, display: str | None = None
) -> tuple[dict[str, NumberEntry], list[Issue]]:
    """The good rows of a numbers CSV keyed by NSN, and an issue per bad row."""
    name = str(path) if display is None else display
    found: dict[str, NumberEntry] = {}
    try:
        handle = open_csv(path)
    except OSError as exc:
        return found, [Issue(name, 1, 1, f"cannot read numbers file: {exc.strerror}")]
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return found, [Issue(name, 1, 1, "empty numbers file: expected a header row")]
        names = [h.strip().lower() for h in header]
        wanted = (*COLUMNS, *(c for c in OPTIONAL if c in names))
        if sorted(names) != sorted(wanted):
            text = f"bad header {','.join(header)!r}: expected {','.join(COLUMNS)}"
            return found, [Issue(name, 1, 1, text + " (display_name optional)")]
        order = [names.index(c) for c in wanted]
        issues: list[Issue] = []
        try:
            _read_rows(reader, order, filing, found, issues, name)
        except (csv.Error, UnicodeDecodeError) as exc:
            issues.append(Issue(name, reader.line_num + 1, 1, f"unreadable CSV: {exc}"))
    return found, issues


def _read_rows(
    reader: Reader, order: list[int], filing: Filing, found: dict[str, NumberEntry],
    issues: list[Issue], name: str,
) -> None:  # fmt: skip
    """The hot loop: a good row costs a few dict probes and one entry."""
    cc, prefix = filing.country_code, filing.national_prefix
    ops, commitment = filing.licence_until, filing.commitment
    leads, trunks, op_ids = _lookups(filing)
    shared: dict[str, str] = {}
    dates: dict[str, int | None] = {"": None}
    pick, width = itemgetter(*order), len(order)
    for fields in reader:
        if len(fields) != width:
            if fields:  # a blank line is no row
                issues.append(_width_issue(fields, width, name, reader.line_num))
            continue
        n, o, t, i, u, use, vf, vu, *shown = pick(fields)
        display = shown[0] if shown and shown[0] else None
        plain = n.isdigit() and n.isascii() and not n.startswith(leads)
        nsn = n if plain else normalise(n, cc, prefix)
        trunk = trunks.get(t)
        inbound, outbound = _BOOLS.get(i.lower() or "true"), _BOOLS.get(u.lower() or "false")
        start = dates[vf] if vf in dates else _date(vf, dates)
        end = dates[vu] if vu in dates else _date(vu, dates)
        operator = op_ids.get(o)
        if (
            nsn is None or nsn in found or operator is None or trunk is None
            or (trunk[1] != operator and trunk[1]) or inbound is None or outbound is None
            or (outbound and not commitment[operator])
            or start == -1 or end == -1 or (start is not None and end is not None and end < start)
            or (display is not None and _bad_display(display))
        ):  # fmt: skip
            issues.append(_row_issue(fields, order, filing, found, name, reader.line_num))
            continue
        usage = shared.setdefault(use, use) if use else None
        found[nsn] = NumberEntry(
            nsn, operator, trunk[0], inbound, outbound, usage, ops[operator],
            0 if start is None else start, FOREVER if end is None else end, display,
        )  # fmt: skip


def _lookups(
    filing: Filing,
) -> tuple[tuple[str, ...], dict[str, tuple[str, str]], dict[str, str]]:
    """The leads of a number to normalise, and the shared id strings of trunks and operators.

    A trunk id maps to ``(id, its operator)``; an operator id maps to itself, so every entry
    holds the one string object of its operator and trunk.
    """
    prefix = filing.national_prefix
    leads = ("00", prefix) if prefix else ("00",)
    trunks = {t: (t, o) for t, o in filing.trunk_operator.items()}
    return leads, trunks, {o: o for o in filing.licence_until}


def _width_issue(fields: list[str], width: int, name: str, line: int) -> Issue:
    return Issue(name, line, 1, f"expected {width} fields, found {len(fields)}")


def _bad_display(text: str) -> bool:
    try:
        check_display(text)
    except ValueError:
        return True
    return False


def _date(text: str, memo: dict[str, int | None]) -> int:
    """The ordinal of an ISO date (memoised), or -1 when ``text`` is not one."""
    try:
        value = date.fromisoformat(text).toordinal()
    except ValueError:
        return -1
    memo[text] = value
    return value


def _col(fields: list[str], index: int) -> int:
    return 1 + sum(len(f) + 1 for f in fields[:index])


def _row_issue(
    fields: list[str],
    order: list[int],
    filing: Filing,
    found: dict[str, NumberEntry],
    name: str,
    line: int,
) -> Issue:
    """Explain the first problem of a row already known to be bad."""
    ni, oi, ti, ii, ui, _, fi, ei, *di = order
    problem = _problem(fields, order, filing, found)
    at = {"number": ni, "operator": oi, "trunk": ti, "inbound": ii, "outbound": ui}
    at.update({"valid_from": fi, "valid_until": ei, "display_name": di[0] if di else 0})
    column, text = problem
    return Issue(name, line, _col(fields, at[column]), text)


def _problem(
    fields: list[str], order: list[int], filing: Filing, found: dict[str, NumberEntry]
) -> tuple[str, str]:
    n, o, t, i, u, _, vf, vu, *shown = (fields[k] for k in order)
    return (
        _filing_problem(n, o, t, filing, found)
        or _value_problem((i, u, vf, vu), n, o, committed=filing.commitment.get(o, True))
        or _display_problem(shown[0] if shown else "")
        or ("valid_until", f"valid_until {vu} is before valid_from {vf}")
    )


def _filing_problem(
    n: str, o: str, t: str, filing: Filing, found: dict[str, NumberEntry]
) -> tuple[str, str] | None:
    """The number, its operator and its trunk: malformed, a duplicate, unknown or mismatched."""
    nsn = normalise(n, filing.country_code, filing.national_prefix)
    if nsn is None:
        return "number", f"number {n!r} is not all digits"
    if nsn in found:
        return "number", f"duplicate number {nsn}"
    if o not in filing.licence_until:
        return "operator", f"unknown operator {o!r}"
    owner = filing.trunk_operator.get(t)
    if owner is None:
        return "trunk", f"unknown trunk {t!r}"
    if owner and owner != o:
        text = f"number {n} is filed for operator {o!r} but trunk {t!r} belongs to operator "
        return "trunk", text + repr(owner)
    return None


def _value_problem(
    values: tuple[str, str, str, str], n: str, o: str, *, committed: bool
) -> tuple[str, str] | None:
    """The booleans and dates of a row, and outbound use without the operator's commitment."""
    i, u, vf, vu = values
    for column, value in (("inbound", i), ("outbound", u)):
        if value.lower() not in _BOOLS and value:
            return column, f"bad {column} {value!r}: expected true or false"
    for column, value in (("valid_from", vf), ("valid_until", vu)):
        if value and _date(value, {}) == -1:
            return column, f"bad {column} {value!r}: expected a date YYYY-MM-DD"
    if _BOOLS.get(u.lower(), False) and not committed:
        text = f"number {n} is outbound-enabled but operator {o!r} has no outbound_commitment"
        return "outbound", text
    return None


def _display_problem(shown: str) -> tuple[str, str] | None:
    if not shown:
        return None
    try:
        check_display(shown)
    except ValueError as exc:
        return "display_name", str(exc)
    return None
