import numpy as np
import scipy.sparse as sp

from musicrec.pipeline.evaluate import dense_recs, random_recs, relevant_test_pairs, unheard_first
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.workspace import Pairs, TrainData


def _train(matrix: np.ndarray) -> TrainData:
    n_users, n_items = matrix.shape
    return TrainData(IdIndex(np.arange(n_users)), IdIndex(np.arange(n_items)),
                     sp.csr_matrix(matrix.astype(np.float32)), np.zeros(n_items, np.int32),
                     np.zeros(n_items, np.int32), np.zeros(n_users, np.int32),
                     sp.csr_matrix(matrix.shape, dtype=np.float32))


def test_dense_recs_aligns_rows_with_evaluated_users():
    recs = dense_recs(np.array([2, 5]), users=np.array([1, 2, 2, 5, 5]), items=np.array([9, 7, 8, 6, 4]),
                      ranks=np.array([1, 2, 1, 1, 3]), k=2)
    assert recs.tolist() == [[8, 7], [6, -1]]  # user 1 not evaluated; user 5's rank 3 beyond k


def test_unheard_first_skips_what_each_user_heard():
    data = _train(np.array([[1, 0, 0, 0], [0, 0, 2, 1]]))
    recs = unheard_first(np.array([0, 1]), np.array([2, 0, 1, 3]), data, k=2)
    assert recs.tolist() == [[2, 1], [0, 1]]


def test_relevant_test_pairs_drop_relistens():
    data = _train(np.array([[1, 0, 0], [0, 0, 2]]))
    relevant = relevant_test_pairs(Pairs(np.array([0, 0, 1]), np.array([0, 1, 2])), data)
    assert list(zip(relevant.users.tolist(), relevant.items.tolist())) == [(0, 1)]


def test_random_recs_draw_from_the_given_items():
    recs = random_recs(50, np.array([3, 5, 7]), 2, np.random.default_rng(0))
    assert recs.shape == (50, 2) and set(np.unique(recs).tolist()) == {3, 5, 7}
