"""The packed-sort primitives give exactly the answers of the obvious numpy calls."""

from __future__ import annotations

import numpy as np
import pytest

from musicrec.datasets.packed import distinct, first_occurrences, is_member, sorted_search


def test_distinct_matches_numpy_unique() -> None:
    values = np.random.default_rng(3).integers(0, 2**40, 10_000)

    assert np.array_equal(distinct(np.concatenate([values, values[:100]])), np.unique(values))
    assert distinct(np.array([4, 4])).tolist() == [4] and distinct(np.zeros(0, np.int64)).size == 0


@pytest.mark.parametrize("members_sorted", [True, False])
def test_is_member_matches_numpy_isin(members_sorted: bool) -> None:
    rng = np.random.default_rng(5)
    members = rng.integers(0, 2**40, 3_000)
    members = np.unique(members) if members_sorted else np.concatenate([members, members[:50]])
    values = np.concatenate([rng.integers(0, 2**40, 1_000), members[::7], [-1]])
    values = values[:values.size // 2 * 2].reshape(-1, 2)  # a matrix, as the metrics pass

    assert np.array_equal(is_member(values, members), np.isin(values, members))
    assert not is_member(values, np.zeros(0, np.int64)).any()


def test_first_occurrences_on_a_hand_made_array() -> None:
    assert first_occurrences(np.array([5, 3, 5, 0, 3, 7])).tolist() == [0, 1, 3, 5]


def test_first_occurrences_matches_numpy_unique() -> None:
    values = np.random.default_rng(1).integers(0, 500, 10_000)

    assert np.array_equal(first_occurrences(values), np.sort(np.unique(values, return_index=True)[1]))


def test_first_occurrences_of_nothing_is_empty() -> None:
    assert first_occurrences(np.zeros(0, dtype=np.int64)).size == 0


def test_sorted_search_on_ties_and_zero_width_rows() -> None:
    cumulative = np.array([0.0, 1.0, 1.0, 3.0])
    targets = np.array([0.5, 1.0, 1.5, 3.0])

    assert sorted_search(cumulative, targets).tolist() == [0, 0, 2, 2]


def test_sorted_search_matches_numpy_searchsorted() -> None:
    rng = np.random.default_rng(2)
    cumulative = np.concatenate([[0.0], np.cumsum(rng.random(1_000) * (rng.random(1_000) > 0.2))])
    targets = rng.random(20_000) * cumulative[-1]

    expected = np.searchsorted(cumulative, targets, side="left") - 1
    assert np.array_equal(sorted_search(cumulative, targets), expected)
