"""serve, driven by sipp: a new numbers.csv export is taken by hot reload on its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Served, free_port, start_serve, write_rules
from .test_serve_reload import reason_for, wait_for

HEADER = "number,operator,trunk,inbound,outbound,usage,valid_from,valid_until\n"
ROWS = (
    "95123,acme,acme-sh-1,true,false,,,\n"
    "4008001234,acme,acme-sh-1,true,true,,,\n"
    "4006601234,beta,beta-bj-1,true,false,,,\n"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    """A server whose numbers come from numbers.csv."""
    trunk_port, net_port = free_port("127.0.0.2"), free_port("127.0.0.4")
    rules = write_rules(tmp_path, trunk_port, net_port)
    text = rules.read_text()
    start, end = text.index("numbers:\n"), text.index("outbound:\n")
    rules.write_text(text[:start] + "numbers: {file: numbers.csv}\n" + text[end:])
    (tmp_path / "numbers.csv").write_text(HEADER + ROWS)
    served = start_serve(tmp_path, rules, free_port(), trunk_port, net_port)
    try:
        yield served
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


def test_a_number_added_to_the_csv_is_filed_without_touching_the_rules(
    server: Served, tmp_path: Path
) -> None:
    """Only numbers.csv changes (atomic rename): the next call of the new number is filed."""
    calls = tmp_path / "calls"
    calls.mkdir()
    assert reason_for(server, calls, "4001112222") == "CALLER_UNREGISTERED"
    csv = server.folder / "numbers.csv"
    fresh = csv.with_suffix(".tmp")
    fresh.write_text(HEADER + ROWS + "4001112222,acme,acme-sh-1,false,true,,,\n")
    os.replace(fresh, csv)
    wait_for(server, "rules.reloaded")
    assert reason_for(server, calls, "4001112222") == "NO_CONSENT"
