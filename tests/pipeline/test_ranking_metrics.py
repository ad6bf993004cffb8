"""Each metric on a hand-computed example of two users (and one without recommendations)."""

import math

import numpy as np
import pytest

from musicrec.pipeline import ranking_metrics

N_ITEMS = 12
# user 0: recommended 1..5, relevant {2, 5, 9} -> hits at positions 2 and 5
# user 1: recommended only 7, relevant {7}     -> hit at position 1
RECS = np.array([[1, 2, 3, 4, 5], [7, -1, -1, -1, -1]])
USERS = np.array([0, 1])
RELEVANT_KEYS = np.array([0 * N_ITEMS + 2, 0 * N_ITEMS + 5, 0 * N_ITEMS + 9, 1 * N_ITEMS + 7])
N_RELEVANT = np.array([3, 1])


@pytest.fixture
def hits() -> np.ndarray:
    return ranking_metrics.hit_matrix(RECS, USERS, RELEVANT_KEYS, N_ITEMS)


def test_hit_matrix_marks_relevant_positions_only(hits):
    assert hits.tolist() == [[False, True, False, False, True], [True, False, False, False, False]]


def test_precision(hits):
    assert ranking_metrics.precision_at_k(hits, 5) == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert ranking_metrics.precision_at_k(hits, 1) == pytest.approx((0 + 1) / 2)


def test_recall(hits):
    assert ranking_metrics.recall_at_k(hits, N_RELEVANT, 5) == pytest.approx((2 / 3 + 1) / 2)
    assert ranking_metrics.recall_at_k(hits, N_RELEVANT, 2) == pytest.approx((1 / 3 + 1) / 2)


def test_ndcg(hits):
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ranking_metrics.ndcg_at_k(hits, N_RELEVANT, 5) == pytest.approx((dcg / ideal + 1.0) / 2)


def test_map(hits):
    # user 0: (precision@2 + precision@5) / min(3, 5) = (1/2 + 2/5) / 3 = 0.3; user 1: 1
    assert ranking_metrics.map_at_k(hits, N_RELEVANT, 5) == pytest.approx((0.3 + 1.0) / 2)


def test_item_coverage_counts_distinct_shown_items():
    assert ranking_metrics.item_coverage(RECS, 5, N_ITEMS) == pytest.approx(6 / 12)
    assert ranking_metrics.item_coverage(RECS, 1, N_ITEMS) == pytest.approx(2 / 12)


def test_user_coverage_counts_users_with_any_recommendation():
    recs = np.vstack([RECS, np.full(5, -1)])
    assert ranking_metrics.user_coverage(recs) == pytest.approx(2 / 3)


def test_novelty_is_mean_self_information():
    listeners = np.zeros(N_ITEMS, dtype=np.int64)
    listeners[[1, 2, 3, 4, 5, 7]] = [4, 2, 1, 8, 0, 2]  # of 8 users
    # user 0: -log2 of 4/8, 2/8, 1/8, 8/8, 1/8 (no listener counts as one) = 1, 2, 3, 0, 3 -> 1.8
    # user 1: -log2(2/8) = 2
    assert ranking_metrics.novelty_at_k(RECS, 5, listeners, 8) == pytest.approx((1.8 + 2.0) / 2)


def test_all_metrics_names_every_metric(hits):
    result = ranking_metrics.all_metrics(RECS, hits, N_RELEVANT, np.ones(N_ITEMS), 8, N_ITEMS, ks=(5,))
    assert set(result) == {"precision@5", "recall@5", "ndcg@5", "map@5", "item_coverage@5",
                           "user_coverage", "novelty@5"}
