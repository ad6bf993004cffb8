"""The whole pipeline on listening data with coarse or uneven time: the tiny generated data with its
dates truncated to the month, with a gap before its last weeks, with one day of data, and with
every listen at the same time. Each run publishes a set that passes the contract checks of the
full run (test_runner.py), or stops with a message naming the settings.
"""

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.pipeline.content import NONE, read_item_content
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.runner import STAGES, run_pipeline
from musicrec.settings import PipelineSettings
from tests.pipeline.conftest import PARAMS

# The contract checks of the full run; collected here too, they check each set of `artifacts` below.
# (Not the checks that every list is full and every track has similar tracks: one day of data has
# too few listens for that, see the one-day tests.)
from tests.pipeline.test_runner import (  # noqa: F401 (imported tests are collected here)
    test_recommendations_contract,
    test_recommendations_exclude_tracks_the_user_already_heard,
    test_similar_contract,
    test_the_set_is_complete_and_verified,
    test_top_popular_contract,
)

pytestmark = pytest.mark.slow

LAST_DAYS, GAP_DAYS = 14, 28  # the gap case: no listens in the 28 days before the last 14
SHORT = PARAMS.model_copy(update={"tune_minutes": 0.25})  # where only the contract is checked


def _days(table: pa.Table) -> np.ndarray:
    return table.column(schema.STARTED_AT).cast(pa.int32()).to_numpy()


def _with_dates(table: pa.Table, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(schema.STARTED_AT), schema.STARTED_AT, values)


def month_dated(table: pa.Table) -> pa.Table:
    """Every listen dated the first day of its month."""
    months = _days(table).astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]")
    return _with_dates(table, pa.array(months.astype(np.int32)).cast(pa.date32()))


def gap_before_the_last_weeks(table: pa.Table) -> pa.Table:
    """No listens in the GAP_DAYS before the last LAST_DAYS days."""
    days = _days(table)
    last = days.max()
    return table.filter(pa.array((days > last - LAST_DAYS) | (days <= last - LAST_DAYS - GAP_DAYS)))


def one_day(table: pa.Table) -> pa.Table:
    """The listens of the last day only."""
    days = _days(table)
    return table.filter(pa.array(days == days.max()))


def same_time(table: pa.Table) -> pa.Table:
    """Every listen at one instant (a timestamp column, as some exports write it)."""
    return _with_dates(table, pa.array(np.full(table.num_rows, np.datetime64("2022-12-31T18:30:00", "us"))))


# case -> (how the tiny data is changed, the settings it runs with)
CASES: dict[str, tuple[Callable[[pa.Table], pa.Table], PipelineSettings]] = {
    "month": (month_dated, PARAMS),  # the defaults (but for time), as the "done when" asks
    "gap": (gap_before_the_last_weeks, SHORT),
    "one_day": (one_day, SHORT.model_copy(update={"min_window_listens": 10, "min_window_users": 5})),
    "same_time": (same_time, SHORT),
}


@pytest.fixture(scope="module")
def coarse_raw(generated_raw, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`coarse_raw(case)`: a raw folder of the tiny course data with its listens changed for the case."""
    made: dict[str, Path] = {}

    def raw(case: str) -> Path:
        if case not in made:
            source, folder = generated_raw("course"), tmp_path_factory.mktemp(f"raw-{case}")
            for name in (schema.TRACKS_FILE, schema.CATALOG_NAMES_FILE):
                (folder / name).symlink_to(source / name)
            listens = pq.read_table(source / schema.INTERACTIONS_FILE)
            pq.write_table(CASES[case][0](listens), folder / schema.INTERACTIONS_FILE)
            made[case] = folder
        return made[case]

    return raw


@pytest.fixture(scope="module")
def runs(coarse_raw, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`runs(case)`: the root of a whole pipeline run on the case (work/ and artifacts/), run once."""
    made: dict[str, Path] = {}

    def run(case: str) -> Path:
        if case not in made:
            root = tmp_path_factory.mktemp(f"coarse-{case}")
            timings = run_pipeline(coarse_raw(case), root / "artifacts", root / "work", CASES[case][1])
            assert [timing["stage"] for timing in timings] == list(STAGES)
            made[case] = root
        return made[case]

    return run


@pytest.fixture(scope="module", params=list(CASES))
def artifacts(request: pytest.FixtureRequest, runs) -> Path:
    return runs(request.param) / "artifacts"


def _metrics(root: Path) -> dict[str, Any]:
    return json.loads((root / "artifacts" / schema.METRICS_FILE).read_text())


def _last_day(raw: Path) -> date:
    return date(1970, 1, 1) + timedelta(days=int(_days(pq.read_table(raw / schema.INTERACTIONS_FILE)).max()))


def test_month_dated_data_with_the_defaults_beats_top_popular_on_its_test_period(runs, coarse_raw):
    report = _metrics(runs("month"))
    split = report["split"]
    last = _last_day(coarse_raw("month"))  # the first of the last month
    assert split["method"] == "days" and "widened" in split["reason"]
    # the 14 days before the test period hold nothing: the target window is the month before
    assert split["target_start"] == (last - timedelta(days=1)).replace(day=1).isoformat()
    assert split["target_pairs"] > 0 and split["test_pairs"] > 0
    tuning = report["validation"]["tuning"]
    assert tuning["skipped"] is None
    assert all(entry["validation_ndcg@10"] > 0 for entry in tuning["sources"].values())
    models = report["models"]
    assert models["published"]["ndcg@10"] > models["popular"]["ndcg@10"], {
        name: values["ndcg@10"] for name, values in models.items()}


def test_a_gap_before_the_last_weeks_widens_the_target_window_back_across_it(runs, coarse_raw):
    split = _metrics(runs("gap"))["split"]
    last = _last_day(coarse_raw("gap"))
    assert split["method"] == "days" and "widened" in split["reason"]
    assert split["test_start"] == (last - timedelta(days=LAST_DAYS - 1)).isoformat()
    assert date.fromisoformat(split["target_start"]) <= last - timedelta(days=LAST_DAYS + GAP_DAYS)
    assert split["target_users"] >= PARAMS.min_window_users and split["target_listens"] >= PARAMS.min_window_listens


@pytest.mark.parametrize("case", ["one_day", "same_time"])
def test_data_without_a_usable_time_split_holds_out_each_users_last_listens(runs, case):
    split = _metrics(runs(case))["split"]
    assert split["method"] == "per_user" and "no time split holds enough" in split["reason"]
    assert split["test_start"] is None and split["test_users"] > 0 and split["target_users"] > 0


def test_one_day_of_data_publishes_the_best_source_without_a_ranker_and_says_why(runs):
    report = _metrics(runs("one_day"))
    ranker = report["validation"]["ranker"]
    assert ranker["loss"] is None and "too few to learn" in ranker["skipped"]
    assert report["published"] == ranker["best_source"] and "ranker" not in report["models"]
    assert ranker["fusion"] is None and "fusion" not in report["models"]


def test_one_day_of_data_with_the_default_minimums_stops_naming_them(coarse_raw, tmp_path):
    with pytest.raises(ArtifactError, match=r"events.parquet \(started_at\).*\[pipeline\] min_window_listens"):
        run_pipeline(coarse_raw("one_day"), tmp_path / "artifacts", tmp_path / "work", PARAMS,
                     stages=("prepare", "split"))
    assert not (tmp_path / "artifacts").exists()


def test_one_day_of_data_gives_similar_tracks_to_every_track_that_shares_content_with_a_played_one(
        runs, coarse_raw):
    artifacts = runs("one_day") / "artifacts"
    items = pq.read_table(artifacts / schema.ITEMS_FILE).column(schema.ITEM_ID).to_numpy()
    listened = pq.read_table(artifacts / schema.EVENTS_FILE).column(schema.ITEM_ID).to_numpy()
    with_neighbours = np.isin(items, pq.read_table(artifacts / schema.SIMILAR_FILE).column(schema.ITEM_ID_1))
    content = read_item_content(coarse_raw("one_day") / schema.TRACKS_FILE, IdIndex.from_ids(items))
    played = np.isin(items, listened)
    assert with_neighbours[played].all()
    for keys in (content.artist, content.album, content.genre):
        shared = np.isin(keys, keys[played]) & (keys != NONE)
        assert with_neighbours[shared].all()
