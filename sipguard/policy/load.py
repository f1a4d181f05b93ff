"""Load rules.yaml (and its consents file) into a ``Ruleset``, locating every problem.

Invariants (rules spec section 1):
- Nothing stops at the first problem: YAML structure issues, every pydantic error (mapped
  from its ``loc`` to ``FILE:LINE:COL`` through the compose marks) and every cross-reference
  check are collected, then raised once as ``RulesError``.
- Cross-reference checks also run when the schema fails, on the parts that validated, so a
  bad date does not hide an unknown trunk elsewhere.  An entry that fails the schema keeps
  its fields that did validate (bad list items dropped), so a mistyped key in a trunk does
  not hide that trunk's unknown operator or overlapping peers.
- An unknown key says which known key it is close to ("did you mean").
- The consents file is read whenever its place and the number format and zone are known,
  so its errors come in the same report as the rules' own.
- A numbers CSV (``numbers: {file: ...}``) is read with the operators and trunks that
  validated, and its issues join the same report; it is read once per load.
- ``version_hash`` is the sha256 of the rules file bytes, then the numbers file bytes (when
  the numbers come from a file), then the consents bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError

from sipguard.errors import Issue, RulesError
from sipguard.policy.consents import ConsentIndex, read_consents
from sipguard.policy.crosscheck import Parts, cross_check
from sipguard.policy.locate import Located, locate_yaml, yaml_error_mark
from sipguard.policy.model import (
    Consents,
    Journal,
    Network,
    Number,
    NumbersFile,
    Operator,
    Outbound,
    Rules,
    StateStore,
    Trunk,
)
from sipguard.policy.numbers import FOREVER, NumberEntry, NumberIndex, normalise
from sipguard.policy.numbers_csv import filing_of, read_numbers
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.values import suggest

_SECTIONS: dict[str, type[BaseModel]] = {
    "network": Network, "outbound": Outbound, "consents": Consents, "journal": Journal,
    "numbers": NumbersFile, "state": StateStore,
}  # fmt: skip
_ENTRIES: dict[str, type[BaseModel]] = {"operators": Operator, "trunks": Trunk, "numbers": Number}


def load_rules(path: str | os.PathLike[str]) -> Ruleset:
    """Load and validate a rules file; raise ``RulesError`` carrying every located issue."""
    rules_path = Path(path)
    display = str(path)
    try:
        raw = rules_path.read_bytes()
    except OSError as exc:
        raise RulesError([Issue(display, 1, 1, f"cannot read rules file: {exc.strerror}")]) from exc
    model, filed = _check(raw, display, rules_path)
    return _compile(model, rules_path, raw, filed)


def _check(raw: bytes, display: str, rules_path: Path) -> tuple[Rules, dict[str, NumberEntry]]:
    """The validated model of ``raw`` and the numbers of its numbers file, or ``RulesError``."""
    located, issues = _compose(raw, display)
    model: Rules | None = None
    filed: dict[str, NumberEntry] = {}
    if located is not None:
        model = _validate(located, display, issues)
        parts = _parts(model, located.data)
        for loc, msg, other in cross_check(parts):
            if other is not None:
                msg = f"{msg} (see line {located.mark(other, key=True)[0]})"
            issues.append(Issue(display, *located.mark(loc), msg))
        file = _section(located.data, "numbers").get("file")
        if isinstance(file, str) and parts.country_code:
            where = os.path.join(os.path.dirname(str(rules_path)), file)
            filed, more = read_numbers(rules_path.parent / file, filing_of(parts), where)
            issues.extend(more)
        if issues:
            issues.extend(_consent_issues(located.data, rules_path))
    if issues or model is None:
        raise RulesError(issues)
    return model, filed


def _consent_issues(data: Any, rules_path: Path) -> list[Issue]:
    """The consents file's issues, read with what validated of a rules file that failed."""
    top = _try(Rules, data)
    if top is None or not all(hasattr(top, k) for k in ("country_code", "timezone")):
        return []
    section = getattr(top, "consents", None)
    file = section.file if isinstance(section, Consents) else _section(data, "consents").get("file")
    if section is None or not isinstance(file, str):
        return []
    display = os.path.join(os.path.dirname(str(rules_path)), file)
    zone = ZoneInfo(top.timezone)
    cc, prefix = top.country_code, top.national_prefix
    return read_consents(rules_path.parent / file, cc, prefix, zone, display)[1]


def _compose(raw: bytes, display: str) -> tuple[Located | None, list[Issue]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Issue(display, 1, 1, f"rules file is not UTF-8: {exc.reason}")]
    try:
        located = locate_yaml(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Issue(display, *yaml_error_mark(exc), f"YAML syntax error: {problem}")]
    issues = [Issue(display, line, col, msg) for (line, col), msg in located.problems]
    return located, issues


def _validate(located: Located, display: str, issues: list[Issue]) -> Rules | None:
    try:
        return Rules.model_validate(located.data)
    except ValidationError as exc:
        for err in _one_branch(exc.errors(include_url=False), located.data):
            loc = tuple(err["loc"])
            kind = err["type"]
            if kind == "extra_forbidden":
                hint = suggest(str(loc[-1]), _known_keys(loc[:-1]))
                mark, msg = located.mark(loc, key=True), f"unknown key {loc[-1]!r}{hint}"
            elif kind == "missing":
                mark, msg = located.mark(loc), f"missing required key {loc[-1]!r}"
            else:
                text = str(err["msg"]).removeprefix("Value error, ")
                where = ".".join(str(p) for p in loc) or "rules"
                mark, msg = located.mark(loc), f"{where}: {text}"
            issues.append(Issue(display, mark[0], mark[1], msg))
        return None


def _one_branch(errors: list[Any], data: Any) -> list[Any]:
    """Errors of the ``numbers`` form written (inline list or file), without the branch name."""
    raw = data.get("numbers") if isinstance(data, dict) else None
    branch = "NumbersFile" if isinstance(raw, dict) else "list[Number]"
    kept = []
    for err in errors:
        loc = tuple(err["loc"])
        if loc[:1] == ("numbers",) and len(loc) > 1 and loc[1] in ("NumbersFile", "list[Number]"):
            if loc[1] != branch:
                continue
            err = {**err, "loc": (loc[0], *loc[2:])}
        kept.append(err)
    return kept


def _known_keys(where: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows at the mapping ``where`` (a data path)."""
    model: type[BaseModel] | None = Rules
    if len(where) == 2 and where[0] in ("operators", "trunks", "numbers"):
        model = _ENTRIES[str(where[0])]
    elif len(where) == 1:
        model = _SECTIONS.get(str(where[0]))
    elif where:
        model = None
    return list(model.model_fields) if model is not None else []


# The fields the cross-reference checks read: an entry lacking one is left out of them, and
# one whose value failed the schema does not stand in with a default.
_NEEDED: dict[type[BaseModel], tuple[str, ...]] = {
    Operator: ("outbound_commitment",),
    Trunk: ("operator", "peers"),
    Number: ("number", "operator", "trunk", "outbound"),
    Rules: ("national_prefix", "consents"),
}


def _try(model: type[BaseModel], value: Any) -> Any:
    """``value`` validated as ``model``; failing that, what of it validated; else None."""
    if not isinstance(value, dict):
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        return _salvage(model, value, exc)


def _salvage(model: type[BaseModel], value: dict[str, Any], exc: ValidationError) -> Any:
    """The fields of ``value`` without errors (bad list items dropped), unvalidated as a whole."""
    bad: dict[str, set[int] | None] = {}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = str(loc[0]) if loc else ""
        items = bad.get(name, set())
        if len(loc) > 1 and isinstance(loc[1], int) and items is not None:
            bad[name] = items | {loc[1]}
        else:
            bad[name] = None
    kept: dict[str, Any] = {}
    for name in model.model_fields:
        if name in value and name not in bad:
            kept[name] = value[name]
        elif name in value and isinstance(value[name], list) and bad[name] is not None:
            kept[name] = [v for i, v in enumerate(value[name]) if i not in (bad[name] or ())]
    needed = _NEEDED.get(model, ())
    if any(name in bad and bad[name] is None for name in needed):
        return None
    fields = model.model_fields
    if any(fields[name].is_required() and name not in kept for name in needed):
        return None
    return model.model_construct(**kept)


def _section(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _parts(model: Rules | None, data: Any) -> Parts:
    """The pieces the cross-reference checks need, from the model or from what validated."""
    if model is not None:
        return Parts(
            country_code=model.country_code,
            national_prefix=model.national_prefix,
            operator_ids=set(model.operators),
            operators=dict(model.operators),
            trunk_ids=set(model.trunks),
            trunks=dict(model.trunks),
            numbers=list(enumerate(model.numbers)) if isinstance(model.numbers, list) else [],
            network_peers=list(model.network.peers),
        )
    ops, trunks = _section(data, "operators"), _section(data, "trunks")
    raw_numbers = data.get("numbers") if isinstance(data, dict) else None
    numbers = raw_numbers if isinstance(raw_numbers, list) else []
    network = _section(data, "network").get("peers")
    peers = [p for p in network if isinstance(p, str)] if isinstance(network, list) else []
    cc = data.get("country_code") if isinstance(data, dict) else None
    prefix = data.get("national_prefix", "0") if isinstance(data, dict) else "0"
    return Parts(
        country_code=cc if isinstance(cc, str) else "",
        national_prefix=prefix if isinstance(prefix, str) else "0",
        operator_ids=set(ops),
        operators={k: m for k, v in ops.items() if (m := _try(Operator, v)) is not None},
        trunk_ids=set(trunks),
        trunks={k: m for k, v in trunks.items() if (m := _try(Trunk, v)) is not None},
        numbers=[(i, m) for i, v in enumerate(numbers) if (m := _try(Number, v)) is not None],
        network_peers=peers,
    )


def _entries(model: Rules) -> list[NumberEntry]:
    """Filed numbers with per-operator facts folded in.

    Entries share one object per operator id, trunk id and licence date, so that deciding
    a call touches few distinct objects whatever the number of filed numbers.
    """
    cc, prefix = model.country_code, model.national_prefix
    op_ids = {k: k for k in model.operators}
    trunk_ids = {k: k for k in model.trunks}
    until = {
        k: op.licence_expires.toordinal() if op.harassment_pledge else -1
        for k, op in model.operators.items()
    }
    entries = []
    for num in model.numbers if isinstance(model.numbers, list) else ():
        nsn = normalise(num.number, cc, prefix)
        assert nsn is not None  # cross_check rejected every other case
        op, trunk = op_ids[num.operator], trunk_ids[num.trunk]
        start = num.valid_from.toordinal() if num.valid_from else 0
        end = num.valid_until.toordinal() if num.valid_until else FOREVER
        flags = (num.inbound, num.outbound, num.usage, until[op], start, end, num.display_name)
        entries.append(NumberEntry(nsn, op, trunk, *flags))
    return entries


def _compile(model: Rules, rules_path: Path, raw: bytes, filed: dict[str, NumberEntry]) -> Ruleset:
    cc, prefix = model.country_code, model.national_prefix
    numbers = NumberIndex(filed) if isinstance(model.numbers, NumbersFile) else None
    digest = hashlib.sha256(raw)
    if isinstance(model.numbers, NumbersFile):
        digest.update((rules_path.parent / model.numbers.file).read_bytes())
    consents, consents_path = ConsentIndex(), None
    if model.consents is not None:
        consents_path = rules_path.parent / model.consents.file
        display = os.path.join(os.path.dirname(str(rules_path)), model.consents.file)
        zone = ZoneInfo(model.timezone)
        consents, issues = read_consents(consents_path, cc, prefix, zone, display)
        if issues:
            raise RulesError(issues)
        digest.update(consents_path.read_bytes())
    if numbers is None:
        numbers = NumberIndex(_entries(model))
    return Ruleset(model, rules_path, digest.hexdigest(), numbers, consents, consents_path)
