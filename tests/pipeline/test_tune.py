import dataclasses
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.pipeline import scoring, tune
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Pairs
from musicrec.pipeline.reports import RunPlan, SourceTuning, StagePlan, Trial
from musicrec.pipeline.sources import SOURCES, SourceContext
from musicrec.pipeline.tune import (
    Search,
    Validation,
    best_move,
    choose,
    first_choice,
    keep_budget,
    search,
    trial_budget,
    within_noise,
)
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import ItemKnnSettings, PipelineSettings
from tests.pipeline.histories import content_of, history_of, two_taste_groups


def _validation(settings: PipelineSettings) -> Validation:
    """Every user will play the one track of their half they have not heard yet."""
    matrix = two_taste_groups(users=20, items=10, heard=4)
    users, items = np.nonzero(matrix == 0)
    own_half = (users < 10) == (items < 5)
    target = Pairs(users[own_half].astype(np.int32), items[own_half].astype(np.int32))
    return Validation(history_of(matrix), target, settings.tune_users, settings.seed, content_of(10))


def test_trial_budget_covers_small_choice_spaces_exactly():
    assert trial_budget(SOURCES["popular"], SOURCES["popular"].space()) == 2
    assert trial_budget(SOURCES["ease"], {}) == 1
    assert trial_budget(SOURCES["als"], SOURCES["als"].space()) > 10


def test_search_starts_from_the_defaults_and_times_every_fit():
    settings = PipelineSettings(tune_users=100)
    context = SourceContext(settings, content_of(10))
    found = search(SOURCES["itemknn"], context, _validation(settings), seconds=5)
    trials = found.tuning.trials
    assert trials[0].params == {"neighbours": 100, "weighting": "cosine"}
    completed = [trial for trial in trials if trial.state == "COMPLETE"]
    assert completed and all(trial.fit_seconds is not None and trial.fit_seconds >= 0 for trial in completed)
    assert set(found.per_user) == {trial.number for trial in completed}


def test_the_choice_is_never_below_the_best_by_more_than_the_noise():
    settings = PipelineSettings(tune_users=100)
    found = search(SOURCES["itemknn"], SourceContext(settings, content_of(10)), _validation(settings), seconds=5)
    best = max(trial.ndcg_at_10 or 0.0 for trial in found.tuning.trials)
    chosen = first_choice(found, budget_seconds=3600)
    versus = scoring.paired_difference(found.per_user[chosen.number], found.per_user[
        next(trial.number for trial in found.tuning.trials if trial.ndcg_at_10 == best)])
    assert versus["difference"] >= -versus["standard_error"]


def _priced(scores: dict[int, list[float]], seconds: dict[int, float]) -> Search:
    """A finished search of hand-made per-user scores and projected fit times."""
    trials = [Trial(number=n, state="COMPLETE", params={"neighbours": 10 + n}, ndcg_at_10=float(np.mean(values)),
                    fit_seconds=seconds[n], projected_fit_seconds=seconds[n]) for n, values in scores.items()]
    found = Search(SOURCES["itemknn"], SourceTuning(values={}, pinned={}, trials=trials))
    found.per_user = {n: np.array(values) for n, values in scores.items()}
    found.forward_share = dict.fromkeys(scores, 1.0)
    return found


def test_among_settings_within_the_noise_of_the_best_the_cheapest_wins():
    found = _priced({0: [0.5, 0.6, 0.4, 0.5], 1: [0.5, 0.6, 0.4, 0.49], 2: [0.1, 0.2, 0.1, 0.1]},
                    {0: 100.0, 1: 10.0, 2: 1.0})
    assert [trial.number for trial in within_noise(found, budget_seconds=1000)] == [1, 0]
    assert first_choice(found, budget_seconds=1000).number == 1


def test_a_setting_whose_fits_exceed_the_budget_is_not_chosen():
    found = _priced({0: [0.5, 0.6, 0.4, 0.5], 1: [0.1, 0.2, 0.1, 0.1]}, {0: 100.0, 1: 1.0})
    assert first_choice(found, budget_seconds=1000).number == 0
    assert first_choice(found, budget_seconds=50).number == 1


def test_pinned_values_are_reported_and_kept():
    settings = PipelineSettings(tune_users=100, itemknn=ItemKnnSettings(weighting="bm25"))
    validation = _validation(settings)
    found = search(SOURCES["itemknn"], SourceContext(settings, content_of(10)), validation, seconds=3)
    choose(found, first_choice(found, 3600), settings, validation, {"fit": 10, "eval": 10, "serve": 10})
    assert found.tuning.pinned == {"weighting": "bm25"}
    assert found.tuning.values["weighting"] == "bm25"
    assert all("weighting" not in trial.params for trial in found.tuning.trials)


def test_validation_on_a_user_sample_keeps_only_their_rows():
    matrix = two_taste_groups(users=200, items=10, heard=4)
    users, items = np.nonzero(matrix == 0)
    validation = Validation(history_of(matrix), Pairs(users.astype(np.int32), items.astype(np.int32)),
                            sample_size=100, seed=0, content=content_of(10))
    assert validation.history.active_users.size == 100
    assert np.isin(validation.users, validation.history.active_users).all()
    assert np.isin(validation.relevant.users, validation.history.active_users).all()
    assert validation.history.matrix.shape == (100, 10)  # a history of its own: no empty rows to fit
    sampled = validation.history.users.ids
    assert validation.history.matrix.sum() == history_of(matrix).matrix[sampled].sum()


@pytest.mark.parametrize("name", ["ease", "popular"])
def test_search_runs_for_every_kind_of_space(name):
    settings = PipelineSettings(tune_users=100)
    validation = _validation(settings)
    found = search(SOURCES[name], SourceContext(settings, content_of(10)), validation, seconds=3)
    choose(found, first_choice(found, 3600), settings, validation, {"fit": 10, "eval": 10, "serve": 10})
    assert found.tuning.trials and set(found.tuning.values) == {
        f.name for f in dataclasses.fields(SOURCES[name].Params)}


def test_a_run_over_budget_falls_back_to_cheaper_settings_and_says_so():
    settings = PipelineSettings(tune_users=100, budget_minutes=1)
    validation = _validation(settings)
    found = _priced({0: [0.5, 0.6, 0.4, 0.5], 1: [0.45, 0.55, 0.35, 0.45], 2: [0.1, 0.2, 0.1, 0.1]},
                    {0: 100.0, 1: 50.0, 2: 1.0})
    chosen = {"itemknn": found.tuning.trials[0]}

    def plan_for() -> RunPlan:
        seconds = chosen["itemknn"].projected_fit_seconds or 0.0
        return RunPlan(budget_minutes=1, spent_seconds=0, fits=seconds <= 60,
                       stages=[StagePlan(stage="ranker", seconds=seconds, parts={"fit itemknn": seconds})])

    plan = keep_budget({"itemknn": found}, chosen, plan_for, settings, validation, {})
    assert chosen["itemknn"].number == 1  # the best of the cheaper settings, not the cheapest
    assert plan.fits and len(plan.fallbacks) == 1 and "itemknn" in plan.fallbacks[0]
    assert [trial.number for trial in found.tuning.refused_for_cost] == [0]


def test_a_fallback_gives_up_little_quality_for_much_time_not_the_other_way():
    dear = _priced({0: [0.5, 0.6, 0.4, 0.5], 1: [0.48, 0.58, 0.38, 0.48]}, {0: 1000.0, 1: 400.0})
    cheap = _priced({0: [0.5, 0.6, 0.4, 0.5], 1: [0.1, 0.1, 0.1, 0.1]}, {0: 30.0, 1: 25.0})
    chosen = {"als": dear.tuning.trials[0], "itemknn": cheap.tuning.trials[0]}
    move = best_move({"als": dear, "itemknn": cheap}, chosen, least_saving=10.0)
    assert move is not None and move[0] == "als" and move[1].number == 1
    assert best_move({"itemknn": cheap}, {"itemknn": chosen["itemknn"]}, least_saving=10.0) is None


def _tracks_file(folder: Path, n_items: int) -> Path:
    """A raw tracks.parquet for items 0..n-1, each half by its own artist, album and genre."""
    folder.mkdir(parents=True, exist_ok=True)
    half = [[1 + item * 2 // n_items] for item in range(n_items)]
    pq.write_table(pa.table({schema.TRACK_ID: list(range(n_items)), schema.ALBUMS: half, schema.ARTISTS: half,
                             schema.GENRES: half}, schema=schema.TRACKS_SCHEMA), folder / schema.TRACKS_FILE)
    return folder


def test_a_target_window_with_too_few_users_to_judge_is_not_searched(tmp_path, caplog):
    work = Workspace(tmp_path / "work")
    work.save_history("fit", history_of(two_taste_groups(users=20, items=10, heard=4)))
    # only three users play a track in the target window, each the one of their half not yet heard
    work.save_pairs("target", Pairs(np.array([0, 1, 2], np.int32), np.array([4, 0, 1], np.int32)))
    settings = PipelineSettings(tune_users=100, min_window_users=10)
    with caplog.at_level(logging.WARNING, logger=tune.__name__):
        values = tune.run(StageContext(_tracks_file(tmp_path / "raw", 10), work, settings, tmp_path / "sets"))
    report = work.load_tuning()
    assert not report.tuned and report.judged_users == 3
    assert report.skipped is not None and "min_window_users = 10" in report.skipped
    assert "tune: not searched" in caplog.text
    assert values["itemknn"] == {"neighbours": 100, "weighting": "cosine"}  # the defaults
    assert all(not entry.trials for entry in report.sources.values())
