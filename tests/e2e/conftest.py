"""Fixtures for end-to-end tests: one sipguard server per module, always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import redis_url  # noqa: F401  (a private redis-server per module)

from .harness import Served, environment_ok, serve_in

SIPP_MODULES = {
    "test_calls.py",
    "test_crash_durability.py",
    "test_rfc4475.py",
    "test_serve_reload.py",
    "test_soak.py",
    "test_tcp_abuse.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The sipp-driven modules are e2e tests; without sipp they cannot run at all."""
    reason = environment_ok()
    for item in items:
        if Path(str(item.fspath)).name in SIPP_MODULES:
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A running server on the test rules, shared by a module's tests."""
    server = serve_in(tmp_path_factory.mktemp("serve"))
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"serve exited {code}:\n{server.log_text()[-3000:]}"
