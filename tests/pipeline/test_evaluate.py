import numpy as np

from musicrec.pipeline.data import Candidates, Pairs
from musicrec.pipeline.evaluate import random_recs
from musicrec.pipeline.scoring import as_matrix, judged_users, ndcg
from tests.pipeline.histories import history_of


def test_as_matrix_aligns_rows_with_judged_users():
    lists = Candidates(np.array([1, 2, 2, 5, 5]), np.array([9, 7, 8, 6, 4]), np.ones(5, np.float32),
                       np.array([1, 2, 1, 1, 3]))
    recs = as_matrix(lists, np.array([2, 5]), k=2)
    assert recs.tolist() == [[8, 7], [6, -1]]  # user 1 not judged; user 5's rank 3 beyond k


def test_unheard_pairs_drop_relistens():
    history = history_of(np.array([[1, 0, 0], [0, 0, 2]]))
    relevant = Pairs(np.array([0, 0, 1]), np.array([0, 1, 2])).unheard_in(history)
    assert list(zip(relevant.users.tolist(), relevant.items.tolist())) == [(0, 1)]


def test_judged_users_are_known_and_have_a_relevant_track():
    history = history_of(np.array([[1, 0], [0, 0], [0, 1]]))
    assert judged_users(history, Pairs(np.array([0, 1, 1]), np.array([1, 0, 1]))).tolist() == [0]


def test_ndcg_of_a_perfect_and_a_useless_list():
    relevant = Pairs(np.array([0, 1]), np.array([3, 4]))
    perfect = Candidates(np.array([0, 1]), np.array([3, 4]), np.ones(2, np.float32), np.array([1, 1]))
    second = Candidates(np.array([0, 0]), np.array([2, 3]), np.ones(2, np.float32), np.array([1, 2]))
    assert ndcg(perfect, np.array([0, 1]), relevant, 5) == 1.0
    assert ndcg(second, np.array([0]), relevant, 5) == 1 / np.log2(3)


def test_random_recs_draw_from_the_given_items():
    recs = random_recs(50, np.array([3, 5, 7]), 2, np.random.default_rng(0))
    assert recs.shape == (50, 2) and set(np.unique(recs).tolist()) == {3, 5, 7}
