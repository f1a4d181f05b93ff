"""Real calls through ``sipguard serve`` between two pjsua2 peers, over loopback.

Layout (addresses 127.0.0.30-32, ports 5350-5359):
  127.0.0.30:5350  sipguard
  127.0.0.31       the Acme trunk: its UAC binds :5351, its UAS (inbound delivery) :5352
  127.0.0.32       the carrier network: its UAC binds :5353, its UAS (outbound delivery) :5354
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipguard.policy.evaluate import evaluate
from sipguard.policy.facts import CallFacts, Reason
from sipguard.policy.load import load_rules
from sipguard.policy.state import MemoryState
from tests.rulesets import Outbound, loopback

try:  # the e2e directory may or may not be a package
    from .pjsua_helpers import needs_pjsua2, sipguard_serve, uac, uas
except ImportError:
    from pjsua_helpers import (  # type: ignore[no-redef]
        needs_pjsua2,
        sipguard_serve,
        uac,
        uas,
    )

LISTEN = "127.0.0.30:5350"
TRUNK_UAC, TRUNK_UAS = "127.0.0.31:5351", "127.0.0.31:5352"
NET_UAC, NET_UAS = "127.0.0.32:5353", "127.0.0.32:5354"

# The loopback rules on this layout: Acme's trunk and the network, with the listen address.
RULES = replace(
    loopback(acme=("127.0.0.31", f"sip:{TRUNK_UAS}"), network=("127.0.0.32", f"sip:{NET_UAS}")),
    outbound=Outbound(max_calls_per_callee_per_day=50, suspend_after_violations=None,
                      violation_window=None),
    listen=(LISTEN,),
).text()  # fmt: skip

CONSENTS = """\
callee,number,credential,granted_at,expires_at
13800138000,4008001234,CONSENT-E2E-0001,2020-01-01T00:00:00,2099-12-31T00:00:00
"""


pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A rules file on the test's loopback addresses, with consents and journal beside it."""
    (tmp_path / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def header_names(incoming: dict[str, object]) -> set[str]:
    """The lower-case names of every header of a received INVITE."""
    headers = incoming["headers"]
    assert isinstance(headers, list)
    return {str(name).lower() for name, _ in headers}


@needs_pjsua2
def test_allowed_outbound_call_is_bridged_with_asserted_identity(rules: Path) -> None:
    """An allowed outbound call is answered; sipguard asserts the tel: identity, drops the
    trunk's own PAI and Privacy, and passes offer and answer SDP through unchanged."""
    logs = rules.parent
    with sipguard_serve(rules, LISTEN), uas(logs, NET_UAS) as callee:
        callee.wait_for("ready")
        with uac(
            logs,
            TRUNK_UAC,
            "sip:4008001234@127.0.0.31",
            f"sip:13800138000@{LISTEN}",
            "--header",
            "P-Asserted-Identity: <sip:+864008001234@127.0.0.31;user=phone>",
            "--header",
            "Privacy: none",
            "--hold",
            "0.5",
        ) as caller:
            assert caller.finish() == 0, caller.describe()
        assert callee.finish() == 0, callee.describe()
    result = caller.wait_for("result")
    incoming = callee.wait_for("incoming")
    assert result["status"] == 200 and result["answered"] is True
    assert incoming["pai"] == ["<tel:+864008001234>"]
    assert incoming["privacy"] is None and "privacy" not in header_names(incoming)
    assert "13800138000" in incoming["request_uri"]
    assert incoming["sdp"] == result["local_sdp"]
    assert result["remote_sdp"] == callee.wait_for("disconnected")["local_sdp"]
    assert result["hung_up_by"] == "local"
    assert callee.wait_for("disconnected")["by"] == "remote"


@needs_pjsua2
def test_allowed_outbound_call_over_tcp(rules: Path) -> None:
    """The trunk may reach sipguard over TCP; the call is bridged and ends with its BYE."""
    logs = rules.parent
    with sipguard_serve(rules, LISTEN), uas(logs, NET_UAS) as callee:
        callee.wait_for("ready")
        with uac(
            logs,
            TRUNK_UAC,
            "sip:4008001234@127.0.0.31",
            f"sip:13800138000@{LISTEN}",
            "--transport",
            "tcp",
            "--hold",
            "0.3",
        ) as caller:
            assert caller.finish() == 0, caller.describe()
        assert callee.finish() == 0, callee.describe()
    assert caller.wait_for("result")["hung_up_by"] == "local"
    assert callee.wait_for("incoming")["pai"] == ["<tel:+864008001234>"]


@needs_pjsua2
def test_unregistered_caller_is_rejected_with_reason(rules: Path) -> None:
    """An unfiled caller number gets 403 with the RFC 3326 Reason, and nothing is forwarded."""
    logs = rules.parent
    with sipguard_serve(rules, LISTEN), uas(logs, NET_UAS) as callee:
        callee.wait_for("ready")
        with uac(
            logs,
            TRUNK_UAC,
            "sip:4008009999@127.0.0.31",
            f"sip:13800138000@{LISTEN}",
            "--expect",
            "403",
        ) as caller:
            assert caller.finish() == 0, caller.describe()
        callee.kill()
    result = caller.wait_for("result")
    assert result["status"] == 403 and result["answered"] is False
    assert result["reason_header"] == 'SIP;cause=403;text="CALLER_UNREGISTERED"'
    assert callee.of("incoming") == []


@needs_pjsua2
def test_allowed_inbound_call_reaches_the_trunk_and_callee_hangs_up(rules: Path) -> None:
    """An inbound call to a filed number is delivered to the trunk; the trunk's BYE ends it."""
    logs = rules.parent
    with sipguard_serve(rules, LISTEN), uas(logs, TRUNK_UAS, "--duration", "0.5") as callee:
        callee.wait_for("ready")
        with uac(
            logs, NET_UAC, "sip:13800138000@127.0.0.32", f"sip:4008001234@{LISTEN}", "--hold", "8"
        ) as caller:
            assert caller.finish() == 0, caller.describe()
        assert callee.finish() == 0, callee.describe()
    result = caller.wait_for("result")
    incoming = callee.wait_for("incoming")
    assert result["status"] == 200
    assert "4008001234" in incoming["request_uri"]
    assert incoming["sdp"] == result["local_sdp"]
    assert result["hung_up_by"] == "remote"
    assert callee.wait_for("disconnected")["by"] == "local"


@needs_pjsua2
def test_inbound_call_to_unfiled_number_gets_404(rules: Path) -> None:
    """An inbound call to a number nobody filed is refused with 404 CALLEE_UNREGISTERED."""
    with (
        sipguard_serve(rules, LISTEN),
        uac(
            rules.parent,
            NET_UAC,
            "sip:13800138000@127.0.0.32",
            f"sip:4008005555@{LISTEN}",
            "--expect",
            "404",
        ) as caller,
    ):
        assert caller.finish() == 0, caller.describe()
    result = caller.wait_for("result")
    assert result["reason_header"] == 'SIP;cause=404;text="CALLEE_UNREGISTERED"'


@pytest.mark.parametrize(
    ("source", "from_user", "pai_user", "ruri_user", "reason"),
    [
        ("127.0.0.31", "4008001234", "+864008001234", "13800138000", Reason.ALLOWED),
        ("127.0.0.31", "4008009999", None, "13800138000", Reason.CALLER_UNREGISTERED),
        ("127.0.0.32", "13800138000", None, "4008001234", Reason.ALLOWED),
        ("127.0.0.32", "13800138000", None, "4008005555", Reason.CALLEE_UNREGISTERED),
    ],
)
def test_layout_rules_give_the_verdicts_the_calls_expect(
    rules: Path,
    source: str,
    from_user: str,
    pai_user: str | None,
    ruri_user: str,
    reason: Reason,
) -> None:
    """The policy, fed each call's facts under these rules, decides what the e2e calls expect."""
    facts = CallFacts("e2e", source, 5351, from_user, source, pai_user, ruri_user, ("none",))
    now = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    assert evaluate(facts, load_rules(rules), MemoryState(), now).reason is reason
