"""Reading admin API requests: the bearer token, JSON bodies and the ``/calls`` filters.

Invariants:
- Everything here turns untrusted input into typed values or raises an :class:`AdminError`
  (401 or 400) with a short message naming the problem; nothing else escapes.
- A JSON body must be one object with only the named fields, each a non-empty string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web
from multidict import MultiMapping

from sipguard.adapters.admin.backend import AdminError, BadRequest, CallFilters
from sipguard.adapters.admin.tokens import Tokens
from sipguard.policy.facts import Reason

DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
MAX_TEXT = 500
_TEXT_FILTERS = (
    "number", "caller", "callee", "reason", "direction", "operator", "trunk", "verdict",
    "since", "until",
)  # fmt: skip
_CHOICES: Mapping[str, frozenset[str]] = {
    "reason": frozenset(r.value for r in Reason),
    "direction": frozenset(("inbound", "outbound")),
    "verdict": frozenset(("allow", "reject")),
    "monitored": frozenset(("true", "false")),
    "format": frozenset(("json", "csv")),
}
CALL_PARAMS = (*_TEXT_FILTERS, "limit", "monitored", "format")


class Unauthorized(AdminError):
    """No token, a malformed Authorization header, or a token nobody holds."""

    status = 401


def who_is(headers: Mapping[str, str], tokens: Tokens) -> str:
    """The name of the caller's bearer token; Unauthorized when missing or wrong."""
    header = headers.get("Authorization")
    if header is None:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer TOKEN'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("malformed Authorization header: expected 'Bearer TOKEN'")
    name = tokens.identify(token)
    if name is None:
        raise Unauthorized("invalid token")
    return name


async def json_fields(
    request: web.Request, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """The body's fields; an empty body is ``{}``.  BadRequest for anything malformed."""
    raw = await request.read()
    if not raw:
        data: object = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"body is not valid JSON: {_short(exc)}") from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(data) - {*required, *optional})
    if unknown:
        raise BadRequest(f"unknown field(s) in body: {', '.join(unknown)}")
    missing = [name for name in required if name not in data]
    if missing:
        raise BadRequest(f"missing field(s) in body: {', '.join(missing)}")
    for name, value in data.items():
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise BadRequest(f"field {name!r} must be a non-empty string of at most {MAX_TEXT}")
    return {name: str(value).strip() for name, value in data.items()}


def _short(exc: BaseException) -> str:
    return str(exc)[:200] if not isinstance(exc, RecursionError) else "nested too deeply"


def call_filters(query: MultiMapping[str]) -> tuple[CallFilters, str]:
    """``/calls`` query parameters as filters and an output format (json or csv)."""
    unknown = sorted(set(query) - set(CALL_PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name in (n for n in CALL_PARAMS if n in query):  # a fixed order: stable messages
        given = query.getall(name)
        if len(given) > 1:
            raise BadRequest(f"query parameter {name!r} given more than once")
        values[name] = _checked(name, given[0])
    filters = CallFilters(
        **{name: values.get(name) for name in _TEXT_FILTERS},
        limit=_limit(values.get("limit")),
        monitored=values.get("monitored") == "true",
    )
    return filters, values.get("format", "json")


def _checked(name: str, value: str) -> str:
    if not value or len(value) > MAX_TEXT:
        raise BadRequest(f"query parameter {name!r} must be 1..{MAX_TEXT} characters")
    allowed = _CHOICES.get(name)
    if allowed is not None and value not in allowed:
        raise BadRequest(f"bad {name} {value!r}: one of {', '.join(sorted(allowed))}")
    return value


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"bad limit {text!r}: a whole number 1..{MAX_LIMIT}")
    return int(text)
