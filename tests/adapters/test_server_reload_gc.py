"""The reload loader runs with the cyclic collector paused, and leaves it as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from sipguard.adapters.server.reload import paused_gc


def test_the_load_result_is_the_loaders_and_the_collector_is_paused_meanwhile(
    tmp_path: Path,
) -> None:
    """paused_gc is load(path) itself; during it the collector is off, after it on again."""
    seen: list[bool] = []

    def load(path: Path) -> str:
        seen.append(gc.isenabled())
        return path.name

    assert gc.isenabled()
    assert paused_gc(load, tmp_path / "rules.yaml") == "rules.yaml"
    assert seen == [False] and gc.isenabled()


def test_a_collector_already_off_stays_off_and_errors_pass_through(tmp_path: Path) -> None:
    """A failing load raises as it would unwrapped; the collector's state is restored."""

    def broken(path: Path) -> str:
        raise ValueError(f"bad {path.name}")

    with pytest.raises(ValueError, match=r"bad rules\.yaml"):
        paused_gc(broken, tmp_path / "rules.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        paused_gc(lambda p: p, tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()
