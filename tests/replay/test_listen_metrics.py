"""Per-listen metric values, per-user sums and the user-level bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musicrec.replay.listen_metrics import bootstrap_means, estimates, listen_gains, per_user_sums

RANKS = np.array([1, 2, 5, 0, 11])


def test_listen_gains_by_hand() -> None:
    assert listen_gains(RANKS, "HitRate", 5).tolist() == [1, 1, 1, 0, 0]
    assert listen_gains(RANKS, "HitRate", 1).tolist() == [1, 0, 0, 0, 0]
    assert listen_gains(RANKS, "MRR", 5).tolist() == pytest.approx([1, 1 / 2, 1 / 5, 0, 0])
    assert listen_gains(RANKS, "NDCG", 20).tolist() == pytest.approx(
        [1, 1 / math.log2(3), 1 / math.log2(6), 0, 1 / math.log2(12)])
    with pytest.raises(ValueError, match="unknown metric"):
        listen_gains(RANKS, "Precision", 5)


def test_per_user_sums_skip_users_without_listens() -> None:
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    offsets = np.array([0, 2, 2, 3])  # user 0: rows 0-1, user 1: none, user 2: row 2
    assert per_user_sums(values, offsets).tolist() == [[1, 1], [0, 0], [1, 1]]


def test_identical_users_give_a_zero_width_interval() -> None:
    sums, counts = np.full((40, 1), 3.0), np.full(40, 4.0)
    (estimate,) = estimates(sums, counts, resamples=200)
    assert (estimate.value, estimate.low, estimate.high) == pytest.approx((0.75, 0.75, 0.75))


def test_interval_covers_the_value_and_narrows_with_more_users() -> None:
    rng = np.random.default_rng(3)
    widths = []
    for users in (50, 2000):
        counts = rng.integers(1, 10, users).astype(float)
        sums = rng.binomial(counts.astype(int), 0.3).astype(float)[:, None]
        (estimate,) = estimates(sums, counts, resamples=400, seed=1)
        assert estimate.low < estimate.value < estimate.high
        assert estimate.low < 0.3 < estimate.high
        widths.append(estimate.high - estimate.low)
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(40) of the width with 40x the users


def test_bootstrap_pools_listens_and_is_seeded() -> None:
    sums, counts = np.array([[0.0], [10.0]]), np.array([10.0, 10.0])
    means = bootstrap_means(sums, counts, resamples=300, seed=5)
    assert set(np.round(means[:, 0], 6)) <= {0.0, 0.5, 1.0}  # both users drawn, or one twice
    assert np.array_equal(means, bootstrap_means(sums, counts, resamples=300, seed=5))


def test_paired_difference_excludes_zero_when_one_always_wins() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 5, 100).astype(float)
    better = counts * 0.5 + 1.0  # every user: one more hit than the other strategy
    sums = np.column_stack([counts * 0.5, better, better - counts * 0.5])
    base, other, lift = estimates(sums, counts, resamples=300)
    assert lift.excludes_zero() and lift.low > 0
    assert other.value > base.value
