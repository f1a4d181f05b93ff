"""The used-memo keeps what is looked up between sweeps and forgets the rest."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipguard.memo import UsedMemo


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
