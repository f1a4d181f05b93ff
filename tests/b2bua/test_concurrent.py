"""Trunk max_concurrent_calls (rules 1.1 section 5): 503 + Retry-After in both directions."""

from __future__ import annotations

import shutil
from pathlib import Path

from b2bua_harness import NET, NET_IN, RULES_PATH, TRUNK, Net, invite, reply

from sipguard.policy.load import load_rules
from sipguard.sip.message import Request, Response


def _net(tmp_path: Path) -> Net:
    text = RULES_PATH.read_text(encoding="utf-8")
    assert "    max_cps: 100" in text
    text = text.replace("    max_cps: 100", "    max_cps: 100\n    max_concurrent_calls: 1", 1)
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    shutil.copy(RULES_PATH.with_name("consents.csv"), tmp_path / "consents.csv")
    net = Net()
    net.core.reload(load_rules(tmp_path / "rules.yaml"))
    return net


def _status(net: Net, dest: object) -> Response:
    last = net.take(dest)[-1]  # type: ignore[arg-type]
    assert isinstance(last, Response)
    return last


def test_a_full_trunk_answers_503_both_ways_until_a_call_ends(tmp_path: Path) -> None:
    net = _net(tmp_path)
    net.send(invite(call_id="first", branch="z9hG4bK-1"), TRUNK)
    assert _status(net, TRUNK).status == 100
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(invite(call_id="second", branch="z9hG4bK-2"), TRUNK)
    busy = _status(net, TRUNK)
    assert busy.status == 503 and busy.headers.get("retry-after") is not None
    inbound = invite("13800138000", "95123", src=NET, call_id="in-1", branch="z9hG4bK-3")
    net.send(inbound, NET)
    busy_in = _status(net, NET)
    assert busy_in.status == 503 and busy_in.headers.get("retry-after") is not None
    assert len(net.decided) == 1  # admission refusals are not decisions, as with max_cps
    net.send(reply(b_inv, 486), NET_IN)  # the first call ends: the trunk has room again
    assert _status(net, TRUNK).status == 486
    net.send(invite(call_id="third", branch="z9hG4bK-4"), TRUNK)
    assert _status(net, TRUNK).status == 100
