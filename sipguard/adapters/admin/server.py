"""Starting and stopping the admin API on the already running event loop.

Invariants:
- The API runs on the caller's loop through ``web.AppRunner`` and ``web.TCPSite`` (no thread,
  no loop of its own), so handlers share the loop with the SIP server and must never block.
- A failed bind cleans up the runner before the ``OSError`` reaches the caller.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from sipguard.adapters.admin.app import ErrorLog, make_app
from sipguard.adapters.admin.backend import Backend
from sipguard.adapters.admin.tokens import Tokens

DEFAULT_PORT = 9060
# A request line long enough for every /calls filter at its longest, percent-encoded, so
# such a request reaches the API and gets its JSON 400 rather than the parser's bare one.
MAX_LINE = 64 * 1024


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminServer:
    """A running admin API."""

    def __init__(self, runner: web.AppRunner) -> None:
        self._runner = runner

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs it listens on."""
        return [(str(a[0]), int(a[1])) for a in self._runner.addresses]

    async def close(self) -> None:
        """Stop listening and finish the requests in progress."""
        await self._runner.cleanup()


async def start_admin(
    backend: Backend, tokens: Tokens, host: str, port: int, log: ErrorLog | None = None
) -> AdminServer:
    """Serve the API for ``backend`` on ``host:port``; raise OSError when it cannot bind."""
    app = make_app(backend, tokens, log)
    runner = web.AppRunner(app, access_log=None, max_line_size=MAX_LINE)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return AdminServer(runner)
