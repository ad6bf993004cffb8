"""The cost model of the run: exponents from two measurements, projections, and the run plan."""

import pytest

from musicrec.pipeline import budget
from musicrec.pipeline.reports import SourceCost, SourceTuning
from musicrec.pipeline.sources import SOURCES
from musicrec.settings import PipelineSettings


def test_the_exponent_comes_from_two_measurements():
    assert budget.measured_exponent((1_000, 1.0), (2_000, 2.0)) == pytest.approx(1.0)
    assert budget.measured_exponent((1_000, 1.0), (2_000, 4.0)) == pytest.approx(2.0)
    assert budget.measured_exponent((1_000, 1.0), (1_000, 4.0)) == 1.0  # one size cannot tell
    assert budget.measured_exponent((1_000, 1.0), (2_000, 1.0)) == budget.MIN_EXPONENT  # overhead only


def test_a_source_that_reads_every_listen_is_never_projected_to_grow_slower_than_them():
    overhead_only = ((1_000, 7.5), (2_000, 7.9))  # a fit whose fixed costs hide its growth
    assert budget.measured_exponent(*overhead_only, floor=SOURCES["als"].min_cost_exponent) == 1.0
    assert budget.measured_exponent(*overhead_only, floor=SOURCES["ease"].min_cost_exponent) == budget.MIN_EXPONENT
    assert budget.measured_exponent((1_000, 1.0), (2_000, 3.0), floor=1.0) == pytest.approx(1.585, abs=1e-3)


def test_a_fit_is_projected_to_each_cutoff_and_brought_forward_at_its_share():
    listens = {"fit": 10_000, "eval": 20_000, "serve": 40_000}
    seconds = budget.fit_seconds_per_cutoff(2.0, 0.25, 10_000, listens, exponent=1.0)
    assert seconds == pytest.approx({"fit": 2.0, "eval": 1.0, "serve": 2.0})


def _tuning(fit: dict[str, float], per_user: float) -> SourceTuning:
    cost = SourceCost(exponent=1.0, sample_listens=1, half_sample=(1, 1.0), full_sample=(2, 2.0),
                      listens={"fit": 1, "eval": 1, "serve": 1}, list_seconds_per_user=per_user,
                      fit_seconds=fit)
    return SourceTuning(values={}, pinned={}, cost=cost)


def test_the_plan_adds_fits_lists_and_learning_and_says_whether_the_run_fits():
    speed = budget.RankerSpeed({"Logloss": 0.0, "YetiRank": 0.0}, 0.0)
    users = budget.ListedUsers(ranker=100, evaluate=1_000, refit=10_000, candidates_per_user=10,
                               similar_queries=2_000)
    sources = {"als": _tuning({"fit": 600.0, "eval": 60.0, "serve": 60.0}, 0.01)}
    plan = budget.plan_run(PipelineSettings(budget_minutes=30), sources, users, speed, spent_seconds=60)
    assert [stage.seconds for stage in plan.stages] == [601.0, 90.0, 180.0]  # similar: 2,000 x 0.01 s
    assert plan.projected_seconds == pytest.approx(60 + 601 + 90 + 180)
    assert plan.fits
    assert not budget.plan_run(PipelineSettings(budget_minutes=10), sources, users, speed, 60).fits


def test_the_ranker_learns_once_per_fold_and_loss_then_once_on_every_row():
    speed = budget.RankerSpeed({"Logloss": 1e-6, "YetiRank": 4e-6}, 0.0)
    rows = 100 * budget.LEARNING_ROWS_PER_USER * 10  # 100 users, 10 iterations
    for folds in (2, 3, 5):
        settings = PipelineSettings(ranker_folds=folds, ranker_iterations=10)
        # each fold learns on (K-1)/K of the rows with both losses; the published fit at the slowest
        expected = ((folds - 1) * (1e-6 + 4e-6) + 4e-6) * rows
        assert budget.ranker_learn_seconds(settings, speed, 100) == pytest.approx(expected)
    pinned = PipelineSettings(ranker_folds=3, ranker_iterations=10, ranker_loss="Logloss")
    assert budget.ranker_learn_seconds(pinned, speed, 100) == pytest.approx(3 * 1e-6 * rows)
