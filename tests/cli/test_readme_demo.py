"""The README's first call, run as written with real sipp against the demo rules.

The demo rules differ from the real example only in having no quiet hours, so the call
goes through at any hour; ``sipguard check --at`` (the project's way to decide at a given
time) shows the same call at 22:00, inside the real example's quiet hours: allowed by the
demo rules, refused with QUIET_HOURS by rules.yaml.  The sipp commands are taken from the
README's text, with only their ports moved to free ones, so the README cannot drift.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import SIPP, free_port, sipguard_command, start_serve

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-rules.yaml"
QUIET = "2026-06-02T22:00:00"  # inside rules.yaml's 21:00-08:00 quiet hours


def readme_commands() -> list[list[str]]:
    """The sipp and grep commands of the README's "Place a call through it" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Place a call through it", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.startswith(("sipp ", "grep "))]


def test_readme_sipp_commands_cannot_leave_a_callee_bound() -> None:
    """Every sipp command of the demo handles one call and has a global timeout."""
    sipps = [c for c in readme_commands() if c[0] == "sipp"]
    assert len(sipps) == 3
    for cmd in sipps:
        assert cmd[cmd.index("-m") + 1] == "1" and "-timeout" in cmd, cmd


def test_demo_rules_have_no_quiet_hours_and_allow_at_night() -> None:
    """At 22:00 the demo rules allow the README's call; the real example refuses it."""
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    real = yaml.safe_load((ROOT / "rules.yaml").read_text(encoding="utf-8"))
    assert demo["outbound"]["quiet_hours"] == [] and real["outbound"]["quiet_hours"]
    invite = str(ROOT / "examples" / "invite-outbound.sip")
    verdicts = {}
    for rules in (DEMO, ROOT / "rules.yaml"):
        args = ["check", "--rules", str(rules), "--source", "127.0.0.2:5060", "--at", QUIET]
        res = subprocess.run(
            [*sipguard_command(), *args, invite], capture_output=True, text=True, timeout=60
        )
        verdicts[rules.name] = json.loads(res.stdout)["reason"]
    assert verdicts == {"demo-rules.yaml": "ALLOWED", "rules.yaml": "QUIET_HOURS"}


def _ported(cmd: list[str], ports: dict[str, str]) -> list[str]:
    """``cmd`` with the README's fixed ports moved to free ones and scenarios made absolute."""
    out = []
    for word in cmd:
        word = ports.get(word, word)
        if word.startswith("tests/e2e/scenarios/"):
            word = str(ROOT / word)
        out.append(word)
    return out


@pytest.mark.e2e
@pytest.mark.skipif(SIPP is None, reason="sipp (Debian sip-tester) is not installed")
def test_readme_demo_call_flow(tmp_path: Path) -> None:
    """The README's allowed call and refused call, with real sipp against the demo rules."""
    serve_port, net_port, uac_port = free_port(), free_port("127.0.0.4"), free_port("127.0.0.2")
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "consents.csv", tmp_path / "consents.csv")
    text = DEMO.read_text(encoding="utf-8").replace("127.0.0.4:5070", f"127.0.0.4:{net_port}")
    rules = tmp_path / "examples" / "demo-rules.yaml"
    rules.write_text(text, encoding="utf-8")
    ports = {
        "5070": str(net_port),
        "5062": str(uac_port),
        "127.0.0.1:5060": f"127.0.0.1:{serve_port}",
    }
    uas, uac, reject, grep = (_ported(c, ports) for c in readme_commands())
    served = start_serve(tmp_path, rules, serve_port, 0, net_port)
    callee = subprocess.Popen(
        [*uas, "-nostdin"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(0.3)
        caller = subprocess.run([*uac, "-nostdin"], cwd=tmp_path, capture_output=True, timeout=90)
        callee_out, _ = callee.communicate(timeout=90)
        assert caller.returncode == 0, caller.stdout.decode(errors="replace")[-2000:]
        assert callee.returncode == 0, callee_out.decode(errors="replace")[-2000:]
        refused = subprocess.run(
            [*reject, "-nostdin"], cwd=tmp_path, capture_output=True, timeout=90
        )
        assert refused.returncode == 0, refused.stdout.decode(errors="replace")[-2000:]
        shown = subprocess.run(grep, cwd=tmp_path, capture_output=True, text=True, timeout=10)
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.communicate()
        assert served.stop() == 0, served.log_text()[-3000:]
    assert shown.stdout.splitlines() == [
        "SIP/2.0 403 Forbidden",
        'Reason: SIP;cause=403;text="CALLER_UNREGISTERED"',
    ]
