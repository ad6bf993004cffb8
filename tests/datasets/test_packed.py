"""The packed-sort primitives give exactly the answers of the obvious numpy calls."""

from __future__ import annotations

import numpy as np

from musicrec.datasets.packed import first_occurrences, sorted_search


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
