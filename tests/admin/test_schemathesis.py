"""Property-based run of the OpenAPI description against a live admin API (schemathesis).

Generated requests, valid and invalid, must get documented statuses and bodies that match
the description, and never a 5xx.  Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sipguard.adapters.admin.server import start_admin

from .conftest import OPS_TOKEN, TOKENS, FakeBackend
from .test_serve_backend import Parts

SPEC = resources.files("sipguard.adapters.admin") / "openapi.yaml"
schema = schemathesis.openapi.from_path(str(SPEC))


@schema.auth()
class Bearer:
    """The token, applied by schemathesis itself (so it knows which requests carry it)."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return OPS_TOKEN

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def serve_in_thread(make_backend: Callable[[], Any]) -> Iterator[str]:
    """Serve the admin API for ``make_backend()`` from a loop in a background thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        api = loop.run_until_complete(start_admin(make_backend(), TOKENS, "127.0.0.1", 0))
        started["api"] = api
        ready.set()
        loop.run_forever()
        loop.run_until_complete(api.close())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{started['api'].addresses[0][1]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The admin API on a fake backend."""
    yield from serve_in_thread(FakeBackend)


@pytest.fixture(scope="module")
def real_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The admin API on the serve backend: real rules, journal, state and watcher."""
    parts = Parts(tmp_path_factory.mktemp("admin-st"))
    try:
        yield from serve_in_thread(lambda: parts.backend())
    finally:
        parts.close()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_its_description(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_serve_backend_never_fails_on_generated_input(
    case: schemathesis.Case, real_url: str
) -> None:
    """The real backend behind the API: documented answers only, never a 5xx.

    Schema-valid but meaningless values (``since=0``, number ``0``) are refused by the real
    backend with their documented 400, 404 or 409, so "valid input is accepted" is not
    asked of it; every other check is.
    """
    case.call_and_validate(base_url=real_url, excluded_checks=[positive_data_acceptance])


def test_the_why_pattern_agrees_with_the_servers_white_space() -> None:
    """A ``why`` the schema's pattern accepts is one the server keeps, whichever way the
    pattern is read: the characters Python's ``str.strip`` removes (U+001C-U+001F and
    U+0085 among them, which ECMA-262's ``\\s`` leaves out) never satisfy it alone."""
    import re
    import sys

    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    body = spec["paths"]["/numbers/{number}/suspend"]["post"]["requestBody"]
    pattern = body["content"]["application/json"]["schema"]["properties"]["why"]["pattern"]
    ecma_space = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    ecma = pattern.replace("\\S", f"[^{ecma_space}]").replace("\\s", ecma_space)
    readings = (re.compile(pattern), re.compile(ecma))
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if ch.isspace():
            assert all(r.search(ch) is None for r in readings), hex(code)
