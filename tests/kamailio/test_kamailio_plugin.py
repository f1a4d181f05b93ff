"""The KEMI plugin against a fake KSR: every verdict path, the PAI rewrite and routing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fake_ksr import FakeKSR, PvValue
from rulesdata import write_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal import JournalStore


def invite(ksr: FakeKSR, src: str, from_user: str, ruri_user: str, **extra: PvValue) -> FakeKSR:
    """Set ``ksr`` up with an initial INVITE from ``src``."""
    pv = {
        "$si": src,
        "$sp": 5060,
        "$pr": "udp",
        "$ci": f"call-{from_user}-{ruri_user}-{len(ksr.logs)}-{ksr.transactions}",
        "$fu": f"sip:{from_user}@{src}",
        "$ru": f"sip:{ruri_user}@127.0.0.1:5260",
    }
    pv.update(extra)
    return ksr.request(**pv)


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    return write_rules(tmp_path)


@pytest.fixture
def plugin(rules_path: Path) -> tuple[SipguardKemi, FakeKSR]:
    ksr = FakeKSR()
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules_path)})
    kemi.child_init(1)
    return kemi, ksr


CASES = [
    ("127.0.0.9", "4008001234", "13800138000", {}, 403, "UNKNOWN_SOURCE"),
    ("127.0.0.2", "anonymous", "13800138000", {"$fu": "sip:anonymous@anonymous.invalid"},
     403, "CALLER_HIDDEN"),
    ("127.0.0.2", "4008001234", "13800138000", {"$(hdr(Privacy)[*])": "id"}, 403,
     "CALLER_HIDDEN"),
    ("127.0.0.2", "40080012345", "13800138000", {}, 403, "NUMBER_LENGTH_CHANGED"),
    ("127.0.0.2", "4008009999", "13800138000", {}, 403, "CALLER_UNREGISTERED"),
    ("127.0.0.2", "4006601234", "13800138000", {}, 403, "CALLER_NOT_ON_TRUNK"),
    ("127.0.0.2", "4008001234", "13800138000", {"$ai": "sip:95123@127.0.0.2"}, 403,
     "IDENTITY_MISMATCH"),
    ("127.0.0.5", "4001112222", "13500135000", {}, 403, "LICENCE_INVALID"),
    ("127.0.0.2", "95123", "13800138000", {}, 403, "INBOUND_ONLY"),
    ("127.0.0.2", "4008001234", "13100131000", {}, 403, "NO_CONSENT"),
    ("127.0.0.4", "13800138000", "951234", {}, 404, "CALLEE_LENGTH_CHANGED"),
    ("127.0.0.4", "13800138000", "12345", {}, 404, "CALLEE_UNREGISTERED"),
    ("127.0.0.4", "13800138000", "4008005678", {}, 403, "CALLEE_NOT_INBOUND"),
    # rules 1.1 section 1: every identity header counts
    ("127.0.0.2", "4008001234", "13800138000",
     {"$(hdr(P-Asserted-Identity)[*])": "<sip:4008001234@x>, <tel:+8613912345678>"},
     403, "IDENTITY_MISMATCH"),
    ("127.0.0.2", "4008001234", "13800138000",
     {"$(hdr(P-Preferred-Identity)[*])": "<sip:13912345678@x>"}, 403, "CALLER_UNREGISTERED"),
    ("127.0.0.2", "4008001234", "13800138000",
     {"$(hdr(Remote-Party-ID)[*])": '"Bank" <sip:13912345678@x>;party=calling'},
     403, "CALLER_UNREGISTERED"),
    ("127.0.0.2", "4008001234", "13800138000",
     {"$(hdr(Remote-Party-ID)[*])": "<sip:4008001234@x>;privacy=full"}, 403, "CALLER_HIDDEN"),
    ("127.0.0.2", "4008001234", "13800138000",
     {"$(hdr(Remote-Party-ID)[*])": "<sip:4008001234@x"}, 403, "CALLER_HIDDEN"),
    ("127.0.0.2", "4008001234", "13800138000",
     {"$ai": "sip:4008001234@x", "$(hdr(Remote-Party-ID)[*])": "<sip:95123@x>"},
     403, "IDENTITY_MISMATCH"),
    ("127.0.0.2", "4008001234", "13800138000", {"$(hdr(Privacy)[*])": "none, Header"}, 403,
     "CALLER_HIDDEN"),
]  # fmt: skip


@pytest.mark.parametrize(("src", "caller", "callee", "extra", "status", "reason"), CASES)
def test_rejection_answers_status_and_reason(
    plugin: tuple[SipguardKemi, FakeKSR],
    src: str, caller: str, callee: str, extra: dict[str, str], status: int, reason: str,
) -> None:  # fmt: skip
    """Each rejection is answered statefully with its status and an RFC 3326 Reason header."""
    kemi, ksr = plugin
    assert kemi.ksr_request_route(None) == 1
    invite(ksr, src, caller, callee, **extra)
    kemi.ksr_request_route(None)
    assert ksr.transactions >= 1
    assert [(r.status, r.headers) for r in ksr.replies] == [
        (status, [f'Reason: SIP;cause={status};text="{reason}"\r\n'])
    ]
    assert ksr.relayed == []


def test_allowed_outbound_rewrites_identity_and_relays_to_network(
    plugin: tuple[SipguardKemi, FakeKSR],
) -> None:
    """An allowed outbound call loses PAI and Privacy, gains the filed PAI, goes to the network."""
    kemi, ksr = plugin
    invite(ksr, "127.0.0.2", "+86-400-800-1234", "13800138000", **{"$ai": "tel:4008001234"})
    kemi.ksr_request_route(None)
    assert ksr.replies == []
    assert {"P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Privacy"} <= set(
        ksr.removed
    )
    assert ksr.appended == ["P-Asserted-Identity: <tel:+864008001234>\r\n"]
    assert ksr.relayed == ["sip:127.0.0.4:5270"]
    assert ksr.record_routed == 1
    assert ksr.callbacks == {"reply": "ksr_onreply_sipguard", "failure": "ksr_failure_sipguard"}


def test_allowed_inbound_goes_to_the_numbers_trunk(plugin: tuple[SipguardKemi, FakeKSR]) -> None:
    """An allowed inbound call keeps its headers and is relayed to the trunk of the number."""
    kemi, ksr = plugin
    invite(ksr, "127.0.0.4", "13800138000", "+864006601234")
    kemi.ksr_request_route(None)
    assert ksr.replies == []
    assert ksr.appended == []
    assert ksr.relayed == ["sip:127.0.0.3:5270"]


def test_frequency_cap_then_suspension_is_counted(plugin: tuple[SipguardKemi, FakeKSR]) -> None:
    """Two allowed calls to one callee pass, the third hits FREQUENCY_CAP."""
    kemi, ksr = plugin
    statuses = []
    for _ in range(3):
        invite(ksr, "127.0.0.2", "4008001234", "13900139000")
        kemi.ksr_request_route(None)
        statuses.append([r.headers for r in ksr.replies])
    assert statuses[:2] == [[], []]
    assert statuses[2] == [['Reason: SIP;cause=403;text="FREQUENCY_CAP"\r\n']]


def test_five_violations_suspend_the_number(plugin: tuple[SipguardKemi, FakeKSR]) -> None:
    """Five counted rejections suspend the number: the sixth call gets NUMBER_SUSPENDED."""
    kemi, ksr = plugin
    for i in range(5):
        invite(ksr, "127.0.0.2", "4008001234", f"1310013{i:04d}")
        kemi.ksr_request_route(None)
        assert "NO_CONSENT" in ksr.replies[0].headers[0]
    invite(ksr, "127.0.0.2", "4008001234", "13800138000")
    kemi.ksr_request_route(None)
    assert "NUMBER_SUSPENDED" in ksr.replies[0].headers[0]


def test_quiet_hours_reject(tmp_path: Path) -> None:
    """A call during a quiet-hours range of the callee's local time is refused."""
    hour = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).hour
    quiet = f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"
    ksr = FakeKSR()
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(write_rules(tmp_path, quiet=(quiet,)))})
    invite(ksr, "127.0.0.2", "4008001234", "13800138000")
    kemi.ksr_request_route(None)
    assert ksr.replies[0].headers == ['Reason: SIP;cause=403;text="QUIET_HOURS"\r\n']


def test_decisions_are_journaled(plugin: tuple[SipguardKemi, FakeKSR], rules_path: Path) -> None:
    """Every decision, allowed or rejected, is one journal entry with its reason."""
    kemi, ksr = plugin
    invite(ksr, "127.0.0.2", "4008001234", "13800138000")
    kemi.ksr_request_route(None)
    invite(ksr, "127.0.0.9", "4008001234", "13800138000")
    kemi.ksr_request_route(None)
    store = JournalStore(rules_path.parent / "journal.db")
    reasons = [(e.kind, e.reason, e.source) for e in store.entries()]
    assert reasons == [
        ("decision", "ALLOWED", "127.0.0.2:5060"),
        ("decision", "UNKNOWN_SOURCE", "127.0.0.9:5060"),
    ]
    assert store.verify().ok


def test_allowed_outbound_asserts_only_the_filed_number_and_display_name(
    plugin: tuple[SipguardKemi, FakeKSR],
) -> None:
    """PPI and RPID naming the same number are removed too; the filed display name is used."""
    kemi, ksr = plugin
    extra = {
        "$fu": "sip:4008005678@127.0.0.2",
        "$(hdr(P-Preferred-Identity)[*])": '"ICBC 95588" <sip:4008005678@x>',
        "$(hdr(Remote-Party-ID)[*])": '"Bank" <sip:4008005678@x>;party=calling;screen=yes',
    }
    invite(ksr, "127.0.0.2", "4008005678", "13700137000", **extra)
    kemi.ksr_request_route(None)
    assert ksr.replies == []
    assert {"P-Preferred-Identity", "Remote-Party-ID", "P-Asserted-Identity"} <= set(ksr.removed)
    assert ksr.appended == ['P-Asserted-Identity: "Acme Care" <tel:+864008005678>\r\n']


def test_a_forward_is_verified_against_the_state(plugin: tuple[SipguardKemi, FakeKSR]) -> None:
    """rules 1.1 section 3 in the plugin: unverified, then verified once the user's call is up."""
    kemi, ksr = plugin
    divert = {"$(hdr(Diversion)[*])": "<sip:95123@127.0.0.1>;reason=no-answer"}
    invite(ksr, "127.0.0.2", "13800138000", "13600136000", **divert)
    kemi.ksr_request_route(None)
    assert [r.headers for r in ksr.replies] == [
        ['Reason: SIP;cause=403;text="FORWARD_UNVERIFIED"\r\n']
    ]
    assert kemi.state is not None
    kemi.state.inbound_started("in-1", "13800138000", "95123", datetime.now(UTC))
    ksr.replies.clear()
    invite(ksr, "127.0.0.2", "13800138000", "13600136000", **divert)
    kemi.ksr_request_route(None)
    assert ksr.replies == []
    assert "Diversion" not in ksr.removed
    assert ksr.appended == ["P-Asserted-Identity: <tel:+8613800138000>\r\n"]
