"""The serve backend on a real journal, state and rules: changes are journaled with who."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from e2e.harness import write_rules

from sipguard.adapters.admin.app import make_app
from sipguard.adapters.admin.backend import Backend, CallFilters, CallTable
from sipguard.adapters.admin.serve_backend import RulesView
from sipguard.adapters.admin.wiring import serve_backend
from sipguard.adapters.server.reload import RulesWatcher
from sipguard.cli.serve_admin import admin_calls as _admin_calls
from sipguard.journal.entries import to_ts
from sipguard.journal.record import Entry, Kind
from sipguard.journal.state import SqliteState, state_path_for
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalWriter
from sipguard.policy import Ruleset, load_rules

from .conftest import AUTH, TOKENS, with_client

Client = TestClient[Any, Any]


class Parts:
    """A server's parts as the CLI hands them over: core, gate, journal, watcher."""

    def __init__(self, folder: Path, *, journal: bool = True) -> None:
        self.rules_path = write_rules(folder, 5070, 5080)
        self.ruleset = load_rules(self.rules_path)
        assert self.ruleset.journal_path is not None
        self.journal_path = self.ruleset.journal_path
        self.journal = JournalWriter(self.journal_path) if journal else None
        self.state = SqliteState(state_path_for(self.journal_path))
        self.core = SimpleNamespace(
            rules=self.ruleset, state=self.state, active_calls=3, journal_ok=True
        )
        gate = SimpleNamespace(rules_hash=self.ruleset.version_hash, decisions={"ALLOWED": 4})
        self.server = SimpleNamespace(gate=gate)

    def backend(self) -> Backend:
        def apply(new: Ruleset) -> None:
            self.core.rules = new
            self.server.gate.rules_hash = new.version_hash

        self.watcher = RulesWatcher(
            self.rules_path, None, load_rules, apply, structlog.get_logger(), current=self.ruleset
        )
        return serve_backend(
            self.core, self.server, self.journal, self.watcher, self.rules_path, _admin_calls,
            self.journal_path if self.journal is not None else None,
        )  # fmt: skip

    def app(self) -> web.Application:
        return make_app(self.backend(), TOKENS)

    def admin_entries(self) -> list[Entry]:
        store = JournalStore(self.journal_path)
        try:
            assert store.verify().ok
            return [e for e in store.entries() if e.kind == Kind.ADMIN.value]
        finally:
            store.close()

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        self.state.close()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = Parts(tmp_path)
    yield made
    made.close()


def test_suspend_and_resume_are_journaled_with_who(parts: Parts) -> None:
    app = parts.app()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for path, body in (
            ("/numbers/+86 400 800 1234/suspend", {"why": "complaints"}),
            ("/numbers/4008001234/suspend", {"why": "again"}),
            ("/numbers/4008001234/resume", None),
            ("/numbers/4008001234/resume", None),
        ):
            resp = await client.post(path, json=body, headers=AUTH)
            out.append((resp.status, await resp.json()))
        return out

    (s1, b1), (s2, _), (s3, _), (s4, b4) = with_client(app, scenario)
    assert (s1, b1["number"], b1["by"]) == (200, "4008001234", "ops")
    assert (s2, s3, s4) == (409, 200, 409)
    assert b4 == {"error": "4008001234: not suspended"}
    entries = parts.admin_entries()
    assert [(e.action, e.number) for e in entries] == [
        ("suspend", "4008001234"),
        ("resume", "4008001234"),
    ]
    assert json.loads(entries[0].detail or "") == {"by": "ops", "why": "complaints"}
    assert json.loads(entries[1].detail or "") == {"by": "ops"}
    assert parts.state.suspensions() == []


def test_suspension_is_in_the_state_the_core_reads(parts: Parts) -> None:
    app = parts.app()

    async def scenario(client: Client) -> tuple[int, Any]:
        await client.post("/numbers/95123/suspend", json={"why": "probe"}, headers=AUTH)
        resp = await client.get("/numbers/suspended", headers=AUTH)
        return resp.status, await resp.json()

    status, body = with_client(app, scenario)
    suspension = parts.state.suspension("95123")
    assert suspension is not None and (suspension.by, suspension.reason) == ("ops", "probe")
    assert status == 200 and body["suspended"][0]["number"] == "95123"
    assert body["suspended"][0]["by"] == "ops"


@pytest.mark.parametrize(
    ("number", "status", "message"),
    [("4001112222", 404, "4001112222: not a filed number"), ("abc", 400, "not a number: 'abc'")],
)
def test_unfiled_or_bad_number_changes_nothing(
    parts: Parts, number: str, status: int, message: str
) -> None:
    app = parts.app()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for action in ("suspend", "resume"):
            resp = await client.post(
                f"/numbers/{number}/{action}", json={"why": "x"} if action == "suspend" else None,
                headers=AUTH,
            )  # fmt: skip
            out.append((resp.status, await resp.json()))
        return out

    assert with_client(app, scenario) == [(status, {"error": message})] * 2
    assert parts.admin_entries() == []
    assert parts.state.suspensions() == []


def test_journal_down_refuses_the_change(parts: Parts) -> None:
    """When the admin entry cannot be made durable, the state is not changed: 503."""
    app = parts.app()
    assert parts.journal is not None
    parts.journal._healthy = False

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.post("/numbers/95123/suspend", json={"why": "x"}, headers=AUTH)
        return resp.status, await resp.json()

    status, body = with_client(app, scenario)
    assert status == 503 and "journal down" in body["error"]
    assert parts.state.suspensions() == []


def test_no_journal_refuses_changes_and_calls(tmp_path: Path) -> None:
    parts = Parts(tmp_path, journal=False)
    app = parts.app()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        resp = await client.post("/numbers/95123/suspend", json={"why": "x"}, headers=AUTH)
        out.append((resp.status, await resp.json()))
        resp = await client.get("/calls", headers=AUTH)
        out.append((resp.status, await resp.json()))
        resp = await client.get("/health", headers=AUTH)
        out.append((resp.status, await resp.json()))
        return out

    try:
        (s1, b1), (s2, b2), (s3, b3) = with_client(app, scenario)
        suspended = parts.state.suspensions()
    finally:
        parts.close()
    assert s1 == 503 and "no journal" in b1["error"]
    assert s2 == 503 and "no journal" in b2["error"]
    assert s3 == 200 and b3["checks"]["journal"] == "not configured"
    assert suspended == []


def _decision(call_id: str, caller: str, reason: str, at: datetime) -> Entry:
    return Entry(
        kind=Kind.DECISION.value, ts=to_ts(at), at=at.isoformat(), call_id=call_id,
        direction="outbound", caller=caller, callee="13800138000", number=caller,
        verdict="reject" if reason != "ALLOWED" else "allow", status=403, reason=reason,
    )  # fmt: skip


def test_calls_use_the_cli_filters_on_the_journal(parts: Parts) -> None:
    at = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    store = JournalStore(parts.journal_path)
    store.append(
        [
            _decision("c1", "4008001234", "ALLOWED", at),
            _decision("c2", "4008001234", "NO_CONSENT", at),
            _decision("c3", "4006601234", "ALLOWED", at),
        ]
    )
    store.close()
    app = parts.app()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for params in (
            {"number": "+86 400 800 1234"},
            {"number": "4008001234", "reason": "NO_CONSENT", "format": "csv"},
            {"since": "2026-03-01T11:00:00"},  # the rules' zone: Asia/Shanghai, +08:00
            {"since": "not-a-time"},
            {"caller": "four"},
        ):
            resp = await client.get("/calls", params=params, headers=AUTH)
            body = await (resp.text() if params.get("format") == "csv" else resp.json())
            out.append((resp.status, body))
        return out

    by_number, csv_text, since, bad_time, bad_number = with_client(app, scenario)
    assert by_number[0] == 200 and [c["call_id"] for c in by_number[1]["calls"]] == ["c1", "c2"]
    lines = csv_text[1].splitlines()
    assert lines[0].startswith("time,direction,source") and len(lines) == 2 and ",c2," in lines[1]
    assert since == (200, {"count": 0, "calls": []})
    assert bad_time == (400, {"error": "not a date or time: 'not-a-time'"})
    assert bad_number == (400, {"error": "not a number: 'four'"})


def test_reload_invalid_then_valid_is_journaled(parts: Parts) -> None:
    """Invalid rules: 422 with located issues, nothing journaled; valid: 200 and an entry."""
    app = parts.app()
    good = parts.rules_path.read_text()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        parts.rules_path.write_text(
            good.replace("trunk: acme-sh-1, inbound", "trunk: nope, inbound")
        )
        resp = await client.post("/rules/reload", headers=AUTH)
        out.append((resp.status, await resp.json()))
        parts.rules_path.write_text(good.replace("Acme Customer Care", "Acme Care"))
        resp = await client.post("/rules/reload", headers=AUTH)
        out.append((resp.status, await resp.json()))
        return out

    (s1, b1), (s2, b2) = with_client(app, scenario)
    assert s1 == 422 and b1["applied"] is False
    assert any(":" in i and "nope" in i for i in b1["issues"]), b1
    assert b1["issues"][0].startswith(f"{parts.rules_path}:")
    assert s2 == 200 and b2["applied"] is True
    assert b2["rules_hash"] == parts.core.rules.version_hash != parts.ruleset.version_hash
    entries = parts.admin_entries()
    assert [e.action for e in entries] == ["reload"]
    assert json.loads(entries[0].detail or "") == {"by": "ops", "rules_hash": b2["rules_hash"]}


def test_health_stats_and_metrics_from_the_parts(parts: Parts) -> None:
    app = parts.app()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for path in ("/health", "/stats"):
            resp = await client.get(path, headers=AUTH)
            out.append((resp.status, await resp.json()))
        parts.core.journal_ok = False
        resp = await client.get("/health", headers=AUTH)
        out.append((resp.status, await resp.json()))
        resp = await client.get("/metrics", headers=AUTH)
        out.append((resp.status, await resp.text()))
        return out

    (h1, b1), (s, stats), (h2, b2), (m, metrics) = with_client(app, scenario)
    assert (h1, b1["ready"], b1["checks"]["journal"]) == (200, True, "ok")
    assert b1["checks"]["rules"] == parts.ruleset.version_hash
    assert s == 200 and stats["calls_in_progress"] == 3 and stats["decisions"] == {"ALLOWED": 4}
    assert stats["started_at"]
    assert h2 == 503 and b2["ready"] is False and b2["reasons"][0].startswith("journal down")
    assert m == 200 and "sipguard_journal_healthy" in metrics


def test_every_endpoint_writes_only_admin_entries(parts: Parts) -> None:
    """Driving every route leaves nothing in the journal but admin entries, each with by."""
    app = parts.app()

    async def scenario(client: Client) -> list[int]:
        statuses = []
        for method, path, body in (
            ("GET", "/health", None), ("GET", "/metrics", None), ("GET", "/stats", None),
            ("GET", "/calls?format=csv", None), ("GET", "/numbers/suspended", None),
            ("POST", "/numbers/95123/suspend", {"why": "x"}),
            ("POST", "/numbers/95123/resume", None), ("POST", "/rules/reload", None),
            ("GET", "/openapi.yaml", None),
        ):  # fmt: skip
            resp = await client.request(method, path, json=body, headers=AUTH)
            statuses.append(resp.status)
        return statuses

    assert with_client(app, scenario) == [200] * 9
    store = JournalStore(parts.journal_path)
    try:
        entries = list(store.entries())
    finally:
        store.close()
    assert [e.action for e in entries] == ["suspend", "resume", "reload"]
    assert all(e.kind == Kind.ADMIN.value and '"by":"ops"' in (e.detail or "") for e in entries)


def test_a_slow_query_does_not_block_the_loop(parts: Parts) -> None:
    """A call query runs in a worker thread: /stats answers while it is still running."""
    import asyncio
    import threading

    release = threading.Event()

    def slow_calls(
        path: Path, rules: Callable[[], RulesView]
    ) -> Callable[[CallFilters], CallTable]:
        inner = _admin_calls(path, rules)

        def query(filters: CallFilters) -> CallTable:
            release.wait(5)
            return inner(filters)

        return query

    backend = serve_backend(
        parts.core, parts.server, parts.journal, parts_watcher(parts), parts.rules_path, slow_calls,
        parts.journal_path,
    )  # fmt: skip
    app = make_app(backend, TOKENS)

    async def scenario(client: Client) -> tuple[int, int, bool]:
        slow = asyncio.create_task(client.get("/calls", headers=AUTH))
        await asyncio.sleep(0.05)
        fast = await client.get("/stats", headers=AUTH)
        pending = not slow.done()
        release.set()
        return fast.status, (await slow).status, pending

    assert with_client(app, scenario) == (200, 200, True)


def parts_watcher(parts: Parts) -> RulesWatcher:
    return RulesWatcher(
        parts.rules_path, None, load_rules, lambda new: None, structlog.get_logger()
    )
