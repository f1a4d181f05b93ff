"""TCP in the shell: framed messages in, responses on the same connection, outbound connects."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from sipguard.adapters.server.shell import Server
from sipguard.adapters.server.tcp import TcpPool
from sipguard.b2bua.effects import Addr, Effects, TimerKey, Transmit

MSG = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 5\r\n\r\nhello"


class EchoCore:
    """Echoes every message back to its source, recording the sources seen."""

    journal_ok = True

    def __init__(self) -> None:
        self.sources: list[Addr] = []

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> Effects:
        self.sources.append(source)
        return [Transmit(b"ECHO " + data, source)]

    def on_timer(self, key: TimerKey, now: float, wall: datetime) -> Effects:
        return []


def test_tcp_messages_are_framed_and_answered_on_same_connection() -> None:
    """Two messages in one segment reach the core separately; answers reuse the connection."""

    async def main() -> None:
        core = EchoCore()
        server = Server(core, None, structlog.get_logger())
        (at,) = await server.start([("127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection(*at)
        writer.write(MSG + b"\r\n" + MSG[:20])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(MSG[20:])
        expected = (b"ECHO " + MSG) * 2
        got = await asyncio.wait_for(reader.readexactly(len(expected)), 2)
        assert got == expected
        local = writer.get_extra_info("sockname")
        assert core.sources == [Addr("127.0.0.1", local[1], "tcp")] * 2
        writer.close()
        await server.close()

    asyncio.run(main())


def test_bad_framing_closes_only_that_connection() -> None:
    """A stream without Content-Length is closed and counted; the server keeps serving."""

    async def main() -> None:
        server = Server(EchoCore(), None, structlog.get_logger())
        (at,) = await server.start([("127.0.0.1", 0)])
        reader, writer = await asyncio.open_connection(*at)
        writer.write(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 2) == b""
        assert server.tcp_stats.framing_errors == 1
        reader2, writer2 = await asyncio.open_connection(*at)
        writer2.write(MSG)
        assert await asyncio.wait_for(reader2.readexactly(5 + len(MSG)), 2) == b"ECHO " + MSG
        writer.close()
        writer2.close()
        await server.close()

    asyncio.run(main())


def test_send_to_unconnected_peer_opens_connection_and_keeps_order() -> None:
    """Sending to a TCP peer without a connection connects once and flushes in order."""

    async def main() -> None:
        got: list[bytes] = []
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got.append(await reader.readexactly(3 * len(MSG)))
            done.set()
            writer.close()

        peer = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = peer.sockets[0].getsockname()[1]
        pool = TcpPool(asyncio.get_running_loop(), lambda data, host, p: None)
        for _ in range(3):
            pool.send(MSG, "127.0.0.1", port)
        await asyncio.wait_for(done.wait(), 2)
        assert got == [MSG * 3]
        assert pool.stats.connected == 1
        await pool.close()
        peer.close()

    asyncio.run(main())


def test_failed_connect_drops_and_counts() -> None:
    """When a TCP peer refuses the connection, queued bytes are dropped and counted."""

    async def main() -> None:
        pool = TcpPool(asyncio.get_running_loop(), lambda data, host, p: None)
        pool.send(MSG, "127.0.0.1", 1)
        pool.send(MSG, "127.0.0.1", 1)
        await asyncio.sleep(0.2)
        assert pool.stats.connect_failures == 1
        assert pool.stats.dropped == 2
        await pool.close()

    asyncio.run(main())
