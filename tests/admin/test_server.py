"""Starting the admin API on a running loop: binding, long request lines, loopback."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from sipguard.adapters.admin.server import MAX_LINE, is_loopback, start_admin

from .conftest import AUTH, TOKENS, FakeBackend


def test_long_filters_get_a_json_400_not_a_parser_error() -> None:
    """A request line far past aiohttp's default 8 KiB still reaches the API's own checks."""
    long_value = "\U0001f4de" * 600  # 600 characters, 7200 bytes once percent-encoded

    async def main() -> tuple[int, object]:
        api = await start_admin(FakeBackend(), TOKENS, "127.0.0.1", 0)
        port = api.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/calls"
                params = {"number": long_value, "caller": long_value}
                async with session.get(url, params=params, headers=AUTH) as resp:
                    return resp.status, await resp.json()
        finally:
            await api.close()

    status, body = asyncio.run(main())
    assert status == 400
    assert body == {"error": "query parameter 'number' must be 1..500 characters"}
    assert MAX_LINE > 2 * 7200


def test_whitespace_body_is_not_an_empty_body() -> None:
    async def main() -> int:
        api = await start_admin(FakeBackend(), TOKENS, "127.0.0.1", 0)
        port = api.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/rules/reload"
                async with session.post(url, data=b"\r\n", headers=AUTH) as resp:
                    return resp.status
        finally:
            await api.close()

    assert asyncio.run(main()) == 400


def test_bind_failure_raises_oserror() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            await start_admin(FakeBackend(), TOKENS, "127.0.0.1", taken.getsockname()[1])

    with pytest.raises(OSError):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, *, loopback: bool) -> None:
    assert is_loopback(host) is loopback
