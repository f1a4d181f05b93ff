"""Fixtures for end-to-end tests: one sipguard server per module, always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Served, environment_ok, free_port, start_serve, write_rules


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is an e2e test; without sipp they cannot run at all."""
    reason = environment_ok()
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def serve_in(folder: Path, extra_numbers: str = "", network_peers: str = '"127.0.0.4"') -> Served:
    """Write rules into ``folder`` and start a server on free ports."""
    trunk_port, net_port = free_port("127.0.0.2"), free_port("127.0.0.4")
    rules = write_rules(folder, trunk_port, net_port, extra_numbers, network_peers)
    return start_serve(folder, rules, free_port(), trunk_port, net_port)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A running server on the test rules, shared by a module's tests."""
    server = serve_in(tmp_path_factory.mktemp("serve"))
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, f"serve exited {code}:\n{server.log_text()[-3000:]}"
