"""The admin HTTP API against a fake backend: every endpoint, 401 paths and bad input."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from sipguard.adapters.admin.app import OPENAPI_PATH, ROUTES, make_app, openapi_text
from sipguard.adapters.admin.backend import CallFilters, ReloadOutcome
from sipguard.adapters.admin.inputs import DEFAULT_LIMIT

from .conftest import AUDIT_TOKEN, AUTH, TOKENS, FakeBackend, with_client

Client = TestClient[Any, Any]


def make() -> tuple[FakeBackend, Any]:
    backend = FakeBackend()
    return backend, make_app(backend, TOKENS)


def test_health_ready_and_not_ready() -> None:
    """Ready is 200; not ready is 503 with the reasons."""
    backend, app = make()

    async def scenario(client: Client) -> tuple[Any, ...]:
        ok = await client.get("/health", headers=AUTH)
        ok_body = await ok.json()
        backend.ready = False
        bad = await client.get("/health", headers=AUTH)
        return ok.status, ok_body, bad.status, await bad.json()

    ok_status, ok_body, bad_status, bad_body = with_client(app, scenario)
    assert (ok_status, ok_body["ready"], ok_body["reasons"]) == (200, True, [])
    assert bad_status == 503
    assert bad_body == {
        "ready": False,
        "reasons": ["journal down"],
        "checks": {"journal": "down", "rules": "abc123"},
    }


def test_metrics_is_prometheus_text() -> None:
    """GET /metrics returns the exposition with the Prometheus content type."""
    _, app = make()

    async def scenario(client: Client) -> tuple[int, str, str]:
        resp = await client.get("/metrics", headers=AUTH)
        return resp.status, resp.headers["Content-Type"], await resp.text()

    status, ctype, text = with_client(app, scenario)
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    assert "sipguard_x_total 3.0" in text


def test_calls_json_passes_every_filter() -> None:
    """Every CLI filter reaches the backend as given; JSON has a count and the rows."""
    backend, app = make()
    query = {
        "number": "4008001234", "caller": "+86 400 800 1234", "callee": "13800138000",
        "reason": "NO_CONSENT", "direction": "outbound", "since": "7d",
        "until": "2026-01-02", "limit": "5",
    }  # fmt: skip

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.get("/calls", params=query, headers=AUTH)
        return resp.status, await resp.json()

    status, body = with_client(app, scenario)
    assert status == 200
    assert body["count"] == 1 and body["calls"][0]["caller"] == "4008001234"
    expected = CallFilters(**{**query, "limit": 5})  # type: ignore[arg-type]
    assert backend.filters == [expected]


def test_calls_csv_and_default_limit() -> None:
    """format=csv gives a header row of the backend's fields; no limit means the default."""
    backend, app = make()

    async def scenario(client: Client) -> tuple[int, str, str]:
        resp = await client.get("/calls", params={"format": "csv"}, headers=AUTH)
        return resp.status, resp.headers["Content-Type"], await resp.text()

    status, ctype, text = with_client(app, scenario)
    assert status == 200 and ctype.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["time", "caller", "reason"],
        ["2026-01-01T08:00:00+08:00", "4008001234", "ALLOWED"],
    ]
    assert backend.filters == [CallFilters(limit=DEFAULT_LIMIT)]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"reason": "NOPE"}, "bad reason 'NOPE'"),
        ({"direction": "sideways"}, "bad direction"),
        ({"limit": "0"}, "bad limit"),
        ({"limit": "ten"}, "bad limit"),
        ({"format": "xml"}, "bad format"),
        ({"colour": "red"}, "unknown query parameter(s): colour"),
        ({"since": "yesterday-ish"}, "not a date or time"),
        ({"number": ""}, "must be 1..500 characters"),
    ],
)
def test_calls_bad_filters_get_400(query: dict[str, str], needle: str) -> None:
    """A bad filter value is a 400 naming it, not a crash."""
    _, app = make()

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.get("/calls", params=query, headers=AUTH)
        return resp.status, await resp.json()

    status, body = with_client(app, scenario)
    assert status == 400
    assert needle in body["error"]


def test_calls_repeated_parameter_gets_400() -> None:
    _, app = make()

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.get("/calls?number=1&number=2", headers=AUTH)
        return resp.status, await resp.json()

    status, body = with_client(app, scenario)
    assert status == 400 and "more than once" in body["error"]


def test_suspend_list_resume_cycle_names_who() -> None:
    """Suspend, list and resume; each change carries the token's name as who."""
    backend, app = make()
    audit = {"Authorization": f"Bearer {AUDIT_TOKEN}"}

    async def scenario(client: Client) -> list[Any]:
        out = []
        resp = await client.post(
            "/numbers/4008001234/suspend", json={"why": "complaints"}, headers=AUTH
        )
        out.append((resp.status, await resp.json()))
        resp = await client.get("/numbers/suspended", headers=AUTH)
        out.append((resp.status, await resp.json()))
        resp = await client.post("/numbers/4008001234/resume", headers=audit)
        out.append((resp.status, await resp.json()))
        return out

    (s1, b1), (s2, b2), (s3, b3) = with_client(app, scenario)
    assert (s1, b1) == (200, {"number": "4008001234", "suspended": True, "by": "ops"})
    assert s2 == 200 and b2["count"] == 1
    assert b2["suspended"][0] == {
        "number": "4008001234", "since": "2026-01-01T00:00:00+00:00",
        "reason": "complaints", "by": "ops",
    }  # fmt: skip
    assert (s3, b3) == (200, {"number": "4008001234", "suspended": False, "by": "audit"})
    assert backend.changes == [("suspend", "4008001234", "ops"), ("resume", "4008001234", "audit")]


def test_unknown_number_404_and_repeat_409() -> None:
    backend, app = make()

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for path, body in (
            ("/numbers/4001112222/suspend", {"why": "x"}),
            ("/numbers/95123/suspend", {"why": "x"}),
            ("/numbers/95123/suspend", {"why": "x"}),
            ("/numbers/4008001234/resume", None),
        ):
            resp = await client.post(path, json=body, headers=AUTH)
            out.append((resp.status, await resp.json()))
        return out

    results = with_client(app, scenario)
    assert [s for s, _ in results] == [404, 200, 409, 409]
    assert results[0][1] == {"error": "4001112222: not a filed number"}
    assert backend.changes == [("suspend", "95123", "ops")]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"why": 7}', "field 'why' must be a non-empty string"),
        (b'{"why": "   "}', "field 'why' must be a non-empty string"),
        (b"{}", "missing field(s) in body: why"),
        (b'{"why": "x", "by": "me"}', "unknown field(s) in body: by"),
        (b"\xff\xfe\x00garbage", "body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, None),
    ],
)
def test_malformed_suspend_body_gets_400_with_message(body: bytes, needle: str | None) -> None:
    """Malformed bodies are 400 (or 413 when too large) with a message, never a traceback."""
    backend, app = make()

    async def scenario(client: Client) -> tuple[int, str]:
        resp = await client.post("/numbers/95123/suspend", data=body, headers=AUTH)
        return resp.status, await resp.text()

    status, text = with_client(app, scenario)
    if needle is None:
        assert status == 413
    else:
        assert status == 400
        assert needle in text
    assert "Traceback" not in text
    assert backend.changes == []


def test_resume_rejects_a_body_with_fields() -> None:
    _, app = make()

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.post("/numbers/95123/resume", data=b'{"x": "y"}', headers=AUTH)
        return resp.status, await resp.json()

    assert with_client(app, scenario) == (400, {"error": "unknown field(s) in body: x"})


def test_reload_applied_invalid_and_held() -> None:
    """200 with the new hash, 422 with located issues, 409 with the reason."""
    backend, app = make()
    issues = ("rules.yaml:3:5: unknown trunk 'x'", "rules.yaml:9:1: bad time range")
    outcomes = [
        ReloadOutcome(applied=True, rules_hash="abc123"),
        ReloadOutcome(applied=False, issues=issues),
        ReloadOutcome(applied=False, detail="held by the reload guard"),
    ]

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        out = []
        for outcome in outcomes:
            backend.reload_outcome = outcome
            resp = await client.post("/rules/reload", headers=AUTH)
            out.append((resp.status, await resp.json()))
        return out

    ok, invalid, held = with_client(app, scenario)
    assert ok == (200, {"applied": True, "rules_hash": "abc123"})
    assert invalid[0] == 422 and invalid[1]["issues"] == list(issues)
    assert invalid[1]["applied"] is False and "old rules" in invalid[1]["error"]
    assert held == (409, {"error": "held by the reload guard", "applied": False})
    assert [c[2] for c in backend.changes] == ["ops", "ops", "ops"]


def test_stats() -> None:
    _, app = make()

    async def scenario(client: Client) -> tuple[int, Any]:
        resp = await client.get("/stats", headers=AUTH)
        return resp.status, await resp.json()

    assert with_client(app, scenario) == (
        200,
        {
            "calls_in_progress": 2,
            "decisions": {"ALLOWED": 5, "NO_CONSENT": 1},
            "started_at": "2026-01-01T00:00:00+00:00",
        },
    )


def test_internal_error_is_a_bare_500() -> None:
    """A backend bug answers 500 without its message or a traceback, and is logged."""
    backend = FakeBackend()
    backend.fail = True
    logged: list[Any] = []
    app = make_app(backend, TOKENS, lambda event, **kw: logged.append((event, kw)))

    async def scenario(client: Client) -> tuple[int, str]:
        resp = await client.get("/stats", headers=AUTH)
        return resp.status, await resp.text()

    status, text = with_client(app, scenario)
    assert status == 500 and "secret" not in text and "Traceback" not in text
    assert logged and logged[0][0] == "admin.internal_error"


def test_unknown_path_and_method_are_json() -> None:
    _, app = make()

    async def scenario(client: Client) -> list[tuple[int, Any, str | None]]:
        out = []
        for method, path in (("GET", "/nope"), ("DELETE", "/health")):
            resp = await client.request(method, path, headers=AUTH)
            out.append((resp.status, await resp.json(), resp.headers.get("Allow")))
        return out

    (s1, b1, _), (s2, b2, allow) = with_client(app, scenario)
    assert (s1, b1) == (404, {"error": "Not Found"})
    assert (s2, b2, allow) == (405, {"error": "Method Not Allowed"}, "GET")


def test_openapi_served_without_token_and_matches_routes() -> None:
    """Every route is in the spec and every spec operation is a route."""
    _, app = make()

    async def scenario(client: Client) -> tuple[int, str]:
        resp = await client.get(OPENAPI_PATH)
        return resp.status, await resp.text()

    status, text = with_client(app, scenario)
    assert status == 200 and text == openapi_text()
    spec = yaml.safe_load(text)
    in_spec = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    in_app = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None
    }
    assert in_app == in_spec == {(m, p) for m, p, _ in ROUTES}


def test_openapi_reason_enum_is_every_reason() -> None:
    from sipguard.policy.facts import Reason

    spec = yaml.safe_load(openapi_text())
    params = {p["name"]: p for p in spec["paths"]["/calls"]["get"]["parameters"]}
    assert params["reason"]["schema"]["enum"] == [r.value for r in Reason]
