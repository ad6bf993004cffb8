"""Rank fusion of the candidate sources on hand-made tables, and the rule that publishes it."""

import numpy as np
import pytest

from musicrec.pipeline import scoring
from musicrec.pipeline.data import Candidates, Pairs
from musicrec.pipeline.fusion import FusionJudge, RankFusion, learn_fusion
from musicrec.pipeline.lists import MISSING_RANK, CandidateTable
from musicrec.pipeline.reports import FUSION, RANKER

M = MISSING_RANK


def test_a_track_scores_the_weighted_reciprocal_ranks_of_the_sources_that_proposed_it():
    table = CandidateTable(np.zeros(3, np.int32), np.array([1, 2, 3], np.int32), np.zeros((3, 2), np.float32),
                           np.array([[1, M], [2, 1], [M, 2]], np.float32), ("als", "ease"))
    scores = RankFusion({"als": 1.0, "ease": 2.0}, constant=1.0).scores(table)
    assert scores.tolist() == pytest.approx([1 / 2, 1 / 3 + 2 / 2, 2 / 3])
    assert RankFusion({"ease": 2.0}, constant=1.0).scores(table).tolist() == pytest.approx([0, 1, 2 / 3])


def _misled_table(n_users: int) -> tuple[CandidateTable, np.ndarray]:
    """Each user's played track is proposed by `good` alone, at rank 1; five others by both sources,
    `bad` ranking them first: the plain fusion puts the played track last."""
    users = np.repeat(np.arange(n_users, dtype=np.int32), 6)
    items = np.tile(np.arange(6, dtype=np.int32), n_users)
    one_user = np.array([[M, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]], np.float32)  # (bad, good)
    ranks = np.tile(one_user, (n_users, 1))
    table = CandidateTable(users, items, np.zeros_like(ranks), ranks, ("bad", "good"))
    return table, items == 0


def test_the_search_learns_to_follow_the_source_that_finds_the_played_tracks():
    table, labels = _misled_table(4)
    users = np.arange(4)
    relevant = Pairs(users.astype(np.int32), np.zeros(4, np.int32))
    judge = FusionJudge.of(table, labels, users, relevant)
    assert judge.ndcg(RankFusion({"bad": 1.0, "good": 1.0}, 60.0)) == pytest.approx(1 / np.log2(7))

    fusion, report = learn_fusion(table, labels, users, relevant)
    assert fusion.weights["bad"] < fusion.weights["good"]
    assert report.learning_ndcg_at_10 == pytest.approx(1.0) and judge.ndcg(fusion) == pytest.approx(1.0)
    assert report.weights == fusion.weights and report.constant == fusion.constant
    assert report.learning_users == 4 and report.evaluations > 1


def test_the_search_keeps_the_plain_fusion_when_nothing_scores_higher():
    table, labels = _misled_table(2)
    nothing_played = np.zeros_like(labels)
    fusion, report = learn_fusion(table, nothing_played, np.arange(2), Pairs(np.zeros(0, np.int32),
                                                                              np.zeros(0, np.int32)))
    assert fusion == RankFusion({"bad": 1.0, "good": 1.0}, 60.0) and report.learning_ndcg_at_10 == 0.0


def test_the_judge_scores_what_the_pipeline_measures_on_the_fused_lists():
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 60
    lists = {}
    for name in ("als", "ease", "artist"):
        keys = np.unique(rng.integers(0, n_users * n_items, 900))
        users, items = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
        lists[name] = Candidates.top_by_score(users, items, rng.random(keys.size).astype(np.float32), 15)
    table = CandidateTable.union(lists, n_items)
    # relevant tracks: some among the candidates, some not (no list finds them); user 0 plays none
    # of its candidates
    chosen = rng.random(len(table)) < 0.05
    outside = np.unique(rng.integers(0, n_users * n_items, 60))
    outside = outside[~np.isin(outside, table.keys(n_items))]
    keys = np.union1d(table.keys(n_items)[chosen & (table.users != 0)], outside)
    relevant = Pairs((keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32))
    labels = np.isin(table.keys(n_items), relevant.keys(n_items))
    everyone = np.arange(n_users)
    judge = FusionJudge.of(table, labels, everyone, relevant)
    for fusion in (RankFusion({"als": 1.0, "ease": 1.0, "artist": 1.0}, 60.0),
                   RankFusion({"als": 0.25, "ease": 4.0, "artist": 0.0}, 1.0)):
        fused = Candidates.top_by_score(table.users, table.items, fusion.scores(table), scoring.K)
        assert judge.ndcg(fusion) == pytest.approx(scoring.ndcg(fused, everyone, relevant, n_items))


def _alternating(mean: float, spread: float, n: int = 200) -> np.ndarray:
    """Per-user scores around `mean`; a negative `spread` alternates the other way round. The paired
    difference to a constant has a standard error of |spread| / sqrt(n) (0.0035 for 0.05 over 200
    users), between two arrays of opposite spreads twice that."""
    return mean + spread * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


@pytest.mark.parametrize(("fusion", "ranker", "published", "ranker_against"), [
    (_alternating(0.1, 0.01), _alternating(0.1, 0.05), FUSION, FUSION),  # ranker: no better than fusion
    (_alternating(0.1, 0.01), _alternating(0.2, 0.01), RANKER, FUSION),
    (_alternating(0.0, 0.05), _alternating(0.0, 0.01), "ease", "ease"),  # both within noise of the source
    (_alternating(0.0, 0.05), _alternating(0.2, 0.01), RANKER, "ease"),
])
def test_a_dearer_model_is_published_only_when_clearly_better_than_the_one_chosen_before_it(
        fusion, ranker, published, ranker_against):
    sources = {"als": np.full(200, -0.1), "ease": np.zeros(200)}  # ease clearly ahead of als
    choice = scoring.choose(sources, fusion, ranker)
    assert choice.best_source == "ease" and choice.published == published
    assert list(choice.compared) == ["als", FUSION, RANKER]  # the runner-up, then cheapest first
    assert choice.compared[FUSION]["against"] == "ease"
    assert choice.compared[RANKER]["against"] == ranker_against


@pytest.mark.parametrize(("fusion_mean", "published"), [
    (0.0, FUSION),  # level with the best source: the close sources are fused
    (0.004, FUSION),  # above it, though within noise
    (-0.004, "ease"),  # below the best source: never published on noise
])
def test_when_the_best_sources_are_within_noise_a_fusion_not_below_the_best_is_published(
        fusion_mean, published):
    sources = {"als": _alternating(-0.001, -0.05), "ease": _alternating(0.0, 0.05)}  # within noise
    choice = scoring.choose(sources, _alternating(fusion_mean, -0.05), ranker=None)
    assert choice.published == published
    runner_up = choice.compared["als"]
    assert runner_up["against"] == "ease" and -runner_up["difference"] <= runner_up["standard_error"]
    fusion = choice.compared[FUSION]
    assert fusion["difference"] <= fusion["standard_error"]  # never clearly better: taken by the rule alone
    assert fusion["taken"] == (published == FUSION)


def test_a_fusion_within_noise_of_a_clearly_best_source_is_not_published():
    sources = {"als": np.full(200, -0.1), "ease": np.zeros(200)}
    choice = scoring.choose(sources, _alternating(0.002, -0.05))
    assert choice.published == "ease" and not choice.compared[FUSION]["taken"]


def test_without_a_fusion_or_a_ranker_the_best_source_is_published():
    assert scoring.choose({"ease": np.zeros(3)}) == scoring.Choice("ease", "ease", {})
    choice = scoring.choose({"als": np.ones(3), "ease": np.zeros(3)})
    assert (choice.published, choice.best_source, list(choice.compared)) == ("als", "als", ["ease"])
