"""Malformed INVITEs from listed peers are answered as before and kept on record."""

from __future__ import annotations

from b2bua_harness import NET, TRUNK, Net, invite

from sipguard.b2bua.effects import Addr
from sipguard.policy.facts import Direction
from sipguard.sip.message import Response

DUP_FROM = invite(extra="From: <sip:95123@127.0.0.2>;tag=other")
FULL_WIDTH = invite().replace(b"CSeq: 1 INVITE", "CSeq: １ INVITE".encode())


def test_a_malformed_invite_from_a_trunk_is_answered_400_and_recorded() -> None:
    for data in (DUP_FROM, FULL_WIDTH):
        net = Net()
        net.send(data, TRUNK)
        (resp,) = net.take(TRUNK)
        assert isinstance(resp, Response) and resp.status == 400
        (rec,) = net.malformed
        assert (rec.source, rec.trunk, rec.direction) == (TRUNK, "acme-sh-1", Direction.OUTBOUND)
        assert rec.status == 400 and rec.error and rec.call_id == "a-call-1"
        assert net.core.transactions == 0


def test_from_the_network_the_record_has_no_trunk() -> None:
    net = Net()
    net.send(DUP_FROM.replace(b"127.0.0.2", b"127.0.0.4"), NET)
    (rec,) = net.malformed
    assert rec.direction is Direction.INBOUND and rec.trunk is None


def test_unlisted_sources_and_other_methods_leave_no_record() -> None:
    net = Net()
    net.send(DUP_FROM, Addr("127.0.0.9", 5062))
    options = DUP_FROM.replace(b"INVITE sip:", b"OPTIONS sip:").replace(b"1 INVITE", b"1 OPTIONS")
    net.send(options, TRUNK)
    assert net.malformed == []


def test_records_per_source_and_minute_are_capped() -> None:
    """A peer that sends only garbage cannot fill the journal: 60 a minute, the rest counted."""
    net = Net()
    for _ in range(100):
        net.send(DUP_FROM, TRUNK)
    assert len(net.malformed) == 60 and net.core.malformed.suppressed == 40
    assert len(net.take(TRUNK)) == 100  # every one still gets its answer
    net.now += 60.0
    net.send(DUP_FROM, TRUNK)
    assert len(net.malformed) == 61
