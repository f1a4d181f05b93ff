"""The Kamailio test rules with their numbers in a registry CSV (rules 1.1 section 7)."""

from __future__ import annotations

from pathlib import Path

from rulesdata import write_rules

HEADER = "number,operator,trunk,inbound,outbound,usage,valid_from,valid_until,display_name\n"
ROWS = (
    "95123,acme,acme-sh-1,true,false,,,,\n"
    "4008001234,acme,acme-sh-1,true,true,,,,\n"
    "4008005678,acme,acme-sh-1,false,true,,,,Acme Care\n"
    "4006601234,beta,beta-bj-1,true,false,,,,\n"
    "4001112222,gamma,gamma-gz-1,true,true,,,,\n"
)


def write_csv_rules(folder: Path, *, port: int = 5270, cap: int = 2, extra: str = "") -> Path:
    """rules.yaml with ``numbers: {file: numbers.csv}``, the CSV and the consents."""
    rules = write_rules(folder, port=port, cap=cap)
    text = rules.read_text(encoding="utf-8")
    start, end = text.index("numbers:\n"), text.index("outbound:\n")
    rules.write_text(text[:start] + "numbers: {file: numbers.csv}\n" + extra + text[end:])
    (folder / "numbers.csv").write_text(HEADER + ROWS, encoding="utf-8")
    return rules
