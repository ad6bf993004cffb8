import numpy as np
import pytest
import scipy.sparse as sp

from musicrec.pipeline import als
from musicrec.settings import PipelineSettings


def test_candidate_pool_takes_the_most_listened_items_up_to_the_share():
    listens = np.array([10, 0, 5, 85])
    assert als.candidate_pool(listens, 0.9).tolist() == [0, 3]
    assert als.candidate_pool(listens, 1.0).tolist() == [0, 2, 3]  # never an unplayed item


def test_candidate_pool_respects_the_size_cap():
    listens = np.array([10, 0, 5, 85])
    assert als.candidate_pool(listens, 1.0, max_items=1).tolist() == [3]


def test_confidence_weightings_keep_the_sparsity():
    counts = sp.csr_matrix(np.array([[1, 0, 3], [0, 2, 1]], dtype=np.float32))
    assert np.allclose(als.confidence(counts, "log").toarray(), np.log1p(counts.toarray()))
    assert np.allclose(als.confidence(counts, "none").toarray(), counts.toarray())
    bm25 = als.confidence(counts, "bm25")
    assert set(zip(*bm25.nonzero())) <= set(zip(*counts.nonzero()))
    assert (bm25.data >= 0).all()
    assert bm25.dtype == np.float32


def _two_taste_groups() -> sp.csr_matrix:
    """Users 0-9 listen to 3 of items 0-4, users 10-19 to 3 of items 5-9."""
    rows, cols = [], []
    for user in range(20):
        base = 0 if user < 10 else 5
        for offset in range(3):
            rows.append(user)
            cols.append(base + (user + offset) % 5)
    return sp.csr_matrix((np.full(len(rows), 5.0, dtype=np.float32), (rows, cols)), shape=(20, 10))


@pytest.fixture(scope="module")
def model_and_matrix():
    matrix = _two_taste_groups()
    params = PipelineSettings(als_factors=4, als_iterations=10, als_weighting="none",
                              als_regularization=0.01)
    return als.fit_als(matrix, params), matrix


def test_candidates_are_unheard_tracks_of_the_users_taste(model_and_matrix):
    model, matrix = model_and_matrix
    users = np.arange(20)
    result = als.recommend_candidates(model, matrix, users, np.arange(10), n=2)
    assert result["users"].tolist() == np.repeat(users, 2).tolist()
    assert result["ranks"].tolist() == [1, 2] * 20
    for user in range(20):
        picked = set(result["items"][result["users"] == user].tolist())
        own = set(range(0, 5) if user < 10 else range(5, 10))
        heard = set(matrix[user].indices.tolist())
        assert picked == own - heard


def test_similar_items_exclude_self_and_stay_in_the_group(model_and_matrix):
    model, _ = model_and_matrix
    first, second, score = als.als_similar(model, np.arange(10), np.arange(10), k=3)
    assert first.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert (first != second).all()
    assert ((first < 5) == (second < 5)).all()
    assert (np.diff(score.reshape(10, 3), axis=1) <= 1e-6).all()  # best first
