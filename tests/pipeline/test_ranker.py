import numpy as np

from musicrec.pipeline.ranker import top_by_score, training_rows, user_runs


def test_user_runs():
    starts, sizes = user_runs(np.array([3, 3, 5, 8, 8, 8]))
    assert starts.tolist() == [0, 2, 3]
    assert sizes.tolist() == [2, 1, 3]


def test_training_rows_keep_positives_and_cap_negatives():
    users = np.repeat([0, 1, 2], 5)
    labels = np.zeros(15, dtype=bool)
    labels[[1, 3, 7]] = True  # user 0 has two positives, user 1 one, user 2 none
    rows = training_rows(users, labels, n_users=3, sample_size=10, negatives_per_user=2,
                         rng=np.random.default_rng(0))
    assert set(rows[labels[rows]].tolist()) == {1, 3, 7}
    assert (users[rows] != 2).all()  # nothing to learn from a user without positives
    negatives = rows[~labels[rows]]
    assert np.bincount(users[negatives], minlength=3).tolist() == [2, 2, 0]
    assert rows.tolist() == sorted(rows.tolist())


def test_training_rows_sample_users():
    users = np.repeat(np.arange(10), 3)
    labels = np.tile([True, False, False], 10)
    rows = training_rows(users, labels, 10, sample_size=4, negatives_per_user=5,
                         rng=np.random.default_rng(1))
    assert np.unique(users[rows]).size == 4
    assert rows.size == 4 * 3


def test_top_by_score_ranks_within_each_user():
    users = np.array([1, 1, 1, 2, 2])
    items = np.array([10, 11, 12, 10, 13])
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.3])
    u, i, s, r = top_by_score(users, items, scores, k=2)
    assert u.tolist() == [1, 1, 2, 2]
    assert i.tolist() == [11, 12, 10, 13]  # equal scores: lower item id first
    assert r.tolist() == [1, 2, 1, 2]
