"""The stepwise helpers pinned to the plain calls they replace: ``sorted``, and an index
built from a stepwise sort answering every lookup as the plain dict and scan would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.policy import NumberEntry, NumberIndex
from sipguard.policy.stepwise import STEP, empty_in_steps, sorted_in_steps

_digits = st.text(alphabet="0123456789", min_size=1, max_size=12)


@given(st.lists(st.text(max_size=6), max_size=3 * STEP))
@settings(max_examples=40, deadline=None)
def test_sorted_in_steps_is_sorted(keys: list[str]) -> None:
    """Any keys, in any order, of any count across the step size: exactly ``sorted``."""
    assert sorted_in_steps(keys) == sorted(keys)


def test_sorted_in_steps_across_runs_in_order_shuffled_and_reversed() -> None:
    """Large inputs take each path: runs already in order, pivot buckets, and reversed."""
    ordered = [str(4000000000 + 7 * i) for i in range(5 * STEP + 11)]
    shuffled = ordered[1::2] + ordered[0::2]
    for keys in (ordered, shuffled, ordered[::-1], ["5"] * (2 * STEP) + ["1", "9"]):
        assert sorted_in_steps(keys) == sorted(keys)


def test_empty_in_steps_empties_both() -> None:
    table = {str(i): i for i in range(3 * STEP + 5)}
    ordered = sorted(table)
    empty_in_steps(table, ordered)
    assert table == {} and ordered == []


def _entry(nsn: str) -> NumberEntry:
    return NumberEntry(nsn, "op", "t", inbound=True, outbound=False, usage=None, licence_until=-1)


@given(st.sets(_digits, max_size=2 * STEP + 50), st.lists(_digits, max_size=60))
@settings(max_examples=25, deadline=None)
def test_index_answers_as_the_plain_dict_and_scan(filed: set[str], probes: list[str]) -> None:
    """lookup, get, membership and length_related over a stepwise-sorted index agree with
    a plain dict and the obvious scan of every filed number."""
    entries = {nsn: _entry(nsn) for nsn in filed}
    index = NumberIndex(dict(entries))
    for nsn in [*probes, *list(filed)[:20]]:
        assert index.lookup(nsn) is entries.get(nsn) and index.get(nsn) is entries.get(nsn)
        assert (nsn in index) == (nsn in entries)
        related = nsn not in entries and any(
            f != nsn and (f.startswith(nsn) or nsn.startswith(f)) for f in filed
        )
        assert index.length_related(nsn) == related


def test_release_empties_the_index() -> None:
    index = NumberIndex([_entry(str(100 + i)) for i in range(STEP + 3)])
    index.release()
    assert len(index) == 0 and index.lookup("100") is None and not index.length_related("1")
