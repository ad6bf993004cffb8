"""The whole pipeline on generated small data: every artifact in its contract, and the quality order.

One run (module fixture, ~1-2 minutes) serves all the checks below.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.artifacts import verify_artifact_set
from musicrec.pipeline.reranking import RANKER_LOSSES
from musicrec.pipeline.workspace import PUBLISHED_FILES
from tests.pipeline.conftest import PARAMS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts(pipeline_run: Path) -> Path:
    return pipeline_run / "artifacts"


def _read(artifacts: Path, name: str):
    return pq.read_table(artifacts / name)


def test_the_set_is_complete_and_verified(artifacts):
    manifest = verify_artifact_set(artifacts)
    assert manifest is not None
    serving = {name for name in manifest["files"] if name.startswith(f"{schema.SERVING_INDEX_FOLDER}/")}
    assert f"{schema.SERVING_INDEX_FOLDER}/recommendations/items.npy" in serving  # written with the set
    assert set(manifest["files"]) - serving == set(PUBLISHED_FILES)
    assert "evaluation/recommendations.parquet" in manifest["files"]
    chosen = manifest["parameters"]["chosen"]
    assert set(chosen["sources"]) == set(PARAMS.sources)
    assert chosen["published"] in {"ranker", "fusion", *PARAMS.sources}
    if chosen["fusion"] is not None:  # thin data (too few positives) learns no fusion
        assert set(chosen["fusion"]["weights"]) == set(PARAMS.sources)


def test_top_popular_contract(artifacts):
    table = _read(artifacts, schema.TOP_POPULAR_FILE)
    assert table.schema.equals(schema.TOP_POPULAR_SCHEMA)
    assert table.num_rows == PARAMS.top_popular
    assert table.column(schema.RANK).to_pylist() == list(range(1, PARAMS.top_popular + 1))
    assert (np.diff(table.column(schema.LISTENS).to_numpy()) <= 0).all()


def test_recommendations_contract(artifacts):
    table = _read(artifacts, schema.RECOMMENDATIONS_FILE)
    course_columns = table.select(schema.RECOMMENDATIONS_SCHEMA.names)
    assert course_columns.schema.equals(schema.RECOMMENDATIONS_SCHEMA)
    # the one column added to the course schema: which candidate source proposed the track
    assert set(table.column(schema.SOURCE).to_pylist()) <= set(PARAMS.sources)
    users = table.column(schema.USER_ID).to_numpy()
    ranks = table.column(schema.RANK).to_numpy()
    assert (np.diff(users) >= 0).all()
    new_user = np.r_[True, users[1:] != users[:-1]]
    assert (ranks[new_user] == 1).all()
    assert (ranks[~new_user] == ranks[np.flatnonzero(~new_user) - 1] + 1).all()
    assert ranks.max() <= PARAMS.recommendations_per_user
    scores = table.column(schema.SCORE).to_numpy()
    assert (np.diff(scores)[~new_user[1:]] <= 0).all()


def test_lists_are_as_long_as_configured(artifacts):
    # not a contract (a source may have fewer tracks to propose on thin data), but true at this size
    ranks = _read(artifacts, schema.RECOMMENDATIONS_FILE).column(schema.RANK).to_numpy()
    assert ranks.max() == PARAMS.recommendations_per_user


def test_recommendations_exclude_tracks_the_user_already_heard(artifacts):
    events = _read(artifacts, schema.EVENTS_FILE).to_pandas()
    recs = _read(artifacts, schema.RECOMMENDATIONS_FILE).to_pandas()
    heard = recs.merge(events[[schema.USER_ID, schema.ITEM_ID]].drop_duplicates())
    assert heard.empty


def test_similar_contract(artifacts):
    table = _read(artifacts, schema.SIMILAR_FILE)
    assert table.schema.equals(schema.SIMILAR_SCHEMA)
    first = table.column(schema.ITEM_ID_1).to_numpy()
    second = table.column(schema.ITEM_ID_2).to_numpy()
    score = table.column(schema.SCORE).to_numpy()
    assert (first != second).all()
    assert (np.diff(first) >= 0).all()
    same = first[1:] == first[:-1]
    assert (np.diff(score)[same] <= 0).all()
    per_item = np.bincount(np.unique(first, return_inverse=True)[1])
    assert per_item.max() <= PARAMS.similar_per_item


def test_similar_tracks_cover_every_catalog_track(artifacts):
    first = _read(artifacts, schema.SIMILAR_FILE).column(schema.ITEM_ID_1).to_numpy()
    items = _read(artifacts, schema.ITEMS_FILE).column(schema.ITEM_ID).to_numpy()
    with_neighbours = np.isin(items, first).mean()
    assert with_neighbours > 0.99  # only tracks with no artist, album or genre may lack them


def test_evaluation_lists_never_saw_the_test_period_and_the_published_ones_know_it(pipeline_run):
    events = _read(pipeline_run / "artifacts", schema.EVENTS_FILE).to_pandas()
    test_start = json.loads((pipeline_run / "artifacts" / schema.METRICS_FILE).read_text())["split"]["test_start"]
    test_listens = events[events[schema.STARTED_AT] >= np.datetime64(test_start)]
    evaluation = _read(pipeline_run / "artifacts" / "evaluation", schema.RECOMMENDATIONS_FILE).to_pandas()
    published = _read(pipeline_run / "artifacts", schema.RECOMMENDATIONS_FILE).to_pandas()
    pairs = test_listens[[schema.USER_ID, schema.ITEM_ID]].drop_duplicates()
    # Test-period listens are fair game for the evaluation lists, and filtered from the served ones.
    assert not evaluation.merge(pairs).empty
    assert published.merge(pairs).empty
    assert evaluation.columns.tolist() == published.columns.tolist()


def test_metrics_report_every_source_the_choice_and_the_validation_tables(artifacts):
    report = json.loads((artifacts / schema.METRICS_FILE).read_text())
    assert set(report["models"]) == {"random", "ranker", "fusion", "published", *PARAMS.sources}
    assert report["models"]["published"] == report["models"][report["published"]]
    assert set(report["models_vs_best_source"]) == {"ranker", "fusion"}
    ranker = report["validation"]["ranker"]
    assert set(ranker["validation_ndcg@10"]) >= {*PARAMS.sources, "fusion"}
    assert set(ranker["fusion"]["weights"]) == set(PARAMS.sources) and ranker["fusion"]["constant"] > 0
    best_source = max(PARAMS.sources, key=ranker["validation_ndcg@10"].get)
    assert report["published"] in ("ranker", "fusion", best_source) and ranker["best_source"] == best_source
    # every user of the ranker's sample was judged out of fold: the folds hold them all
    assert ranker["folds"] == PARAMS.ranker_folds == len(ranker["out_of_fold"])
    assert sum(fold["users"] for fold in ranker["out_of_fold"]) == ranker["judged_users"]
    assert sum(fold["positives"] for fold in ranker["out_of_fold"]) == ranker["positives"]
    assert ranker["judged_pairs"] >= ranker["positives"]
    assert ranker["judged_users"] >= ranker["learning_users"]
    assert set(ranker["catboost_seconds"]) == {*RANKER_LOSSES, "final"}
    # the choice replays from the comparisons on those users: cheapest first; the fusion taken when
    # clearly better than the best source, or not below it while the two best sources are within
    # noise; the ranker only when clearly better than the model chosen before it
    runner_up = max(set(PARAMS.sources) - {best_source}, key=ranker["validation_ndcg@10"].get)
    close = -ranker["compared"][runner_up]["difference"] <= ranker["compared"][runner_up]["standard_error"]
    chosen = best_source
    for name in ("fusion", "ranker"):
        compared = ranker["compared"][name]
        assert compared["against"] == chosen
        clearly = compared["difference"] > compared["standard_error"]
        fused = name == "fusion" and close and compared["difference"] >= 0
        assert compared["taken"] == (clearly or fused)
        if compared["taken"]:
            chosen = name
    assert report["published"] == chosen
    for name, entry in report["validation"]["tuning"]["sources"].items():
        assert entry["trials"], name


def test_metrics_say_which_similar_tracks_are_served_and_why(artifacts):
    """Each candidate's next-listen HitRate@10 on the target window and the test period, and the
    choice replayed from its paired comparisons: cheapest first, each taken only when clearly better."""
    report = json.loads((artifacts / schema.METRICS_FILE).read_text())["similar"]
    assert set(report["validation"]) == set(report["test"]) == {"als", "sequential", "merged"}
    assert report["validation_pairs"] > 0 and report["search_pairs"] > 0 and report["test_pairs"] > 0
    assert len(report["searched"]) == 10 and set(report["merge_weights"]) == {"0.25", "0.5", "0.75", "0.9"}
    chosen = "als"
    for name in ("sequential", "merged"):
        compared = report["compared"][name]
        assert compared["against"] == chosen
        if compared["difference"] > compared["standard_error"]:
            chosen = name
    assert report["chosen"] == chosen
    manifest = json.loads((artifacts / schema.MANIFEST_FILE).read_text())
    assert manifest["parameters"]["chosen"]["similar"]["chosen"] == chosen
