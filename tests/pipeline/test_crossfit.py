"""Cross-fitting: folds partition the users, and no user is scored by a model that learnt from them."""

from typing import Any

import numpy as np
import pytest

from musicrec.datasets.packed import is_member
from musicrec.pipeline import ranker
from musicrec.pipeline.crossfit import Folds, out_of_fold
from musicrec.pipeline.data import Pairs
from musicrec.pipeline.lists import CandidateTable
from musicrec.pipeline.ranker import RankerSample
from musicrec.settings import PipelineSettings

N_ITEMS = 12  # candidates per user, more than the 10 judged: a track ranked last is not found


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_partition_the_users_and_share_out_those_with_a_played_candidate(k):
    users = np.arange(0, 200, 2)
    played = users[::3]
    folds = Folds.deal(users, played, k, np.random.default_rng(1))
    judged = [folds.judged(fold) for fold in range(k)]
    assert sorted(np.concatenate(judged).tolist()) == users.tolist()  # every user in exactly one fold
    for fold in range(k):
        assert not np.intersect1d(judged[fold], folds.learners(fold)).size
        assert np.union1d(judged[fold], folds.learners(fold)).tolist() == users.tolist()
    sizes = [part.size for part in judged]
    with_played = [int(is_member(part, played).sum()) for part in judged]
    assert max(sizes) - min(sizes) <= 1 and max(with_played) - min(with_played) <= 1


def _sample() -> RankerSample:
    """40 users, each with candidates 0..11 and one played track, the last one (11): a model that
    has not learnt a user's played track ranks it last, out of the top 10 (ties go to the lower id).
    The learning rows are every row; their one feature is the row's (user, track) key."""
    users = np.arange(40)
    ranks = np.tile(np.arange(1, N_ITEMS + 1), users.size)[:, None].astype(np.float32)
    table = CandidateTable(np.repeat(users, N_ITEMS).astype(np.int32),
                           np.tile(np.arange(N_ITEMS), users.size).astype(np.int32),
                           np.zeros_like(ranks), ranks, ("als",))
    labels = table.items == N_ITEMS - 1
    relevant = Pairs(users.astype(np.int32), np.full(users.size, N_ITEMS - 1, np.int32))
    features = table.keys(N_ITEMS).astype(np.float32)[:, None]
    return RankerSample(users, relevant, table, labels, table, labels, features)


class _Memorizer:
    """A ranker that knows exactly the played (user, track) keys it learnt from, and nothing else."""

    def __init__(self, features: np.ndarray, labels: np.ndarray) -> None:
        self.known = features[labels, 0]

    def predict(self, features: np.ndarray, prediction_type: str) -> np.ndarray:
        return np.isin(features[:, 0], self.known).astype(np.float64)


class _KeyFeatures:
    """Builds the one feature of `_sample`: the row's (user, track) key."""

    def build(self, table: CandidateTable) -> np.ndarray:
        return table.keys(N_ITEMS).astype(np.float32)[:, None]


@pytest.fixture
def memorizing(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """CatBoost replaced by `_Memorizer` in the ranker stage; yields the groups (users) of each fit."""
    seen: list[np.ndarray] = []

    def fit(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, loss: str,
            params: Any) -> _Memorizer:
        seen.append(np.unique(groups))
        return _Memorizer(features, labels)

    monkeypatch.setattr(ranker, "fit_ranker", fit)
    return seen


def test_every_user_is_scored_by_a_ranker_that_never_saw_them(memorizing):
    sample = _sample()
    folds = Folds.deal(sample.users, sample.users, 4, np.random.default_rng(0))
    learner = sample.ranker_learner("Logloss", _KeyFeatures(), PipelineSettings())  # type: ignore[arg-type]
    per_user, runs = out_of_fold(folds, sample.table, learner, sample.relevant, N_ITEMS)
    # had a user's rows been in the learning set of the model that scored them, it would find
    # their played track first (NDCG 1): out of fold, it never does
    assert per_user.shape == sample.users.shape and per_user.tolist() == [0.0] * sample.users.size
    assert [run.users for run in runs] == [folds.judged(fold).size for fold in range(4)]
    for fold, learnt_from in enumerate(memorizing):
        assert learnt_from.tolist() == folds.learners(fold).tolist()
    # the control: the same memorizer scored on users it learnt from finds every played track
    in_sample = learner(sample.users)
    assert in_sample(sample.table)[sample.labels].tolist() == [1.0] * sample.users.size


def test_out_of_fold_scores_every_user_of_every_fold():
    sample = _sample()
    folds = Folds.deal(sample.users, sample.users[::2], 3, np.random.default_rng(2))

    def oracle(learners: np.ndarray) -> Any:  # knows every played track: NDCG 1 wherever it scores
        return lambda held: (held.items == N_ITEMS - 1).astype(np.float64)

    per_user, runs = out_of_fold(folds, sample.table, oracle, sample.relevant, N_ITEMS)
    assert per_user.tolist() == pytest.approx([1.0] * sample.users.size)
    assert sum(run.users for run in runs) == sample.users.size


def test_the_fusion_of_each_fold_is_learnt_on_the_other_folds_only(monkeypatch: pytest.MonkeyPatch):
    sample = _sample()
    folds = Folds.deal(sample.users, sample.users, 3, np.random.default_rng(3))
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    learn_fusion = ranker.learn_fusion

    def spy(table: CandidateTable, labels: np.ndarray, users: np.ndarray, relevant: Pairs) -> Any:
        seen.append((np.unique(table.users), users))
        return learn_fusion(table, labels, users, relevant)

    monkeypatch.setattr(ranker, "learn_fusion", spy)
    out_of_fold(folds, sample.table, sample.fusion_learner(), sample.relevant, N_ITEMS)
    for fold, (rows_of, users) in enumerate(seen):
        assert rows_of.tolist() == users.tolist() == folds.learners(fold).tolist()


def test_a_fold_left_empty_by_fewer_users_than_folds_is_skipped():
    sample = _sample()
    two = sample.users[:2]
    folds = Folds.deal(two, two, 3, np.random.default_rng(0))
    called: list[np.ndarray] = []

    def learner(learners: np.ndarray) -> Any:
        called.append(learners)
        return lambda held: np.zeros(len(held))

    per_user, runs = out_of_fold(folds, sample.table, learner, sample.relevant, N_ITEMS)
    assert per_user.shape == (2,) and sorted(run.users for run in runs) == [0, 1, 1] and len(called) == 2
