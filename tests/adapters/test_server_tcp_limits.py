"""TCP abuse is bounded: caps, idle and slowloris timeouts, unlisted peers, resets, floods."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

from sipguard.adapters.server.tcp import TcpPool
from sipguard.adapters.server.tcp_conn import Conn, TcpLimits

MSG = (
    b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKx\r\n"
    b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c1\r\n"
    b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def run(limits: TcpLimits, test: Callable[[TcpPool, tuple[str, int]], Awaitable[None]],
        listed: Callable[[str], bool] | None = None, reply: bytes = b"OK") -> None:  # fmt: skip
    """Start a pool whose core answers every message with ``reply``, then run ``test``."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool: TcpPool

        def deliver(data: bytes, host: str, port: int) -> None:
            pool.send(reply, host, port)

        pool = TcpPool(loop, deliver, limits, listed)
        await pool.listen("127.0.0.1", 0)
        port = pool._servers[0].sockets[0].getsockname()[1]
        try:
            await test(pool, ("127.0.0.1", port))
        finally:
            await pool.close()

    asyncio.run(main())


def test_connections_over_the_per_source_cap_are_refused() -> None:
    """A source may hold at most ``max_per_source`` accepted connections at once."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        conns = [await asyncio.open_connection(*at) for _ in range(5)]
        await asyncio.sleep(0.2)
        assert pool.stats.refused == 2 and pool.open_connections == 3
        for _, writer in conns:
            writer.close()

    run(TcpLimits(max_per_source=3), test)


def test_connections_over_the_overall_cap_are_refused() -> None:
    """The accepted connections never exceed ``max_connections``."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        conns = [await asyncio.open_connection(*at) for _ in range(6)]
        await asyncio.sleep(0.2)
        assert pool.open_connections == 4 and pool.stats.refused == 2
        for _, writer in conns:
            writer.close()

    run(TcpLimits(max_connections=4), test)


def test_a_slowloris_stream_is_closed_at_the_message_deadline() -> None:
    """A message started but not finished within ``message_timeout`` closes the connection."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        reader, writer = await asyncio.open_connection(*at)
        for byte in MSG[:5]:  # one byte every 50 ms: the stream never stalls for long
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)
        assert await asyncio.wait_for(reader.read(100), 2.0) == b""
        assert pool.stats.slow_closed == 1 and pool.open_connections == 0

    run(TcpLimits(message_timeout=0.3, idle_timeout=60), test)


def test_an_idle_connection_is_closed() -> None:
    """A connection with no complete message for ``idle_timeout`` is closed."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        reader, writer = await asyncio.open_connection(*at)
        writer.write(MSG)
        assert await asyncio.wait_for(reader.read(2), 1.0) == b"OK"
        assert await asyncio.wait_for(reader.read(100), 2.0) == b""
        assert pool.stats.idle_closed == 1

    run(TcpLimits(idle_timeout=0.3), test)


def test_an_unlisted_peer_is_answered_once_then_closed() -> None:
    """A connection from an unlisted address gets its answer, then the server closes it."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        reader, writer = await asyncio.open_connection(*at)
        writer.write(MSG + MSG)
        assert await asyncio.wait_for(reader.read(100), 2.0) == b"OK"
        assert await asyncio.wait_for(reader.read(100), 2.0) == b""
        assert pool.stats.unlisted_closed == 1

    run(TcpLimits(), test, listed=lambda host: False)


def test_an_oversized_message_gets_513_then_the_connection_closes() -> None:
    """A Content-Length past the size limit is answered 513 Message Too Large and closed."""
    big = MSG.replace(b"Content-Length: 0", b"Content-Length: 900000")

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        reader, writer = await asyncio.open_connection(*at)
        writer.write(big)
        answer = await asyncio.wait_for(reader.read(4096), 2.0)
        assert answer.startswith(b"SIP/2.0 513 ") and b"Call-ID: c1" in answer
        assert await asyncio.wait_for(reader.read(100), 2.0) == b""
        assert pool.stats.too_large == 1

    run(TcpLimits(), test)


def test_a_peer_that_never_reads_is_cut_off_at_the_high_water_mark() -> None:
    """Unsent octets never grow past ``write_high_water``: the connection is aborted."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        sock = socket.create_connection(at)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(60):
            sock.sendall(MSG)
            await asyncio.sleep(0.01)
            if pool.stats.overflowed:
                break
        assert pool.stats.overflowed == 1 and pool.open_connections == 0
        sock.close()

    run(TcpLimits(write_high_water=256 * 1024), test, reply=b"x" * 512 * 1024)


def test_resets_at_accept_leave_the_server_serving() -> None:
    """Hundreds of clients that reset at once leak nothing, and a real client is answered."""

    async def test(pool: TcpPool, at: tuple[str, int]) -> None:
        def reset_clients() -> None:
            for _ in range(300):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.settimeout(5)
                sock.connect(at)
                sock.close()

        await asyncio.to_thread(reset_clients)
        await asyncio.sleep(0.3)
        assert pool.open_connections == 0
        reader, writer = await asyncio.open_connection(*at)
        writer.write(MSG)
        assert await asyncio.wait_for(reader.read(2), 2.0) == b"OK"
        writer.close()

    run(TcpLimits(), test)


class _NamelessTransport:
    """A transport whose peer vanished before accept completed."""

    aborted = False

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        self.aborted = True


def test_a_connection_without_a_peer_name_is_counted_and_aborted() -> None:
    """``peername`` of None (a reset at accept) is counted and aborted, never raised."""

    async def main() -> None:
        pool = TcpPool(asyncio.get_running_loop(), lambda data, host, port: None)
        conn = Conn(pool, lambda: 0.0, outbound=False)
        transport = _NamelessTransport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(MSG)
        conn.connection_lost(None)
        assert transport.aborted and pool.stats.reset_at_accept == 1
        assert pool.stats.messages == 0

    asyncio.run(main())
