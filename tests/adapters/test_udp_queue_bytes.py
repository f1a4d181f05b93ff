"""The UDP intake queue is bounded in octets as well as in datagrams."""

from __future__ import annotations

import asyncio
import socket

from sipguard.adapters.server.udp import UdpEndpoint, UdpStats, bind_udp


def _fill(queue_limit: int, queue_bytes: int, sizes: list[int]) -> tuple[list[int], UdpStats]:
    """Send datagrams of ``sizes`` while the loop is not running, then let it deliver."""
    loop = asyncio.new_event_loop()
    got: list[int] = []
    stats = UdpStats()
    sock = bind_udp("127.0.0.1", 0)
    endpoint = UdpEndpoint(loop, sock, lambda data, h, p: got.append(len(data)), stats,
                           queue_limit=queue_limit, queue_bytes=queue_bytes)  # fmt: skip
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for size in sizes:
            sender.sendto(b"x" * size, endpoint.local)
        endpoint._on_readable()  # one drain, as the loop would do, before any delivery
        loop.run_until_complete(asyncio.sleep(0.05))
    finally:
        endpoint.close()
        sender.close()
        loop.close()
    return got, stats


def test_big_datagrams_stop_at_the_byte_bound() -> None:
    """Twenty 20 KB datagrams against a 100 KB bound: five are queued, fifteen dropped."""
    got, stats = _fill(1000, 100_000, [20_000] * 20)
    assert got == [20_000] * 5
    assert stats.received == 20 and stats.dropped == 15


def test_small_datagrams_still_stop_at_the_count_bound() -> None:
    """The plain bound is unchanged: with room in octets, the count decides."""
    got, stats = _fill(10, 100_000, [100] * 30)
    assert len(got) == 10 and stats.dropped == 20


def test_the_byte_count_is_given_back_as_datagrams_are_delivered() -> None:
    """One endpoint, two bursts that each fill its 50 KB bound: both are delivered whole."""
    loop = asyncio.new_event_loop()
    got: list[int] = []
    sock = bind_udp("127.0.0.1", 0)
    endpoint = UdpEndpoint(loop, sock, lambda data, h, p: got.append(len(data)), UdpStats(),
                           queue_bytes=50_000)  # fmt: skip
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(3):
            for _ in range(2):
                sender.sendto(b"x" * 20_000, endpoint.local)
            endpoint._on_readable()
            loop.run_until_complete(asyncio.sleep(0.02))
    finally:
        endpoint.close()
        sender.close()
        loop.close()
    assert got == [20_000] * 6


def test_a_drain_delivers_its_first_batch_at_once_and_the_rest_in_order() -> None:
    """The first batch of a drain is handed over in the drain itself; the rest (queued, and
    still in the kernel) follows on later turns.  Every datagram arrives once, in the order
    sent, as when every batch waited for its own turn."""
    loop = asyncio.new_event_loop()
    got: list[bytes] = []
    sock = bind_udp("127.0.0.1", 0)
    endpoint = UdpEndpoint(loop, sock, lambda data, h, p: got.append(data), UdpStats(),
                           batch=16)  # fmt: skip
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = [f"d{i}".encode() for i in range(100)]
    try:
        for data in sent:
            sender.sendto(data, endpoint.local)
        endpoint._on_readable()  # reads 32 (two batches), delivers the first 16 itself
        assert got == sent[:16]
        loop.run_until_complete(asyncio.sleep(0.05))
        assert got == sent
        sender.sendto(b"late", endpoint.local)
        loop.run_until_complete(asyncio.sleep(0.05))  # an empty queue: delivered in the drain
        assert got == [*sent, b"late"]
    finally:
        endpoint.close()
        sender.close()
        loop.close()
