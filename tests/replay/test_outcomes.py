"""Replay follows allowed calls to their ends: short-call suspension from the capture's BYEs,
trunk capacity reported (never enforced), and the alerts serve would send."""

from __future__ import annotations

from pathlib import Path

from sipguard.adapters.replay.capture import CapturedMessage
from sipguard.adapters.replay.engine import InviteTransaction, Replayer
from sipguard.policy import MemoryState, load_rules

from .callsdata import MORNING_NS, S, answer, bye, call, invite, write_rules


def run(
    tmp_path: Path, messages: list[CapturedMessage]
) -> tuple[Replayer, list[InviteTransaction]]:
    replayer = Replayer(load_rules(write_rules(tmp_path)), MemoryState())
    found = [t for m in messages if (t := replayer.feed(m)) is not None]
    return replayer, found


def _reasons(found: list[InviteTransaction]) -> list[str]:
    return [t.verdict.reason.value for t in found if t.verdict is not None]


def test_three_short_calls_suspend_the_number(tmp_path: Path) -> None:
    """Three answered 2 s calls: suspended at the third BYE; the next call is refused."""
    messages = [m for n in range(3) for m in call(n, MORNING_NS + n * 60 * S, 2 * S)]
    replayer, found = run(tmp_path, [*messages, invite(9, MORNING_NS + 300 * S)])
    assert _reasons(found) == ["ALLOWED"] * 3 + ["NUMBER_SUSPENDED"]
    report = replayer.calls.report
    assert report.short_calls == ["4008001234"]
    assert dict(report.alerts) == {"short_calls": 1, "number_suspended": 1}
    assert replayer.state.suspension("4008001234") is not None


def test_a_call_of_exactly_the_threshold_is_not_short(tmp_path: Path) -> None:
    """``seconds: 6`` counts calls under 6 s: three calls of exactly 6 s suspend nothing."""
    messages = [m for n in range(3) for m in call(n, MORNING_NS + n * 60 * S, 6 * S)]
    replayer, _ = run(tmp_path, messages)
    assert replayer.calls.report.short_calls == []
    two_short = [m for n in range(3) for m in call(n, MORNING_NS + n * 60 * S,
                                                   (6 * S - 1) if n else 6 * S)]  # fmt: skip
    replayer, _ = run(tmp_path, two_short)
    assert replayer.calls.report.short_calls == ["4008001234"]  # 2 of 3 > 60%


def test_unanswered_calls_are_not_outcomes(tmp_path: Path) -> None:
    """Calls refused by the callee (486) and cancelled ones never count as short."""
    messages = []
    for n in range(4):
        messages += [
            invite(n, MORNING_NS + n * 60 * S),
            answer(n, MORNING_NS + n * 60 * S + S, 486),
        ]
    replayer, found = run(tmp_path, messages)
    assert _reasons(found) == ["ALLOWED"] * 4 and replayer.calls.report.short_calls == []


def test_the_trunk_cap_is_reported_not_enforced(tmp_path: Path) -> None:
    """With two calls up on acme-sh-1 (cap 2) the third is marked trunk_full but keeps its
    verdict; after one ends, the next call fits again."""
    t = MORNING_NS
    messages = [invite(0, t), invite(1, t + S), invite(2, t + 2 * S), bye(0, t + 3 * S),
                invite(3, t + 4 * S)]  # fmt: skip
    replayer, found = run(tmp_path, messages)
    assert [(t.verdict.reason.value if t.verdict else None, t.trunk_full) for t in found] == [
        ("ALLOWED", False), ("ALLOWED", False), ("ALLOWED", True), ("ALLOWED", False)
    ]  # fmt: skip
    assert dict(replayer.calls.report.trunk_full) == {"acme-sh-1": 1}
