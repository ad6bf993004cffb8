"""The cost model of the run: exponents from two measurements, projections, and the run plan."""

import pytest

from musicrec.pipeline import budget
from musicrec.pipeline.reports import SourceCost, SourceTuning
from musicrec.settings import PipelineSettings


def test_the_exponent_comes_from_two_measurements():
    assert budget.measured_exponent((1_000, 1.0), (2_000, 2.0)) == pytest.approx(1.0)
    assert budget.measured_exponent((1_000, 1.0), (2_000, 4.0)) == pytest.approx(2.0)
    assert budget.measured_exponent((1_000, 1.0), (1_000, 4.0)) == 1.0  # one size cannot tell
    assert budget.measured_exponent((1_000, 1.0), (2_000, 1.0)) == budget.MIN_EXPONENT  # overhead only


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
