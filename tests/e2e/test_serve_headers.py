"""The header allow-list and the refusal phrase through a real ``sipguard serve``, with sipp
peers whose messages name their software: what the callee and the caller each received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    ACME,
    NETWORK,
    Served,
    Uas,
    environment_ok,
    free_port,
    run_uac,
    start_serve,
    write_rules,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(environment_ok() is not None, reason=str(environment_ok())),
]
SIP_BLOCK = "sip:\n  relay_headers: [X-Campaign-Id]\n  refusal_phrase: true\n"


def received(trace: Path) -> list[list[str]]:
    """The messages a sipp instance received, each as its start line and header lines."""
    found: list[list[str]] = []
    for block in trace.read_text(errors="replace").split("-" * 47):
        head, _, rest = block.partition("\n\n")
        if "message received" in head:
            found.append(rest.split("\n\n", 1)[0].strip().splitlines())
    return found


def names(message: list[str]) -> set[str]:
    return {line.split(":", 1)[0].strip().lower() for line in message[1:] if ":" in line}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("serve-headers")
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    rules = write_rules(folder, trunk_port, net_port)
    rules.write_text(rules.read_text() + SIP_BLOCK)
    server = start_serve(folder, rules, free_port(), trunk_port, net_port)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


def test_callee_and_caller_see_only_relayed_headers(served: Served, tmp_path: Path) -> None:
    uas_trace, uac_trace = tmp_path / "uas.msg", tmp_path / "uac.msg"
    uas = Uas(tmp_path, "uas_headers.xml", NETWORK, served.net_port, "-m", "1",
              "-trace_msg", "-message_file", str(uas_trace))  # fmt: skip
    try:
        uac = run_uac(tmp_path, "uac_headers.xml", ACME, f"{served.host}:{served.port}",
                      "-key", "caller", "4008001234", "-s", "13800138000", "-m", "1",
                      "-trace_msg", "-message_file", str(uac_trace))  # fmt: skip
        callee = uas.wait(15)
    finally:
        uas.kill()
    assert uac.returncode == 0 and callee.returncode == 0, uac.errors + callee.errors
    software = {"user-agent", "server", "warning", "organization", "x-internal"}
    at_callee = {m[0].split()[0]: m for m in received(uas_trace)}
    invite, bye = at_callee["INVITE"], at_callee["BYE"]
    assert {"x-campaign-id", "supported"} <= names(invite)
    assert names(invite).isdisjoint(software) and names(bye).isdisjoint(software)
    answers = [m for m in received(uac_trace) if m[0].split()[1] in ("180", "200")]
    assert len(answers) >= 3  # 180 and 200 to the INVITE, 200 to the BYE
    for answer in answers:
        assert names(answer).isdisjoint(software), answer
    ok = next(m for m in answers if m[0].startswith("SIP/2.0 200") and "allow" in names(m))
    assert "x-campaign-id" in names(ok)


def test_a_refusal_names_its_reason_in_the_status_line(served: Served, tmp_path: Path) -> None:
    trace = tmp_path / "uac.msg"
    run = run_uac(tmp_path, "uac_reject.xml", ACME, f"{served.host}:{served.port}",
                  "-key", "caller", "4008009999", "-key", "callee", "13800138000", "-m", "1",
                  "-trace_msg", "-message_file", str(trace))  # fmt: skip
    assert run.returncode == 0, run.errors + run.output[-1500:]
    finals = [m for m in received(trace) if m[0].startswith("SIP/2.0 403")]
    assert [m[0] for m in finals] == ["SIP/2.0 403 Caller Unregistered"]
    assert 'Reason: SIP;cause=403;text="CALLER_UNREGISTERED"' in finals[0]
