"""The prepare stage on hand-made messy raw files (exact output and drop counts) and on tiny data
of every shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.errors import RawDataError
from musicrec.pipeline.prepare import prepare
from musicrec.pipeline.workspace import Workspace

D1, D2, D3 = dt.date(2022, 1, 1), dt.date(2022, 1, 2), dt.date(2022, 1, 3)

TRACKS = {
    schema.TRACK_ID: [10, 20, 30, 30, None, 40],
    schema.ALBUMS: [[100], [], [101], [101], [100], [102]],
    schema.ARTISTS: [[200], [201, 202], [200], [200], [200], [203]],
    schema.GENRES: [[1], [2], [], [], [1], [1, 3]],
}
NAMES = [
    (100, "album", "A1"), (101, "album", "A2"), (102, "album", "A3"),
    (200, "artist", "Ar0"), (201, "artist", "Ar1"), (202, "artist", "Ar2"),
    (1, "genre", "pop"), (2, "genre", "rock"),
    (10, "track", "T10"), (20, "track", "T20"), (40, "track", "T40"), (10, "track", "T10 again"),
    (1, "track", "a track id equal to a genre id"),
]
# (user_id, track_id, track_seq, started_at)
LISTENS = [
    (1, 10, 1, D1), (1, 20, 2, D1), (1, 20, 2, D1), (1, 99, 3, D2), (1, 30, 4, D2),
    (0, 40, 2, D3), (0, 10, 1, D3),
    (None, 10, 1, D1), (2, None, 1, D1),
    (2, 20, 1, D1), (2, 10, 1, D1),
]
EXPECTED_ITEMS = [
    {"item_id": 10, "name": "T10", "artists": ["Ar0"], "albums": ["A1"], "genres": ["pop"]},
    {"item_id": 20, "name": "T20", "artists": ["Ar1", "Ar2"], "albums": [], "genres": ["rock"]},
    {"item_id": 30, "name": None, "artists": ["Ar0"], "albums": ["A2"], "genres": []},
    {"item_id": 40, "name": "T40", "artists": [], "albums": ["A3"], "genres": ["pop"]},
]
EXPECTED_EVENTS = [
    (0, 10, D3, 1), (0, 40, D3, 2),
    (1, 10, D1, 1), (1, 20, D1, 2), (1, 30, D2, 4),
    (2, 10, D1, 1), (2, 20, D1, 1),
]


def _interactions(track_type: pa.DataType, seq_type: pa.DataType, date_type: pa.DataType) -> pa.Table:
    users, tracks, seqs, days = zip(*LISTENS)
    return pa.table(
        {
            schema.USER_ID: pa.array(users, pa.int32()),
            schema.TRACK_ID: pa.array(tracks, track_type),
            schema.TRACK_SEQ: pa.array(seqs, seq_type),
            schema.STARTED_AT: pa.array(days, pa.date32()).cast(date_type),
        }
    )


def _write_raw(
    raw_dir: Path,
    track_type: pa.DataType = pa.int32(),
    seq_type: pa.DataType = pa.int16(),
    date_type: pa.DataType = pa.date32(),
) -> Path:
    raw_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(TRACKS, schema=schema.TRACKS_SCHEMA), raw_dir / schema.TRACKS_FILE)
    ids, types, names = zip(*NAMES)
    names_table = pa.table(
        {schema.ID: ids, schema.TYPE: types, schema.NAME: names}, schema=schema.CATALOG_NAMES_SCHEMA
    )
    pq.write_table(names_table, raw_dir / schema.CATALOG_NAMES_FILE)
    pq.write_table(_interactions(track_type, seq_type, date_type), raw_dir / schema.INTERACTIONS_FILE)
    return raw_dir


def _events(out_dir: Path) -> list[tuple]:
    rows = pq.read_table(out_dir / schema.EVENTS_FILE).to_pylist()
    return [(r[schema.USER_ID], r[schema.ITEM_ID], r[schema.STARTED_AT], r[schema.TRACK_SEQ]) for r in rows]



def _outputs(folder: Path) -> tuple[Path, Path]:
    """Where prepare writes items and events, as the pipeline's Workspace gives them."""
    work = Workspace(folder)
    return work.items_output(), work.events_output()

def test_messy_files_give_exact_items_events_and_drop_counts(tmp_path: Path) -> None:
    report = prepare(_write_raw(tmp_path / "raw"), *_outputs(tmp_path / "out"))

    items = pq.read_table(tmp_path / "out" / schema.ITEMS_FILE)
    assert items.schema.equals(schema.ITEMS_SCHEMA)
    assert items.to_pylist() == EXPECTED_ITEMS
    events = pq.read_table(tmp_path / "out" / schema.EVENTS_FILE)
    assert events.schema.equals(schema.EVENTS_SCHEMA)
    assert _events(tmp_path / "out") == EXPECTED_EVENTS
    assert (report.tracks_read, report.tracks_with_null_id, report.duplicate_tracks) == (6, 1, 1)
    assert (report.items_written, report.items_without_name) == (4, 1)
    assert (report.listens_read, report.listens_with_null_values) == (11, 2)
    assert (report.duplicate_listens, report.listens_of_unknown_tracks) == (1, 1)
    assert (report.events_written, report.users) == (7, 3)
    assert "exact duplicate rows: 1" in report.summary()


@pytest.mark.parametrize(
    ("track_type", "seq_type", "date_type"),
    [(pa.int64(), pa.int32(), pa.timestamp("us")), (pa.int32(), pa.int16(), pa.timestamp("ns", tz="UTC"))],
)
def test_course_file_variants_give_the_same_events(
    tmp_path: Path, track_type: pa.DataType, seq_type: pa.DataType, date_type: pa.DataType
) -> None:
    prepare(_write_raw(tmp_path / "raw", track_type, seq_type, date_type), *_outputs(tmp_path / "out"))

    assert _events(tmp_path / "out") == EXPECTED_EVENTS


def test_wrong_schema_names_the_file_and_the_column(tmp_path: Path) -> None:
    raw_dir = _write_raw(tmp_path / "raw")
    without_seq = _interactions(pa.int32(), pa.int16(), pa.date32()).drop([schema.TRACK_SEQ])
    pq.write_table(without_seq, raw_dir / schema.INTERACTIONS_FILE)

    expected = rf"{schema.INTERACTIONS_FILE}: missing column '{schema.TRACK_SEQ}'"
    with pytest.raises(RawDataError, match=expected):
        prepare(raw_dir, *_outputs(tmp_path / "out"))


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_tiny_data_is_prepared_completely(
    shape: str, generated_raw: Callable[..., Path], tmp_path: Path
) -> None:
    raw_dir = generated_raw(shape)
    report = prepare(raw_dir, *_outputs(tmp_path))

    items = pq.read_table(tmp_path / schema.ITEMS_FILE)
    events = pq.read_table(tmp_path / schema.EVENTS_FILE)
    assert items.num_rows == pq.read_metadata(raw_dir / schema.TRACKS_FILE).num_rows
    dropped = report.listens_with_null_values + report.duplicate_listens + report.listens_of_unknown_tracks
    assert report.listens_read - dropped == events.num_rows == report.events_written
    assert report.duplicate_listens > 0 and report.listens_of_unknown_tracks > 0
    users = events.column(schema.USER_ID).to_numpy()
    seqs = events.column(schema.TRACK_SEQ).to_numpy()
    assert np.all((users[1:] > users[:-1]) | ((users[1:] == users[:-1]) & (seqs[1:] > seqs[:-1])))
    assert np.isin(events.column(schema.ITEM_ID).to_numpy(), items.column(schema.ITEM_ID).to_numpy()).all()
