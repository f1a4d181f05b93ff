"""The reload loader runs with the cyclic collector paused, and leaves it as it found it;
the old rules are let go in the reload thread, their number index emptied there."""

from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

import pytest

from sipguard.adapters.server.reload import LOAD_SWITCH, loading, paused_gc, release_rules
from sipguard.policy import NumberEntry, NumberIndex


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


class _Rules:
    """Stands for a ruleset: what ``release_rules`` reads of it is its number index."""

    def __init__(self, numbers: NumberIndex) -> None:
        self.numbers = numbers


def _filed(count: int) -> dict[str, NumberEntry]:
    return {
        str(1000 + i): NumberEntry(str(1000 + i), "op", "t", True, False, None, -1)  # noqa: FBT003
        for i in range(count)
    }


def test_old_rules_no_one_holds_are_emptied_in_the_releasing_thread() -> None:
    """The box held the last reference: the index's dict is emptied there, step by step."""
    table = _filed(5000)
    assert release_rules([_Rules(NumberIndex(table))], grace=0.0) is True
    assert table == {}


def test_old_rules_still_held_are_left_whole() -> None:
    """A call in flight still holding the old rules after the grace: nothing is touched."""
    table = _filed(10)
    held = _Rules(NumberIndex(table))
    assert release_rules([held], grace=0.05) is False
    assert len(held.numbers) == 10 and held.numbers.lookup("1003") is table["1003"]


def test_an_index_held_apart_from_its_rules_is_left_whole() -> None:
    table = _filed(10)
    index = NumberIndex(table)
    assert release_rules([_Rules(index)], grace=0.0) is False
    assert len(index) == 10


def test_rules_let_go_during_the_grace_are_emptied() -> None:
    """The other holder drops the old rules a little later: they are emptied after all."""
    table = _filed(100)
    box: list[object] = [_Rules(NumberIndex(table))]
    holder = [box[0]]
    timer = threading.Timer(0.1, holder.clear)
    timer.start()
    assert release_rules(box, grace=5.0) is True
    timer.join()
    assert table == {}


def test_an_empty_box_entry_is_nothing_to_release() -> None:
    assert release_rules([None]) is False


def test_loading_shortens_the_switch_interval_only_meanwhile(tmp_path: Path) -> None:
    """During the load the interval is LOAD_SWITCH and the collector off; both restored."""
    seen: list[tuple[float, bool]] = []

    def load(path: Path) -> str:
        seen.append((sys.getswitchinterval(), gc.isenabled()))
        return path.name

    was = sys.getswitchinterval()
    assert loading(load, tmp_path / "r.yaml") == "r.yaml"
    assert seen == [(pytest.approx(LOAD_SWITCH), False)]
    assert sys.getswitchinterval() == was and gc.isenabled()


def test_what_a_load_made_is_frozen_so_no_collection_follows(tmp_path: Path) -> None:
    """The young generation's count is reset and the loaded objects are out of it."""

    def load(path: Path) -> list[list[str]]:
        return [[path.name] for _ in range(5000)]

    before = gc.get_freeze_count()
    try:
        made = paused_gc(load, tmp_path / "r.yaml")
        assert gc.get_freeze_count() >= before + len(made)
        assert gc.get_count()[0] < 100
        assert not any(o is made for o in gc.get_objects(generation=0))
    finally:
        gc.unfreeze()
