"""Shared helpers for the admin API tests: a fake backend, tokens and a client runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sipguard.adapters.admin.backend import (
    BadRequest,
    CallFilters,
    CallTable,
    Conflict,
    Health,
    NotFound,
    ReloadOutcome,
    Stats,
    SuspendedNumber,
)
from sipguard.adapters.admin.tokens import Tokens

T = TypeVar("T")
OPS_TOKEN = "ops-0123456789abcdef"
AUDIT_TOKEN = "audit-0123456789abcdef"
TOKENS = Tokens.of({"ops": OPS_TOKEN, "audit": AUDIT_TOKEN})
AUTH = {"Authorization": f"Bearer {OPS_TOKEN}"}
FILED = {"4008001234", "95123"}


class FakeBackend:
    """An in-memory Backend that records what it was asked."""

    def __init__(self) -> None:
        self.ready = True
        self.filters: list[CallFilters] = []
        self.suspensions: dict[str, SuspendedNumber] = {}
        self.changes: list[tuple[str, str, str]] = []
        self.reload_outcome = ReloadOutcome(applied=True, rules_hash="abc123")
        self.fail = False

    def health(self) -> Health:
        if self.ready:
            return Health(ready=True, reasons=(), checks={"journal": "ok", "rules": "abc123"})
        return Health(
            ready=False, reasons=("journal down",), checks={"journal": "down", "rules": "abc123"}
        )

    def metrics_text(self) -> str:
        return "# HELP sipguard_x X.\n# TYPE sipguard_x counter\nsipguard_x_total 3.0\n"

    def stats(self) -> Stats:
        if self.fail:
            raise RuntimeError("secret internals")
        return Stats(2, {"ALLOWED": 5, "NO_CONSENT": 1}, "2026-01-01T00:00:00+00:00")

    async def query_calls(self, filters: CallFilters) -> CallTable:
        if filters.since == "yesterday-ish":
            raise BadRequest("not a date or time: 'yesterday-ish'")
        self.filters.append(filters)
        rows = [{"time": "2026-01-01T08:00:00+08:00", "caller": "4008001234", "reason": "ALLOWED"}]
        return CallTable(("time", "caller", "reason"), rows)

    async def suspended(self) -> list[SuspendedNumber]:
        return list(self.suspensions.values())

    async def suspend(self, number: str, why: str, who: str) -> str:
        if number not in FILED:
            raise NotFound(f"{number}: not a filed number")
        if number in self.suspensions:
            raise Conflict(f"{number}: already suspended")
        self.suspensions[number] = SuspendedNumber(number, "2026-01-01T00:00:00+00:00", why, who)
        self.changes.append(("suspend", number, who))
        return number

    async def resume(self, number: str, who: str) -> str:
        if self.suspensions.pop(number, None) is None:
            raise Conflict(f"{number}: not suspended")
        self.changes.append(("resume", number, who))
        return number

    async def reload(self, who: str) -> ReloadOutcome:
        self.changes.append(("reload", "", who))
        return self.reload_outcome


def with_client(
    app: web.Application, scenario: Callable[[TestClient[Any, Any]], Awaitable[T]]
) -> T:
    """Run ``scenario`` against ``app`` served on loopback."""

    async def main() -> T:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await scenario(client)

    return asyncio.run(main())
