"""Load rules.yaml (and its consents file) into a ``Ruleset``, locating every problem.

Invariants (rules spec section 1):
- Nothing stops at the first problem: YAML structure issues, every pydantic error (mapped
  from its ``loc`` to ``FILE:LINE:COL`` through the compose marks) and every cross-reference
  check are collected, then raised once as ``RulesError``.
- Cross-reference checks also run when the schema fails, on the parts that validated, so a
  bad date does not hide an unknown trunk elsewhere.
- The consents file is read only when the rules themselves are sound.
- ``version_hash`` is the sha256 of the rules file bytes followed by the consents bytes.
"""

from __future__ import annotations

import gc
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
from sipguard.policy.model import Number, Operator, Rules, Trunk
from sipguard.policy.numbers import NumberEntry, NumberIndex, normalise
from sipguard.policy.ruleset import Ruleset


def load_rules(path: str | os.PathLike[str]) -> Ruleset:
    """Load and validate a rules file; raise ``RulesError`` carrying every located issue."""
    rules_path = Path(path)
    display = str(path)
    try:
        raw = rules_path.read_bytes()
    except OSError as exc:
        raise RulesError([Issue(display, 1, 1, f"cannot read rules file: {exc.strerror}")]) from exc
    collecting = gc.isenabled()
    gc.disable()  # a large file makes ~10^6 objects; generational passes would dominate
    try:
        model = _check(raw, display)
        return _compile(model, rules_path, raw)
    finally:
        if collecting:
            gc.enable()


def _check(raw: bytes, display: str) -> Rules:
    """The validated model of ``raw``, or ``RulesError`` with every located issue."""
    located, issues = _compose(raw, display)
    model: Rules | None = None
    if located is not None:
        model = _validate(located, display, issues)
        parts = _parts(model, located.data)
        for loc, msg, other in cross_check(parts):
            if other is not None:
                msg = f"{msg} (see line {located.mark(other, key=True)[0]})"
            issues.append(Issue(display, *located.mark(loc), msg))
    if issues or model is None:
        raise RulesError(issues)
    return model


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
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            kind = err["type"]
            if kind == "extra_forbidden":
                mark, msg = located.mark(loc, key=True), f"unknown key {loc[-1]!r}"
            elif kind == "missing":
                mark, msg = located.mark(loc), f"missing required key {loc[-1]!r}"
            else:
                text = str(err["msg"]).removeprefix("Value error, ")
                where = ".".join(str(p) for p in loc) or "rules"
                mark, msg = located.mark(loc), f"{where}: {text}"
            issues.append(Issue(display, mark[0], mark[1], msg))
        return None


def _try(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


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
            numbers=list(enumerate(model.numbers)),
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
    for num in model.numbers:
        nsn = normalise(num.number, cc, prefix)
        assert nsn is not None  # cross_check rejected every other case
        op, trunk = op_ids[num.operator], trunk_ids[num.trunk]
        entries.append(NumberEntry(nsn, op, trunk, num.inbound, num.outbound, num.usage, until[op]))
    return entries


def _compile(model: Rules, rules_path: Path, raw: bytes) -> Ruleset:
    cc, prefix = model.country_code, model.national_prefix
    entries = _entries(model)
    digest = hashlib.sha256(raw)
    consents, consents_path = ConsentIndex(), None
    if model.consents is not None:
        consents_path = rules_path.parent / model.consents.file
        display = os.path.join(os.path.dirname(str(rules_path)), model.consents.file)
        zone = ZoneInfo(model.timezone)
        consents, issues = read_consents(consents_path, cc, prefix, zone, display)
        if issues:
            raise RulesError(issues)
        digest.update(consents_path.read_bytes())
    return Ruleset(
        model, rules_path, digest.hexdigest(), NumberIndex(entries), consents, consents_path
    )
