"""The compact indexes answer exactly what the tiny artifact set holds, and refuse bad files by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.catalog import TrackCatalog, TrackDetails, load_catalog
from musicrec.serving.columns import column_values
from musicrec.serving.indexes import RankedLists
from tests.artifact_factory import write_artifact_set


@pytest.fixture(params=[None, 2], ids=["one-row-group", "row-groups-of-2"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Small row groups split users across groups: the streaming loader must stitch them."""
    return write_artifact_set(tmp_path, row_group_size=request.param)


def _as_lists(pair: tuple[np.ndarray, np.ndarray]) -> tuple[list[int], list[float]]:
    return pair[0].tolist(), pair[1].tolist()


def test_recommendations_by_user(artifacts: Path) -> None:
    recs = load_recommendations(artifacts)
    assert recs.keys.tolist() == [1, 2, 5]
    assert recs.offsets.tolist() == [0, 4, 7, 9]
    assert recs.rows == 9
    items, scores = recs.lookup(1, 10)
    assert items.tolist() == [10, 11, 12, 13]
    assert scores.tolist() == np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32).tolist()
    assert recs.lookup(2, 2)[0].tolist() == [20, 10]
    assert recs.lookup(5, 1)[0].tolist() == [30]


def test_unknown_key_gives_empty_arrays(artifacts: Path) -> None:
    recs = load_recommendations(artifacts)
    for user in (0, 3, 4, 6, 10**9):
        items, scores = recs.lookup(user, 10)
        assert (items.tolist(), scores.tolist()) == ([], [])
        assert user not in recs
    assert 5 in recs


def test_similar_by_track(artifacts: Path) -> None:
    similar = load_similar(artifacts)
    assert similar.keys.tolist() == [10, 11, 20, 40]
    assert _as_lists(similar.lookup(20, 5)) == ([21, 42], [0.875, 0.625])
    assert _as_lists(similar.lookup(40, 1)) == ([41], [1.0])
    assert similar.items.dtype == np.int32 and similar.scores.dtype == np.float32


def test_lookup_many_answers_each_key_in_order_as_lists(artifacts: Path) -> None:
    similar = load_similar(artifacts)
    assert similar.lookup_many([40, 99, 20], 1) == [([41], [1.0]), ([], []), ([21], [0.875])]
    assert similar.lookup_many([], 5) == []


def test_top_popular_is_ordered_by_rank(artifacts: Path) -> None:
    assert load_top_popular(artifacts).tolist() == [30, 10, 20, 40, 41]


def test_catalog_details_in_asked_order(artifacts: Path) -> None:
    catalog = load_catalog(artifacts)
    assert len(catalog) == 8
    assert catalog.details([41, 99, 11, 21, 2**40]) == [
        TrackDetails(41, "Track 41", ["Artist E"], ["pop"]),
        TrackDetails(99, None, [], []),
        TrackDetails(11, "Track 11", ["Artist A", "Artist B"], ["pop"]),
        TrackDetails(21, "Track 21", [], ["pop"]),
        TrackDetails(2**40, None, [], []),
    ]


def test_catalog_genres_are_optional(tmp_path: Path) -> None:
    write_artifact_set(tmp_path)
    path = tmp_path / schema.ITEMS_FILE
    pq.write_table(pq.read_table(path).drop_columns([schema.GENRES]), path)
    assert load_catalog(tmp_path).details([41]) == [TrackDetails(41, "Track 41", ["Artist E"], [])]


def test_catalog_is_optional(tmp_path: Path) -> None:
    write_artifact_set(tmp_path, with_items=False)
    catalog = load_catalog(tmp_path)
    assert len(catalog) == 0
    assert catalog.details([10]) == [TrackDetails(10, None, [], [])]
    assert TrackCatalog.empty().details([]) == []


def test_missing_file_names_file_and_command(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as caught:
        load_recommendations(tmp_path)
    assert str(tmp_path / schema.RECOMMENDATIONS_FILE) in caught.value.message
    assert "missing" in caught.value.message
    assert schema.MAKE_ARTIFACTS_COMMAND in caught.value.message


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / schema.SIMILAR_FILE).write_bytes(b"not parquet at all")
    with pytest.raises(ArtifactError, match="similar.parquet: not a readable parquet file"):
        load_similar(tmp_path)


def test_missing_column_is_named(tmp_path: Path) -> None:
    pq.write_table(pa.table({schema.ITEM_ID: pa.array([1], pa.int32())}), tmp_path / schema.TOP_POPULAR_FILE)
    with pytest.raises(ArtifactError, match=r"missing column\(s\) rank"):
        load_top_popular(tmp_path)


def _lists(ranked: RankedLists) -> dict[int, list[tuple[int, float]]]:
    return {int(key): list(zip(*(part.tolist() for part in ranked.lookup(int(key), 100))))
            for key in ranked.keys}


def test_recommendations_in_any_order_are_sorted_at_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Users scattered over the file and ranks shuffled: loaded by user, then rank, with a log line."""
    table = pa.Table.from_pydict(
        {schema.USER_ID: [2, 1, 2, 1, 3, 2], schema.ITEM_ID: [22, 12, 21, 11, 31, 23],
         schema.SCORE: [0.5, 0.25, 0.75, 0.5, 1.0, 0.25], schema.RANK: [2, 2, 1, 1, 1, 3]},
        schema=schema.RECOMMENDATIONS_SCHEMA,
    )
    pq.write_table(table, tmp_path / schema.RECOMMENDATIONS_FILE, row_group_size=2)
    with caplog.at_level("WARNING"):
        ranked = load_recommendations(tmp_path)
    assert _lists(ranked) == {1: [(11, 0.5), (12, 0.25)], 2: [(21, 0.75), (22, 0.5), (23, 0.25)],
                              3: [(31, 1.0)]}
    assert ranked.keys.tolist() == [1, 2, 3]
    assert "rows are not sorted by user_id, then rank; sorting 6 rows at load" in caplog.text


def test_a_course_similar_file_grouped_but_unsorted_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The course's files promise no order: groups of tracks in any order, scores best first or not."""
    table = pa.Table.from_pydict(
        {schema.ITEM_ID_1: [40, 40, 10, 10, 10, 20], schema.ITEM_ID_2: [41, 10, 12, 11, 40, 21],
         schema.SCORE: [1.0, 0.125, 0.5, 0.9, 0.25, 0.875]},
        schema=pa.schema([(schema.ITEM_ID_1, pa.int64()), (schema.ITEM_ID_2, pa.int64()),
                          (schema.SCORE, pa.float64())]),  # as pandas writes them
    )
    pq.write_table(table, tmp_path / schema.SIMILAR_FILE)
    with caplog.at_level("WARNING"):
        ranked = load_similar(tmp_path)
    assert _lists(ranked) == {10: [(11, 0.8999999761581421), (12, 0.5), (40, 0.25)], 20: [(21, 0.875)],
                              40: [(41, 1.0), (10, 0.125)]}
    assert "rows are not sorted by item_id_1, then score (descending); sorting 6 rows" in caplog.text


def test_a_file_in_contract_order_loads_without_a_word(artifacts: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        load_recommendations(artifacts)
        load_similar(artifacts)
    assert "not sorted" not in caplog.text


def _similar_with(tmp_path: Path, column: str, values: pa.Array) -> None:
    columns = {schema.ITEM_ID_1: pa.array([1, 1], pa.int32()), schema.ITEM_ID_2: pa.array([2, 3], pa.int32()),
               schema.SCORE: pa.array([0.5, 0.25], pa.float32())}
    columns[column] = values
    pq.write_table(pa.table(columns), tmp_path / schema.SIMILAR_FILE)


@pytest.mark.parametrize(
    ("column", "values", "problem"),
    [
        (schema.ITEM_ID_2, pa.array([True, False]), "column item_id_2 holds bool, expected int32"),
        (schema.ITEM_ID_2, pa.array(["2", "3"]), "column item_id_2 holds string, expected int32"),
        (schema.ITEM_ID_2, pa.array([2.0, 3.0]), "column item_id_2 holds double, expected int32"),
        (schema.ITEM_ID_1, pa.array([4294968795, 4294968795], pa.int64()),
         "column item_id_1 holds 4294968795, outside int32 (-2147483648..2147483647): it would become 1499"),
        (schema.ITEM_ID_2, pa.array([2, 2**32], pa.uint64()), "column item_id_2 holds 4294967296, outside int32"),
        (schema.SCORE, pa.array([0.5, float("nan")]), "column score has 1 value(s) that are not finite"),
        (schema.SCORE, pa.array([0.5, 1e300]), "column score has 1 value(s) that are not finite"),
        (schema.SCORE, pa.array(["high", "low"]), "column score holds string, expected float"),
    ],
    ids=["bool-ids", "text-ids", "float-ids", "int64-beyond-int32", "uint64-beyond-int32", "nan-score",
         "score-beyond-float32", "text-score"],
)
def test_columns_that_would_change_meaning_are_refused_naming_file_and_column(
    tmp_path: Path, column: str, values: pa.Array, problem: str
) -> None:
    _similar_with(tmp_path, column, values)
    with pytest.raises(ArtifactError) as caught:
        load_similar(tmp_path)
    assert caught.value.message.startswith(f"{tmp_path / schema.SIMILAR_FILE}: {problem}")


@pytest.mark.parametrize(
    ("column", "values"),
    [(schema.ITEM_ID_2, pa.array([2, 3], pa.int64())), (schema.ITEM_ID_2, pa.array([2, 3], pa.uint32())),
     (schema.ITEM_ID_2, pa.array([2, 3], pa.int8())), (schema.SCORE, pa.array([0.5, 0.25], pa.float64())),
     (schema.SCORE, pa.array([1, 0], pa.int64()))],
    ids=["int64", "uint32", "int8", "float64-score", "integer-score"],
)
def test_columns_widened_without_loss_load(tmp_path: Path, column: str, values: pa.Array) -> None:
    _similar_with(tmp_path, column, values)
    assert load_similar(tmp_path).lookup(1, 5)[0].tolist() == [2, 3]


@pytest.mark.parametrize(("file", "table_schema", "load"), [
    (schema.SIMILAR_FILE, schema.SIMILAR_SCHEMA, load_similar),
    (schema.RECOMMENDATIONS_FILE, schema.RECOMMENDATIONS_SCHEMA, load_recommendations),
    (schema.TOP_POPULAR_FILE, schema.TOP_POPULAR_SCHEMA, load_top_popular),
], ids=["similar", "recommendations", "top_popular"])
def test_an_empty_required_artifact_is_refused(tmp_path: Path, file: str, table_schema: pa.Schema, load) -> None:
    pq.write_table(table_schema.empty_table(), tmp_path / file)
    with pytest.raises(ArtifactError, match=f"{file}: has no rows"):
        load(tmp_path)


def test_catalog_ids_are_checked_too(tmp_path: Path) -> None:
    table = pa.table({schema.ITEM_ID: pa.array(["10"]), schema.NAME: ["Ten"], schema.ARTISTS: [["A"]]})
    pq.write_table(table, tmp_path / schema.ITEMS_FILE)
    with pytest.raises(ArtifactError, match="items.parquet: column item_id holds string, expected int32"):
        load_catalog(tmp_path)


def test_null_items_are_refused(tmp_path: Path) -> None:
    table = pa.Table.from_pydict(
        {schema.ITEM_ID_1: [1, 1], schema.ITEM_ID_2: [2, None], schema.SCORE: [0.5, 0.25]},
        schema=schema.SIMILAR_SCHEMA,
    )
    pq.write_table(table, tmp_path / schema.SIMILAR_FILE)
    with pytest.raises(ArtifactError, match="item_id_2 has 1 null"):
        load_similar(tmp_path)


def test_keys_outside_int32_are_unknown_not_an_overflow(artifacts: Path) -> None:
    recs = load_recommendations(artifacts)
    for user in (-(2**31) - 1, 2**31, 2**63):
        assert recs.lookup(user, 5)[0].tolist() == []


@pytest.mark.parametrize(("spread", "direct"), [(1.5, True), (10, False)], ids=["dense", "sparse"])
def test_dense_and_sparse_keys_are_found_alike(spread: float, direct: bool) -> None:
    """Dense keys get a direct key -> row table, sparse ones a binary search: same answers."""
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, int(1000 * spread), 1000)).astype(np.int32)
    one_item_each = RankedLists(keys, np.arange(len(keys) + 1), keys * 10, np.ones(len(keys), np.float32))
    assert (one_item_each.rows_by_key is not None) == direct
    known = set(keys.tolist())
    for key in [*range(-3, int(keys[-1]) + 3), -(2**31) - 1, 2**31, 2**63]:
        expected = [key * 10] if key in known else []
        assert one_item_each.lookup(key, 5)[0].tolist() == expected, key


def test_column_values_views_numbers_exactly(tmp_path: Path):
    values = pa.array(np.arange(10, dtype=np.int32))
    np.testing.assert_array_equal(column_values(values.slice(3, 4)), [3, 4, 5, 6])  # offset honoured
    chunked = pa.chunked_array([pa.array([1.5, 2.5], pa.float32()), pa.array([3.5], pa.float32())])
    np.testing.assert_array_equal(column_values(chunked), np.array([1.5, 2.5, 3.5], dtype=np.float32))
    np.testing.assert_array_equal(column_values(pa.array([True, False])), [True, False])  # other types


def test_column_values_does_not_import_pandas(tmp_path: Path):
    """Array.to_numpy() imports pandas (0.3-0.45 s of a service's start-up); column_values must not."""
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": pa.array(range(5), pa.int32())}), path)
    probe = ("import sys, pyarrow.parquet as pq; from musicrec.serving.columns import column_values; "
             f"values = column_values(pq.ParquetFile({str(path)!r}).read_row_groups([0]).column('x')); "
             "print(values.tolist(), 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[0,", "1,", "2,", "3,", "4]", "False"]
