"""Replay against real public captures: the same INVITE transactions Wireshark finds."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from sipguard.adapters.replay.engine import ReplaySummary, replay
from sipguard.policy import MemoryState, Ruleset

PUBLIC = Path(__file__).resolve().parents[1] / "data" / "captures" / "public"

Row = tuple[str, str, int, str, str, str, str]


def oracle() -> dict[str, set[Row]]:
    """INVITES.tsv as distinct (src, call_id, cseq, branch, from, pai, ruri) per file."""
    table: dict[str, set[Row]] = defaultdict(set)
    with (PUBLIC / "INVITES.tsv").open(newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            src = r["src"].split(",")[-1]  # ERSPAN: outer,inner -> the inner source
            table[r["file"]].add(
                (
                    src,
                    r["call_id"],
                    int(r["cseq"]),
                    r["via_branch"],
                    r["from_user"],
                    r["pai_user"],
                    r["ruri_user"],
                )
            )
    return table


CAPTURES = sorted(p for p in PUBLIC.iterdir() if p.suffix in (".pcap", ".pcapng"))


def found(path: Path, rules: Ruleset) -> tuple[set[Row], ReplaySummary]:
    summary = ReplaySummary()
    rows: set[Row] = set()
    for t in replay([path], rules, MemoryState(), summary):
        f = t.facts
        rows.add(
            (
                t.key[0],
                f.call_id,
                t.cseq,
                t.branch,
                f.from_user or "",
                f.pai_user or "",
                f.ruri_user or "",
            )
        )
    return rows, summary


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_replay_finds_the_oracle_invite_transactions(path: Path, rules: Ruleset) -> None:
    """Every file yields exactly the oracle's INVITE transactions with the same numbers."""
    expected = oracle().get(path.name, set())
    got, summary = found(path, rules)
    assert not summary.partial and not summary.warnings

    # tshark gives no branch when it cannot parse the Via; match those rows without it.
    def norm(rows: set[Row], blank: set[tuple[str, str, int]]) -> set[Row]:
        return {(r[0], r[1], r[2], "" if r[:3] in blank else r[3], *r[4:]) for r in rows}

    blank = {r[:3] for r in expected if not r[3]}
    assert norm(got, blank) == norm(expected, blank)
    assert len(got) == len(expected)


def test_retransmissions_are_counted_not_reevaluated(rules: Ruleset) -> None:
    """The fax capture's repeated INVITE frames count as retransmissions, not new calls."""
    frames = sum(
        1 for r in (PUBLIC / "INVITES.tsv").read_text().splitlines() if r.startswith("FAX-Call")
    )
    got, summary = found(PUBLIC / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap", rules)
    assert summary.invites == len(got) == 12
    assert summary.retransmissions == frames - 12


def test_all_public_files_together_keep_every_transaction(rules: Ruleset) -> None:
    """Several files given together are merged in time order and lose no transaction."""
    summary = ReplaySummary()
    times = [t.time for t in replay(CAPTURES, rules, MemoryState(), summary)]
    assert summary.files == len(CAPTURES)
    assert len(times) == sum(len(v) for v in oracle().values())
    assert times == sorted(times)
