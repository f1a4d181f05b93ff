"""The admin HTTP API (aiohttp) on the process's own event loop; see docs/admin.md.

Invariants:
- Every route but ``GET /openapi.yaml`` needs a valid bearer token; the token's name is the
  ``who`` of every change.  401 comes before any 404 or 405, so paths leak nothing.
- Every error is a JSON ``{"error": message}`` with its status; an unexpected exception is
  logged and answered with a bare 500, never a traceback.
- Handlers only translate HTTP to :class:`Backend` calls; the backend does the work, and
  is the only way the API changes anything (and so the only way it writes the journal).
- The routes are exactly the paths of the shipped ``openapi.yaml`` (a test pins both ways).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from importlib import resources
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from sipguard.adapters.admin.backend import AdminError, Backend
from sipguard.adapters.admin.inputs import call_filters, json_fields, who_is
from sipguard.adapters.admin.tokens import Tokens

OPENAPI_PATH = "/openapi.yaml"
MAX_BODY = 64 * 1024
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKEND: web.AppKey[Backend] = web.AppKey("backend")
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorLog(Protocol):
    """Where the API reports its own failures: ``log(event, **fields)``, as structlog's."""

    def __call__(self, event: str, **fields: object) -> object: ...


def error(status: int, message: str, **extra: object) -> web.Response:
    """A JSON error response."""
    headers = {"WWW-Authenticate": 'Bearer realm="sipguard"'} if status == 401 else None
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _guard(tokens: Tokens, log: ErrorLog | None) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            if request.path != OPENAPI_PATH:
                who_is(request.headers, tokens)
            return await handler(request)
        except AdminError as exc:
            return error(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error(exc.status, exc.reason)
            if "Allow" in exc.headers:  # a 405 names the methods that would work
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception as exc:  # a bug must not show a traceback or stop the API
            if log is not None:
                log("admin.internal_error", path=request.path, error=repr(exc))
            return error(500, "internal error")

    return guard


def _backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


def _who(request: web.Request) -> str:
    """The name of the token the guard accepted (checked again: cheap, and no shared state)."""
    return who_is(request.headers, request.app[TOKENS])


async def health(request: web.Request) -> web.Response:
    """Ready (200) or not (503), with the reasons."""
    state = _backend(request).health()
    body = {"ready": state.ready, "reasons": list(state.reasons), "checks": dict(state.checks)}
    return web.json_response(body, status=200 if state.ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus exposition."""
    text = _backend(request).metrics_text()
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_TYPE})


async def calls(request: web.Request) -> web.Response:
    """Journaled calls matching the filters, as JSON or CSV."""
    filters, fmt = call_filters(request.query)
    table = await _backend(request).query_calls(filters)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=table.fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table.rows)
        return web.Response(text=out.getvalue(), content_type="text/csv")
    return web.json_response({"count": len(table.rows), "calls": table.rows}, dumps=_dumps)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def suspended(request: web.Request) -> web.Response:
    """Every suspension in force."""
    rows = [asdict(s) for s in await _backend(request).suspended()]
    return web.json_response({"count": len(rows), "suspended": rows}, dumps=_dumps)


async def suspend(request: web.Request) -> web.Response:
    """Suspend a filed number's outbound access; body ``{"why": TEXT}``."""
    body = await json_fields(request, required=("why",))
    who = _who(request)
    number = await _backend(request).suspend(request.match_info["number"], body["why"], who)
    return web.json_response({"number": number, "suspended": True, "by": who})


async def resume(request: web.Request) -> web.Response:
    """End a number's suspension; the body may be empty."""
    await json_fields(request)
    who = _who(request)
    number = await _backend(request).resume(request.match_info["number"], who)
    return web.json_response({"number": number, "suspended": False, "by": who})


async def reload(request: web.Request) -> web.Response:
    """Reload the rules: 200 applied, 422 with located issues, 409 held or unstable."""
    await json_fields(request)
    outcome = await _backend(request).reload(_who(request))
    if outcome.applied:
        return web.json_response({"applied": True, "rules_hash": outcome.rules_hash})
    if outcome.issues:
        message = outcome.detail or "the new rules are invalid; the old rules stay in force"
        return error(422, message, applied=False, issues=list(outcome.issues))
    return error(409, outcome.detail or "not applied", applied=False)


async def stats(request: web.Request) -> web.Response:
    """Calls in progress and decisions by reason since start."""
    now = _backend(request).stats()
    body = {
        "calls_in_progress": now.calls_in_progress,
        "decisions": dict(now.decisions),
        "started_at": now.started_at,
    }
    return web.json_response(body)


def openapi_text() -> str:
    """The shipped OpenAPI description."""
    return (resources.files(__package__) / "openapi.yaml").read_text(encoding="utf-8")


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of this API (no token needed)."""
    return web.Response(text=openapi_text(), content_type="application/yaml")


ROUTES: tuple[tuple[str, str, _Handler], ...] = (
    ("GET", "/health", health),
    ("GET", "/metrics", metrics),
    ("GET", "/calls", calls),
    ("GET", "/stats", stats),
    ("GET", "/numbers/suspended", suspended),
    ("POST", "/numbers/{number}/suspend", suspend),
    ("POST", "/numbers/{number}/resume", resume),
    ("POST", "/rules/reload", reload),
    ("GET", OPENAPI_PATH, openapi),
)


def make_app(backend: Backend, tokens: Tokens, log: ErrorLog | None = None) -> web.Application:
    """The aiohttp application serving ``backend`` to holders of ``tokens``."""
    app = web.Application(middlewares=[_guard(tokens, log)], client_max_size=MAX_BODY)
    app[BACKEND] = backend
    app[TOKENS] = tokens
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler, allow_head=False)
        else:
            app.router.add_post(path, handler)
    return app
