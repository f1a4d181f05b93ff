"""Requests from addresses in no peer list: no state, no 100 Trying, at most one answer."""

from __future__ import annotations

import shutil
from pathlib import Path

from b2bua_harness import RULES_PATH, TRUNK, WALL, Net, invite
from test_calls import setup_call

from sipguard.b2bua.effects import Addr, Decided, Transmit
from sipguard.policy.load import load_rules
from sipguard.sip.message import Response
from sipguard.sip.wire import parse

STRANGER = Addr("127.0.0.9", 5062)


def from_stranger(data: bytes, host: str = "127.0.0.9") -> bytes:
    return data.replace(b"127.0.0.2", host.encode())


def request(method: str, branch: str = "z9hG4bK-o1") -> bytes:
    lines = [
        f"{method} sip:127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.9:5062;branch={branch}",
        "Max-Forwards: 70",
        "From: <sip:scan@127.0.0.9>;tag=s1",
        "To: <sip:probe@127.0.0.1>",
        "Call-ID: scan-1",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def flood(net: Net, count: int, spacing: float) -> int:
    """Send ``count`` distinct INVITEs from the stranger, then run out Timer H; packets out."""
    sent = 0
    for i in range(count):
        data = from_stranger(invite(call_id=f"flood-{i}", branch=f"z9hG4bK-f{i}"))
        net.send(data, STRANGER)
        net.now += spacing
        sent += 1
    net.advance(net.now + 64.0)
    return sent


def test_an_unlisted_invite_gets_one_stateless_403_and_no_100() -> None:
    """No 100 Trying, one 403 with Reason UNKNOWN_SOURCE, no transaction, no timer."""
    net = Net()
    net.send(from_stranger(invite()), STRANGER)
    (resp,) = net.take(STRANGER)
    assert isinstance(resp, Response) and resp.status == 403
    assert "UNKNOWN_SOURCE" in (resp.headers.get("reason") or "")
    assert net.core.transactions == 0 and not net.timers
    net.advance(64.0)  # nothing is retransmitted: there is no Timer G or H
    assert net.take(STRANGER) == [] and net.idle()
    (decided,) = net.decided
    assert decided.verdict.reason.value == "UNKNOWN_SOURCE"


def test_flood_amplification_toward_an_unlisted_address_is_at_most_one() -> None:
    """2 000 INVITEs in 20 s, never ACKed, draw fewer answers than requests, all counted."""
    net = Net()
    sent = flood(net, 2_000, 0.01)
    back = len(net.take(STRANGER))
    assert back / sent <= 1.0
    stats = net.core.strangers.stats
    assert stats.answered == back and stats.suppressed == sent - back
    assert back <= 10 + 5 * 20 + 1  # the burst and 5/s over the flood's 20 s
    assert net.core.transactions == 0 and net.idle()
    assert len(net.decided) <= 2  # journaled once per source and minute
    assert stats.unjournaled == back - len(net.decided)


def test_rate_limit_is_per_prefix() -> None:
    """Another address of the same /24 shares the bucket; another /24 has its own."""
    net = Net()
    for i in range(30):
        net.send(from_stranger(invite(call_id=f"c{i}", branch=f"z9hG4bK-p{i}")), STRANGER)
    assert len(net.take(STRANGER)) == 10
    other = Addr("127.0.0.10", 5062)
    net.send(from_stranger(invite(branch="z9hG4bK-q"), "127.0.0.10"), other)
    assert net.take(other) == []
    far = Addr("127.0.5.9", 5062)
    net.send(from_stranger(invite(branch="z9hG4bK-r"), "127.0.5.9"), far)
    assert len(net.take(far)) == 1


def test_options_and_register_from_an_unlisted_source_get_403_not_200_or_405() -> None:
    """A scanner's OPTIONS and REGISTER get the same stateless 403 as anything else."""
    net = Net()
    for i, method in enumerate(["OPTIONS", "REGISTER", "SUBSCRIBE"]):
        net.send(request(method, f"z9hG4bK-m{i}"), STRANGER)
        (resp,) = net.take(STRANGER)
        assert isinstance(resp, Response) and resp.status == 403
        assert "allow" not in resp.headers and "server" not in resp.headers
    net.send(request("ACK"), STRANGER)
    assert net.take(STRANGER) == [] and net.core.transactions == 0


def test_options_from_a_listed_peer_still_gets_200() -> None:
    net = Net()
    net.send(request("OPTIONS").replace(b"127.0.0.9", b"127.0.0.2"), TRUNK)
    assert [m.status for m in net.take(TRUNK) if isinstance(m, Response)] == [200]


def test_unknown_sources_drop_answers_nothing(tmp_path: Path) -> None:
    """``unknown_sources: drop``: no answer at all, not even to garbage, all counted."""
    shutil.copy(RULES_PATH.parent / "consents.csv", tmp_path / "consents.csv")
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_PATH.read_text() + "\nunknown_sources: drop\n")
    net = Net()
    net.core.reload(load_rules(path))
    net.send(from_stranger(invite()), STRANGER)
    net.send(request("OPTIONS"), STRANGER)
    net.send(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9\r\nCSeq: x\r\n\r\n", STRANGER)
    assert net.take(STRANGER) == [] and net.decided == []
    assert net.core.strangers.stats.dropped == 3 and net.idle()


def test_garbage_from_an_unlisted_source_is_rate_limited() -> None:
    """Bytes that fail validation get their 400 within the same per-prefix limit."""
    net = Net()
    bad = b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9\r\nCSeq: x\r\n\r\n"
    out = [e for i in range(50) for e in net.core.on_message(bad, STRANGER, 0.0, WALL)]
    assert 0 < len(out) <= 10 and all(isinstance(e, Transmit) for e in out)
    assert all(parse(e.data).status == 400 for e in out if isinstance(e, Transmit))


def test_the_sampled_decision_holds_its_answer_until_journaled() -> None:
    net = Net()
    net.hold_decisions = True
    net.send(from_stranger(invite()), STRANGER)
    assert net.take(STRANGER) == []
    assert isinstance(net.pending[0], Decided)
    net.settle()
    assert len(net.take(STRANGER)) == 1


def test_nothing_we_build_names_the_software() -> None:
    """A whole call, a rejection and a stranger's answer: no Server, no User-Agent."""
    net = Net()
    setup_call(net)
    net.send(invite(caller="anonymous", call_id="c-x", branch="z9hG4bK-x"), TRUNK)
    net.send(from_stranger(invite(call_id="c-y", branch="z9hG4bK-y")), STRANGER)
    net.send(request("OPTIONS").replace(b"127.0.0.9", b"127.0.0.2"), TRUNK)
    assert len(net.raw) >= 6
    for data in net.raw:
        msg = parse(data)
        assert "server" not in msg.headers and "user-agent" not in msg.headers, data
        assert b"sipguard" not in data.lower(), data


def test_invented_methods_from_an_unlisted_source_add_no_counter_entries() -> None:
    """A flood of made-up methods is counted under one "other" entry, not one per name."""
    net = Net()
    for i in range(300):
        net.send(request(f"XMETHOD{i}", branch=f"z9hG4bK-x{i}"), STRANGER)
    net.send(request("OPTIONS"), STRANGER)
    counts = net.core.stats.strangers.by_method
    assert counts == {"other": 300, "OPTIONS": 1}
