"""The used-memo keeps what is looked up between sweeps and forgets the rest."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from sipguard.memo import UsedMemo, shrink


def test_an_entry_looked_up_between_sweeps_stays_and_is_the_same_object() -> None:
    memo: UsedMemo[str, list[str]] = UsedMemo(4)
    value = ["a"]
    assert memo.put("k", value) and memo.get("k") is value
    for _ in range(5):
        memo.sweep()
        assert memo.get("k") is value
    assert len(memo) == 1 and "k" in memo


def test_an_entry_nobody_looks_up_is_gone_after_two_sweeps() -> None:
    memo: UsedMemo[str, int] = UsedMemo(4)
    memo.put("k", 1)
    memo.sweep()
    assert "k" in memo  # one sweep: still in the generation before
    memo.sweep()
    assert "k" not in memo and memo.get("k") is None and len(memo) == 0


def test_a_full_generation_takes_no_more_and_a_revived_entry_needs_room() -> None:
    memo: UsedMemo[int, int] = UsedMemo(2)
    assert memo.put(1, 1) and memo.put(2, 2) and not memo.put(3, 3) and memo.full()
    memo.sweep()
    assert memo.put(4, 4) and memo.put(5, 5) and memo.full()
    assert memo.get(1) == 1  # still answered from the generation before
    assert 1 not in memo.now and len(memo.now) == 2  # but not moved: this one is full
    memo.clear()
    assert len(memo) == 0 and not memo.full()


@given(st.lists(st.one_of(st.tuples(st.just("put"), st.integers(0, 20)),
                          st.tuples(st.just("get"), st.integers(0, 20)),
                          st.tuples(st.just("sweep"), st.just(0)))))  # fmt: skip
def test_the_memo_answers_like_a_model_of_two_generations(ops: list[tuple[str, int]]) -> None:
    """Against a plain model: what ``get`` returns, and the bound of 2 x limit."""
    memo: UsedMemo[int, int] = UsedMemo(5)
    now: dict[int, int] = {}
    before: dict[int, int] = {}
    for op, key in ops:
        if op == "put":
            assert memo.put(key, key * 10) == (len(now) < 5)
            if len(now) < 5:
                now[key] = key * 10
        elif op == "get":
            want = now.get(key)
            if want is None and key in before:
                want = before.pop(key)
                if len(now) < 5:
                    now[key] = want
            assert memo.get(key) == want
        else:
            memo.sweep()
            before, now = now, {}
        assert memo.now == now and memo.before == before and len(memo) <= 10


def test_shrink_gives_back_the_space_of_a_table_that_emptied_and_keeps_it_the_same() -> None:
    table = {i: str(i) for i in range(50_000)}
    for i in range(49_990):
        del table[i]
    held = table  # whoever holds the table keeps the very object
    before = sys.getsizeof(table)
    assert shrink(table) == 1
    assert held is table and list(table.items()) == [(i, str(i)) for i in range(49_990, 50_000)]
    assert sys.getsizeof(table) * 20 < before
    assert shrink(table) == 0  # right-sized now: left as it is


def test_shrink_leaves_small_and_well_filled_tables_alone() -> None:
    small: dict[int, int] = {i: i for i in range(200)}
    full = {i: i for i in range(40_000)}
    for i in range(10_000):  # a quarter gone: not worth a rebuild under load
        del full[i]
    sizes = sys.getsizeof(small), sys.getsizeof(full)
    assert shrink(small, full, {}) == 0
    assert (sys.getsizeof(small), sys.getsizeof(full)) == sizes


@given(st.lists(st.tuples(st.integers(0, 3000), st.booleans()), max_size=400))
def test_shrink_never_changes_what_a_table_holds(ops: list[tuple[int, bool]]) -> None:
    table: dict[int, int] = {i: -i for i in range(3000)}
    for key, add in ops:
        if add:
            table[key] = key
        else:
            table.pop(key, None)
    for key in range(2900):
        table.pop(key, None)
    expected = list(table.items())
    shrink(table)
    assert list(table.items()) == expected
