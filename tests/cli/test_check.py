"""``sipguard check`` and ``sipguard rules validate`` through the real console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RFC4475 = ROOT / "tests" / "data" / "rfc4475"
SCRIPT = Path(sys.executable).with_name("sipguard")
AT = "2026-06-01T10:00:00"


def sipguard(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("sipguard")
    assert exe, "the sipguard console script is not installed"
    return subprocess.run(
        [exe, *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def check(message: str, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return sipguard(
        "check", "--rules", "rules.yaml", "--source", source, "--at", AT, *extra, message
    )


def test_allowed_outbound_call_prints_the_spec_verdict_and_exits_0() -> None:
    """An allowed outbound INVITE gives exit 0 and spec section 5's JSON, field for field."""
    res = check(str(EXAMPLES / "invite-outbound.sip"), "127.0.0.2:5060")
    assert res.returncode == 0, res.stderr
    verdict = json.loads(res.stdout)
    assert list(verdict) == [
        "call_id",
        "time",
        "source",
        "direction",
        "caller",
        "callee",
        "number",
        "operator",
        "trunk",
        "verdict",
        "status",
        "reason",
        "credential",
        "number_state",
        "monitored",
        "identity_header",
        "forwarded",
    ]
    assert verdict == {
        "call_id": "example-outbound-1@127.0.0.2",
        "time": "2026-06-01T10:00:00+08:00",
        "source": "127.0.0.2:5060",
        "direction": "outbound",
        "caller": "4008001234",
        "callee": "13800138000",
        "number": "4008001234",
        "operator": "acme",
        "trunk": "acme-sh-1",
        "verdict": "allow",
        "status": 0,
        "reason": "ALLOWED",
        "credential": "CONSENT-2026-000001",
        "number_state": None,
        "monitored": None,
        "identity_header": "p-asserted-identity",
        "forwarded": False,
    }


def test_extension_appended_to_a_service_number_is_rejected_with_exit_1() -> None:
    """95123 + 801 is a length change of a filed number: 403, exit 1."""
    res = check(str(EXAMPLES / "invite-extension.sip"), "127.0.0.2")
    assert res.returncode == 1
    verdict = json.loads(res.stdout)
    assert (verdict["verdict"], verdict["status"], verdict["reason"]) == (
        "reject",
        403,
        "NUMBER_LENGTH_CHANGED",
    )
    assert verdict["source"] == "127.0.0.2"


def test_message_on_stdin_and_quiet_hours() -> None:
    """``-`` reads the message from stdin; 22:00 local is inside the quiet hours."""
    data = (EXAMPLES / "invite-outbound.sip").read_bytes()
    res = sipguard(
        "check",
        "--rules",
        "rules.yaml",
        "--source",
        "127.0.0.2:5060",
        "--at",
        "2026-06-01T22:00:00+08:00",
        "-",
        stdin=data,
    )
    assert res.returncode == 1
    assert json.loads(res.stdout)["reason"] == "QUIET_HOURS"


def test_inbound_call_from_the_network_is_allowed() -> None:
    """An INVITE from the network to a filed inbound number is allowed."""
    res = check(str(EXAMPLES / "invite-inbound.sip"), "127.0.0.4:5060")
    assert res.returncode == 0
    assert json.loads(res.stdout)["direction"] == "inbound"


def test_ipv6_source_on_no_peer_list_is_unknown_source() -> None:
    """An IPv6 source in no peer list gets UNKNOWN_SOURCE and a bracketed source field."""
    res = check(str(EXAMPLES / "invite-outbound.sip"), "[2001:db8::1]:5060")
    assert res.returncode == 1
    verdict = json.loads(res.stdout)
    assert verdict["reason"] == "UNKNOWN_SOURCE"
    assert verdict["direction"] is None
    assert verdict["source"] == "[2001:db8::1]:5060"


@pytest.mark.parametrize(
    ("name", "status"), [("zeromf.dat", "483"), ("badvers.dat", "505"), ("insuf.dat", "400")]
)
def test_malformed_message_prints_the_status_and_exits_2(name: str, status: str) -> None:
    """A message the parser refuses prints the status the server would answer, exit 2."""
    res = check(str(RFC4475 / name), "127.0.0.2")
    assert res.returncode == 2
    assert res.stdout == ""
    assert f"answers {status}" in res.stderr


def test_unreadable_file_and_bad_source_are_usage_errors() -> None:
    """A missing message file or a malformed --source exits 2 with a message, no traceback."""
    missing = check("no-such-file.sip", "127.0.0.2")
    bad = check(str(EXAMPLES / "invite-outbound.sip"), "not-an-ip")
    for res in (missing, bad):
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert res.stderr.startswith("check:")


def test_rules_validate_ok_prints_a_summary(tmp_path: Path) -> None:
    """A valid rules file gets a one-line summary and exit 0."""
    res = sipguard("rules", "validate", "rules.yaml")
    assert res.returncode == 0
    assert res.stdout.count("\n") == 1
    assert "4 numbers" in res.stdout


def test_rules_validate_reports_every_located_error(tmp_path: Path) -> None:
    """Broken rules print FILE:LINE:COL for each error, all of them, and exit 2."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("retention_days: 30", "retention_days: 7")
    text = text.replace(
        "operator: beta\n    trunk: beta-bj-1", "operator: nobody\n    trunk: beta-bj-1"
    )
    text = text.replace("version: 1", "version: 1\nspeed: fast")
    broken = tmp_path / "rules.yaml"
    broken.write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "consents.csv", tmp_path / "consents.csv")
    res = sipguard("rules", "validate", str(broken))
    assert res.returncode == 2
    located = re.compile(re.escape(str(broken)) + r":(\d+):(\d+): \S")
    lines = [ln for ln in res.stderr.splitlines() if located.match(ln)]
    assert len(lines) == 3, res.stderr
    assert res.stderr.splitlines()[-1].endswith("3 error(s); rules not loaded")
    assert any("retention" in ln for ln in lines)
    assert any("nobody" in ln for ln in lines)
    assert any("speed" in ln for ln in lines)


def test_help_on_every_command_is_useful() -> None:
    """``--help`` works on the top level and on check and rules validate."""
    for args in ((), ("check",), ("rules", "validate")):
        res = sipguard(*args, "--help")
        assert res.returncode == 0
        assert "usage: sipguard" in res.stdout
    assert "Exit status" in sipguard("check", "--help").stdout
