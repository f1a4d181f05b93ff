"""A real HTTP webhook on loopback for the alert tests: it keeps every POSTed JSON body."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(URL, the bodies received so far) of a webhook that answers every POST 204."""
    bodies: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", bodies
    finally:
        server.shutdown()
        server.server_close()


def wait_for(bodies: list[dict[str, Any]], n: int, settle: float = 0.3) -> None:
    """Wait (at most 10 s) for ``n`` bodies, then ``settle`` more seconds for any extra."""
    deadline = time.monotonic() + 10
    while len(bodies) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
