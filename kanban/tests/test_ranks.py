"""Fractional ranks keep a strict order under any sequence of moves, with short keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanban import ranks


def test_empty_column_and_ends():
    first = ranks.between(None, None)
    assert first == "a0"
    assert ranks.between(first, None) > first
    assert ranks.between(None, first) < first


def test_appends_stay_short():
    keys = ranks.run_after(None, 10_000)
    assert keys == sorted(keys)
    assert max(len(k) for k in keys) <= 4


def test_bad_order_is_refused():
    with pytest.raises(ranks.RankError):
        ranks.between("a1", "a0")
    with pytest.raises(ranks.RankError):
        ranks.between("a0", "a0")
    with pytest.raises(ranks.RankError):
        ranks.validate("a10")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0)), min_size=1, max_size=400))
def test_random_moves_keep_strict_order(moves):
    """Start from 20 cards; each move takes a card out and drops it at a random place."""
    column = ranks.run_after(None, 20)
    for source, target in moves:
        column.pop(source % len(column))
        place = target % (len(column) + 1)
        before = column[place - 1] if place > 0 else None
        after = column[place] if place < len(column) else None
        column.insert(place, ranks.between(before, after))
        assert all(a < b for a, b in zip(column, column[1:], strict=False))
    assert max(len(k) for k in column) <= 40


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=300))
def test_repeated_drops_at_one_spot_grow_slowly(n):
    low, high = "a0", "a1"
    for _ in range(n):
        high = ranks.between(low, high)
        assert low < high
    assert len(high) <= 2 + n // 5 + 2
