import numpy as np
import pytest

from musicrec.pipeline.data import Candidates, user_runs
from musicrec.pipeline.lists import MISSING_RANK, CandidateTable
from musicrec.pipeline.reranking import learning_rows


def test_user_runs():
    starts, sizes = user_runs(np.array([3, 3, 5, 8, 8, 8]))
    assert starts.tolist() == [0, 2, 3]
    assert sizes.tolist() == [2, 1, 3]


def _table(users: np.ndarray) -> CandidateTable:
    rows = users.size
    return CandidateTable(users, np.arange(rows), np.zeros((rows, 1), np.float32),
                          np.ones((rows, 1), np.float32), ("als",))


def test_learning_rows_keep_positives_and_cap_negatives():
    table = _table(np.repeat([0, 1, 2], 5))
    labels = np.zeros(15, dtype=bool)
    labels[[1, 3, 7]] = True  # user 0 has two positives, user 1 one, user 2 none
    rows = learning_rows(table, labels, negatives_per_user=2, rng=np.random.default_rng(0))
    assert set(rows[labels[rows]].tolist()) == {1, 3, 7}
    assert (table.users[rows] != 2).all()  # nothing to learn from a user without positives
    negatives = rows[~labels[rows]]
    assert np.bincount(table.users[negatives], minlength=3).tolist() == [2, 2, 0]
    assert rows.tolist() == sorted(rows.tolist())


def test_top_by_score_ranks_within_each_user():
    lists = Candidates.top_by_score(np.array([1, 1, 1, 2, 2]), np.array([10, 11, 12, 10, 13]),
                                    np.array([0.1, 0.9, 0.5, 0.3, 0.3]), k=2)
    assert lists.users.tolist() == [1, 1, 2, 2]
    assert lists.items.tolist() == [11, 12, 10, 13]  # equal scores: lower item id first
    assert lists.ranks.tolist() == [1, 2, 1, 2]


@pytest.mark.parametrize("sorted_rows", [True, False])
def test_top_by_score_orders_as_a_lexsort_of_user_score_and_item(sorted_rows):
    rng = np.random.default_rng(4)
    keys = np.unique(rng.integers(0, 40 * 50, 1_500))
    users, items = (keys // 50).astype(np.int32), (keys % 50).astype(np.int32)
    if not sorted_rows:
        shuffled = rng.permutation(users.size)
        users, items = users[shuffled], items[shuffled]
    scores = rng.choice(np.array([-np.inf, -2.5, -0.0, 0.0, 0.25, 1.0, 7.0], np.float32), users.size)
    scores[::7] = rng.normal(size=scores[::7].size).astype(np.float32)

    order = np.lexsort((items, -scores, users))
    lists = Candidates.top_by_score(users, items, scores, k=users.size)
    assert lists.users.tolist() == users[order].tolist() and lists.items.tolist() == items[order].tolist()


def test_candidate_table_joins_sources_and_gives_back_each_list():
    als = Candidates(np.array([0, 0, 1]), np.array([5, 6, 5]), np.array([0.9, 0.8, 0.7], np.float32),
                     np.array([1, 2, 1], np.int32))
    ease = Candidates(np.array([0, 1]), np.array([7, 5]), np.array([3.0, 2.0], np.float32),
                      np.array([1, 1], np.int32))
    table = CandidateTable.union({"als": als, "ease": ease}, n_items=10)
    assert list(zip(table.users.tolist(), table.items.tolist())) == [(0, 5), (0, 6), (0, 7), (1, 5)]
    assert table.ranks.tolist() == [[1, MISSING_RANK], [2, MISSING_RANK], [MISSING_RANK, 1], [1, 1]]
    assert np.isnan(table.scores[0, 1]) and table.scores[3].tolist() == pytest.approx([0.7, 2.0])
    again = table.source_list("als", 10)
    assert again.items.tolist() == als.items.tolist() and again.ranks.tolist() == als.ranks.tolist()
    assert table.source_list("ease", 1).items.tolist() == [7, 5]


def test_lists_name_the_source_that_ranked_each_track_best():
    als = Candidates(np.array([0, 0]), np.array([5, 6]), np.array([0.9, 0.8], np.float32), np.array([1, 2], np.int32))
    ease = Candidates(np.array([0, 0]), np.array([6, 5]), np.array([3.0, 2.0], np.float32), np.array([1, 3], np.int32))
    table = CandidateTable.union({"als": als, "ease": ease}, n_items=10)
    named = table.with_proposers(Candidates.top_by_score(table.users, table.items, np.array([1.0, 2.0]), 2), 10)
    assert named.items.tolist() == [6, 5]
    assert named.proposers is not None
    assert [table.source_names[code] for code in named.proposers] == ["ease", "als"]
