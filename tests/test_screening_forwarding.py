"""Forwarded calls (rules 1.1 section 3) through the screening bridge and the policy."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_screening import invite

from sipguard.policy import MemoryState, Reason, Ruleset, Verdict, load_rules
from sipguard.screening import facts_from_request, screen

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sipguard" / "data"
NOW = datetime(2026, 6, 1, 22, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # quiet hours: no matter
USER, FILED = "13800138000", "95123"
R = Reason


def _rules(folder: Path, *, forwarding: bool) -> Ruleset:
    shutil.copy(DATA / "consents.csv", folder / "consents.csv")
    text = (DATA / "rules.yaml").read_text(encoding="utf-8")
    if forwarding:
        text = text.replace("    operator: acme\n", "    operator: acme\n    forwarding: true\n", 1)
        assert "forwarding: true" in text
    (folder / "rules.yaml").write_text(text, encoding="utf-8")
    return load_rules(folder / "rules.yaml")


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    return _rules(tmp_path_factory.mktemp("fwd"), forwarding=True)


def forward(
    rules: Ruleset, state: MemoryState, *headers: str, at: datetime = NOW, caller: str = USER
) -> Verdict:
    req = invite(f"<sip:{caller}@127.0.0.2>", "sip:13600136000@127.0.0.1", *headers)
    return screen(req, "127.0.0.2", 5060, rules, state, at)[1]


DIVERSION = f"Diversion: <sip:{FILED}@127.0.0.1>;reason=unconditional"


def test_a_forward_of_an_inbound_call_that_is_up_is_allowed(rules: Ruleset) -> None:
    state = MemoryState()
    state.inbound_started("in-1", USER, FILED, NOW - timedelta(seconds=10))
    verdict = forward(rules, state, DIVERSION)
    assert (verdict.reason, verdict.number, verdict.forwarded) == (R.ALLOWED, FILED, True)
    assert verdict.caller == USER and verdict.credential is None
    assert verdict.to_json_dict(facts_from_request(invite("<sip:1@x>"), "x", 1), "t")["forwarded"]


@pytest.mark.parametrize(
    "setup",
    ["ended", "too old", "other caller", "none"],
)
def test_a_forward_without_its_inbound_call_is_unverified(rules: Ruleset, setup: str) -> None:
    state = MemoryState()
    started = NOW - timedelta(seconds=31 if setup == "too old" else 5)
    caller = "13900139000" if setup == "other caller" else USER
    if setup != "none":
        state.inbound_started("in-1", caller, FILED, started)
    if setup == "ended":
        state.inbound_ended("in-1")
    verdict = forward(rules, state, DIVERSION)
    assert (verdict.reason, verdict.number, verdict.forwarded) == (
        R.FORWARD_UNVERIFIED, FILED, False)  # fmt: skip
    assert verdict.status == 403


def test_history_info_names_the_entry_before_the_last(rules: Ruleset) -> None:
    """Index order, not written order: 1, 1.1, 1.1.1 makes 1.1 the diverting entry."""
    state = MemoryState()
    state.inbound_started("in-1", USER, FILED, NOW)
    history = (
        "History-Info: <sip:4008001234@127.0.0.1>;index=1, "
        f"<sip:agent@127.0.0.2>;index=1.1.1, <sip:{FILED}@127.0.0.1>;index=1.1"
    )
    verdict = forward(rules, state, history)
    assert (verdict.reason, verdict.number, verdict.forwarded) == (R.ALLOWED, FILED, True)
    single = f"History-Info: <sip:{FILED}@x>;index=1"
    assert forward(rules, state, single).reason is R.CALLER_UNREGISTERED  # not forwarded


def test_another_trunks_number_is_never_its_violation(rules: Ruleset) -> None:
    """Forged Diversions naming Beta's number never suspend it, and the verdict names none."""
    state = MemoryState()
    state.inbound_started("in-1", USER, "4006601234", NOW)
    for i in range(6):
        verdict = forward(rules, state, "Diversion: <sip:4006601234@x>", at=NOW + timedelta(i))
        assert (verdict.reason, verdict.number) == (R.FORWARD_UNVERIFIED, None)
    assert state.suspensions() == []


def test_unverified_forwards_of_its_own_number_suspend_it(rules: Ruleset) -> None:
    state = MemoryState()
    verdicts = [forward(rules, state, DIVERSION, at=NOW + timedelta(minutes=i)) for i in range(5)]
    assert [v.suspended_now for v in verdicts] == [False] * 4 + [True]
    assert [s.number for s in state.suspensions()] == [FILED]


def test_forwarding_false_keeps_v1(tmp_path: Path) -> None:
    rules = _rules(tmp_path, forwarding=False)
    state = MemoryState()
    state.inbound_started("in-1", USER, FILED, NOW)
    verdict = forward(rules, state, DIVERSION)
    assert (verdict.reason, verdict.forwarded) == (R.CALLER_UNREGISTERED, False)


def test_a_hidden_caller_is_hidden_before_the_forward_check(rules: Ruleset) -> None:
    state = MemoryState()
    state.inbound_started("in-1", USER, FILED, NOW)
    assert forward(rules, state, DIVERSION, "Privacy: id").reason is R.CALLER_HIDDEN
