"""Reading raw files: the course variants are accepted, wrong schemas name the file and the column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.datasets.raw import read_catalog_names, read_interactions, read_tracks
from musicrec.errors import RawDataError

DAY = dt.date(2022, 3, 1)


def _interactions(**overrides: pa.Array) -> pa.Table:
    columns = {
        schema.USER_ID: pa.array([1, 2], pa.int32()),
        schema.TRACK_ID: pa.array([10, 20], pa.int32()),
        schema.TRACK_SEQ: pa.array([1, 1], pa.int16()),
        schema.STARTED_AT: pa.array([DAY, DAY], pa.date32()),
    }
    columns.update(overrides)
    return pa.table(columns)


def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    pq.write_table(table, tmp_path / name)
    return tmp_path


def test_course_variants_are_cast_to_the_canonical_schema(tmp_path: Path) -> None:
    variant = _interactions(
        **{
            schema.TRACK_ID: pa.array([10, 20], pa.int64()),
            schema.TRACK_SEQ: pa.array([1, 1], pa.int32()),
            schema.STARTED_AT: pa.array([dt.datetime(2022, 3, 1, 23, 59)] * 2, pa.timestamp("ms")),
        }
    )

    table = read_interactions(_write(tmp_path, schema.INTERACTIONS_FILE, variant))

    assert table.schema.equals(schema.INTERACTIONS_SCHEMA)
    assert table.column(schema.STARTED_AT).to_pylist() == [DAY, DAY]
    assert table.column(schema.TRACK_ID).to_pylist() == [10, 20]


def test_large_lists_and_dictionary_strings_are_accepted(tmp_path: Path) -> None:
    tracks = pa.table(
        {
            schema.TRACK_ID: pa.array([10], pa.int32()),
            schema.ALBUMS: pa.array([[1]], pa.large_list(pa.int32())),
            schema.ARTISTS: pa.array([[2, 3]], pa.list_(pa.int64())),
            schema.GENRES: pa.array([[]], pa.list_(pa.int16())),
        }
    )
    names = pa.table(
        {
            schema.ID: pa.array([1], pa.int32()),
            schema.TYPE: pa.array(["album"]).dictionary_encode(),
            schema.NAME: pa.array(["An Album"], pa.large_string()),
        }
    )
    _write(tmp_path, schema.TRACKS_FILE, tracks)
    _write(tmp_path, schema.CATALOG_NAMES_FILE, names)

    assert read_tracks(tmp_path).to_pylist() == [
        {schema.TRACK_ID: 10, schema.ALBUMS: [1], schema.ARTISTS: [2, 3], schema.GENRES: []}
    ]
    assert read_catalog_names(tmp_path).schema.equals(schema.CATALOG_NAMES_SCHEMA)


def test_a_subset_of_columns_can_be_read(tmp_path: Path) -> None:
    table = read_interactions(_write(tmp_path, schema.INTERACTIONS_FILE, _interactions()), [schema.USER_ID])

    assert table.column_names == [schema.USER_ID]


def test_missing_file_names_the_file_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(RawDataError, match=rf"{schema.TRACKS_FILE}: raw file not found.*musicrec data"):
        read_tracks(tmp_path)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / schema.TRACKS_FILE).write_text("not parquet")

    with pytest.raises(RawDataError, match=rf"{schema.TRACKS_FILE}: not a readable parquet file"):
        read_tracks(tmp_path)


def test_missing_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    _write(tmp_path, schema.INTERACTIONS_FILE, _interactions().drop([schema.STARTED_AT]))

    expected = rf"{schema.INTERACTIONS_FILE}: missing column '{schema.STARTED_AT}'"
    with pytest.raises(RawDataError, match=expected):
        read_interactions(tmp_path)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        (schema.USER_ID, pa.array(["a", "b"])),
        (schema.STARTED_AT, pa.array(["2022-03-01", "2022-03-01"])),
        (schema.TRACK_SEQ, pa.array([1.5, 2.0])),
    ],
)
def test_wrong_type_names_the_file_and_the_column(tmp_path: Path, column: str, values: pa.Array) -> None:
    _write(tmp_path, schema.INTERACTIONS_FILE, _interactions(**{column: values}))

    with pytest.raises(RawDataError, match=rf"{schema.INTERACTIONS_FILE}: column '{column}' has type"):
        read_interactions(tmp_path)


def test_ids_out_of_range_name_the_file_and_the_column(tmp_path: Path) -> None:
    too_big = _interactions(**{schema.TRACK_ID: pa.array([10, 3_000_000_000])})
    _write(tmp_path, schema.INTERACTIONS_FILE, too_big)

    expected = rf"{schema.INTERACTIONS_FILE}: column '{schema.TRACK_ID}' cannot be read"
    with pytest.raises(RawDataError, match=expected):
        read_interactions(tmp_path)
