"""``SecondSighting``: a key is admitted on its second offer; what it holds is bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipguard import sighting
from sipguard.sighting import SecondSighting


def test_a_key_is_admitted_on_its_second_offer_then_forgotten() -> None:
    seen = SecondSighting(8)
    assert [seen.again("a"), seen.again("a"), seen.again("a"), seen.again("a")] == [
        False, True, False, True,
    ]  # fmt: skip


def test_a_full_set_is_emptied_and_keys_start_over() -> None:
    seen = SecondSighting(3)
    for key in "abc":
        assert not seen.again(key)
    assert len(seen) == 3
    assert not seen.again("d")  # full: emptied, then "d" remembered
    assert len(seen) == 1
    assert not seen.again("a")  # forgotten with the rest
    assert seen.again("d")


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 40))
def test_it_never_holds_more_than_its_limit(keys: list[int], limit: int) -> None:
    seen = SecondSighting(limit)
    for key in keys:
        seen.again(key)
        assert len(seen) <= limit


@given(st.lists(st.text(max_size=5), max_size=60))
def test_without_eviction_it_admits_every_second_offer(keys: list[str]) -> None:
    """With room for every key, the answers are exactly the plain count's parity."""
    seen, count = SecondSighting(10_000), dict[str, int]()
    for key in keys:
        count[key] = count.get(key, 0) + 1
        assert seen.again(key) is (count[key] % 2 == 0)


def test_a_flood_of_new_keys_leaves_nothing_allocated_but_the_table() -> None:
    """Marks live in the table, not as objects: after 5,000 distinct keys (the table
    emptied several times over), what this module allocated and still holds is its table
    and two counters."""
    import tracemalloc

    seen = SecondSighting(1000)
    tracemalloc.start()
    try:
        for i in range(5000):
            seen.again(f"key-{i}")
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only_this_module = tracemalloc.Filter(inclusive=True, filename_pattern=sighting.__file__)
    mine = snap.filter_traces([only_this_module])
    # the array, its buffer, and the two counters' ints: nothing per key
    assert sum(stat.count for stat in mine.statistics("filename")) <= 4
    assert len(seen) == 1000
