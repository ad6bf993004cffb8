"""The pipeline's first stage: raw course files -> `items.parquet` and `events.parquet`.

Keeps everything usable and drops only what cannot be used, counting each drop with its reason:
a track with no genre or album is still a track (the course notebook dropped those, which on some
real data drops every track). Names are attached with columnar lookups (flatten the id lists, look
each id up in a hashed name index, rebuild the lists), never a Python loop or a pandas explode, so
the full 222M listens fit comfortably in memory.

Missing names: a track without a name gets a null `name`; an artist, album or genre without a name
is left out of that track's list (so lists hold only readable names and may be empty).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from musicrec import schema
from musicrec.datasets.raw import read_catalog_names, read_interactions, read_tracks
from musicrec.errors import RawDataError

log = logging.getLogger(__name__)

ROW_GROUP_SIZE = 1_000_000


@dataclass
class PrepareReport:
    """Counts of what was read, dropped (and why) and written."""

    tracks_read: int = 0
    tracks_with_null_id: int = 0
    duplicate_tracks: int = 0
    items_written: int = 0
    items_without_name: int = 0
    listens_read: int = 0
    listens_with_null_values: int = 0
    duplicate_listens: int = 0
    listens_of_unknown_tracks: int = 0
    events_written: int = 0
    users: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """A short text for the log and the pipeline report: one line per count."""
        reasons = {
            "tracks_with_null_id": "tracks dropped: null track_id",
            "duplicate_tracks": "tracks dropped: track_id repeated in tracks.parquet (first kept)",
            "listens_with_null_values": "listens dropped: null user_id, track_id, track_seq or started_at",
            "duplicate_listens": "listens dropped: exact duplicate rows",
            "listens_of_unknown_tracks": "listens dropped: track_id not in tracks.parquet",
        }
        lines = [f"prepare: {self.seconds:.1f} s"]
        for field in fields(self):
            if field.name == "seconds":
                continue
            label = reasons.get(field.name, field.name.replace("_", " "))
            lines.append(f"  {label}: {getattr(self, field.name):,}")
        return "\n".join(lines)


def _first_occurrence(values: np.ndarray) -> np.ndarray:
    """Mask keeping the first row of every distinct value."""
    _, first = np.unique(values, return_index=True)
    keep = np.zeros(values.size, dtype=bool)
    keep[first] = True
    return keep


def _name_index(names: pa.Table, kind: str) -> tuple[pa.Array, pa.Array]:
    """(ids, names) of one catalogue type, one name per id (the first one)."""
    of_kind = pc.and_(pc.equal(names.column(schema.TYPE), kind), pc.is_valid(names.column(schema.ID)))
    rows = names.filter(of_kind)
    ids = rows.column(schema.ID).combine_chunks()
    keep = _first_occurrence(ids.to_numpy(zero_copy_only=False))
    return ids.filter(pa.array(keep)), rows.column(schema.NAME).combine_chunks().filter(pa.array(keep))


def _names_of(ids: pa.Array, index: tuple[pa.Array, pa.Array]) -> pa.Array:
    """The name of each id (null when it has none)."""
    index_ids, index_names = index
    return index_names.take(pc.index_in(ids, value_set=index_ids))


def _name_lists(id_lists: pa.ListArray, index: tuple[pa.Array, pa.Array]) -> pa.ListArray:
    """Replace every id in every list by its name; ids without a name are left out."""
    id_lists = id_lists.combine_chunks() if isinstance(id_lists, pa.ChunkedArray) else id_lists
    parents = pc.list_parent_indices(id_lists).to_numpy()
    names = _names_of(pc.list_flatten(id_lists), index)
    named = pc.is_valid(names).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[named], minlength=len(id_lists))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, names.filter(pa.array(named)).cast(pa.string()))


def _clean_tracks(tracks: pa.Table, report: PrepareReport) -> pa.Table:
    report.tracks_read = tracks.num_rows
    valid = tracks.filter(pc.is_valid(tracks.column(schema.TRACK_ID)))
    report.tracks_with_null_id = tracks.num_rows - valid.num_rows
    keep = _first_occurrence(valid.column(schema.TRACK_ID).to_numpy())
    report.duplicate_tracks = int((~keep).sum())
    return valid.filter(pa.array(keep)).combine_chunks()


def build_items(tracks: pa.Table, names: pa.Table, report: PrepareReport) -> pa.Table:
    """`items.parquet`: every usable track with its name and the names of its artists, albums, genres."""
    tracks = _clean_tracks(tracks, report)
    track_ids = tracks.column(schema.TRACK_ID).combine_chunks()
    try:
        item_ids = track_ids.cast(pa.int32())
    except pa.ArrowInvalid as exc:
        message = f"{schema.TRACKS_FILE}: column {schema.TRACK_ID!r} does not fit in int32: {exc}"
        raise RawDataError(message) from None
    track_names = _names_of(track_ids, _name_index(names, "track")).cast(pa.string())
    report.items_without_name = track_names.null_count
    items = pa.table(
        {
            schema.ITEM_ID: item_ids,
            schema.NAME: track_names,
            schema.ARTISTS: _name_lists(tracks.column(schema.ARTISTS), _name_index(names, "artist")),
            schema.ALBUMS: _name_lists(tracks.column(schema.ALBUMS), _name_index(names, "album")),
            schema.GENRES: _name_lists(tracks.column(schema.GENRES), _name_index(names, "genre")),
        },
        schema=schema.ITEMS_SCHEMA,
    )
    order = pc.sort_indices(items, sort_keys=[(schema.ITEM_ID, "ascending")])
    report.items_written = items.num_rows
    return items.take(order)


_EVENT_COLUMNS = (schema.USER_ID, schema.TRACK_ID, schema.TRACK_SEQ, schema.STARTED_AT)


def _usable_rows(interactions: pa.Table, item_ids: pa.Array, report: PrepareReport) -> np.ndarray | None:
    """Mask of listens with no null value and a known track; None when every listen is usable."""
    usable = np.ones(interactions.num_rows, dtype=bool)
    for name in _EVENT_COLUMNS:
        if interactions.column(name).null_count:
            usable &= pc.is_valid(interactions.column(name)).to_numpy(zero_copy_only=False)
    report.listens_with_null_values = int(interactions.num_rows - usable.sum())
    known = pc.is_in(interactions.column(schema.TRACK_ID), value_set=item_ids).to_numpy(zero_copy_only=False)
    report.listens_of_unknown_tracks = int((usable & ~known).sum())
    usable &= known
    return None if usable.all() else usable


def _to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A column as one numpy array (dates as days since 1970); nulls, already masked out, become 0."""
    column = column.fill_null(0)
    if pa.types.is_date32(column.type):
        column = column.cast(pa.int32())
    return column.to_numpy()


def _reorder(arrays: dict[str, np.ndarray], rows: np.ndarray | None) -> None:
    """Keep (a boolean mask) or reorder (positions) every array in place of the dict, one at a time."""
    if rows is None:
        return
    for name in list(arrays):
        arrays[name] = arrays[name][rows]


def _sort_order(arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """Row order by user, track_seq, then track and day so exact duplicates touch; None if sorted.

    Course files usually come sorted by user and track_seq, so the check is all it costs; a full
    sort is needed only otherwise, and the tie-breaking sort only for the rare equal keys.
    """
    key = arrays[schema.USER_ID].astype(np.int64)  # user << 16 | track_seq, built in place
    key <<= 16
    key |= arrays[schema.TRACK_SEQ].astype(np.uint16)
    order = None if bool(np.all(key[1:] >= key[:-1])) else np.argsort(key, kind="stable")
    if order is not None:
        key = key[order]
    same = key[1:] == key[:-1]
    if not same.any():
        return order
    order = np.arange(key.size) if order is None else order
    tied = np.flatnonzero(np.concatenate([[False], same]) | np.concatenate([same, [False]]))
    rows = order[tied]
    within = np.lexsort((arrays[schema.STARTED_AT][rows], arrays[schema.TRACK_ID][rows], key[tied]))
    order[tied] = rows[within]
    return order


def _duplicates(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Rows equal in every column to the row before (the arrays are sorted so duplicates touch)."""
    duplicate = np.ones(arrays[schema.USER_ID].size, dtype=bool)
    duplicate[0] = False
    for values in arrays.values():
        duplicate[1:] &= values[1:] == values[:-1]
    return duplicate


def build_events(interactions: pa.Table, item_ids: pa.Array, report: PrepareReport) -> pa.Table:
    """`events.parquet`: usable listens sorted by user and track_seq.

    Memory matters at 222M listens: columns are converted and dropped one by one, and masks and
    reorderings are applied only when there is something to drop or sort.
    """
    report.listens_read = interactions.num_rows
    usable = _usable_rows(interactions, item_ids, report)
    arrays = {}
    for name in _EVENT_COLUMNS:  # convert and free one column at a time
        arrays[name] = _to_numpy(interactions.column(name))
        interactions = interactions.drop_columns([name])
    pa.default_memory_pool().release_unused()  # hand the arrow buffers back before sorting
    _reorder(arrays, usable)
    del usable
    _reorder(arrays, _sort_order(arrays))
    duplicate = _duplicates(arrays)
    report.duplicate_listens = int(duplicate.sum())
    _reorder(arrays, ~duplicate if report.duplicate_listens else None)
    del duplicate
    user = arrays[schema.USER_ID]
    report.events_written = int(user.size)
    report.users = int(np.count_nonzero(user[1:] != user[:-1])) + 1 if user.size else 0
    return pa.table(
        {
            schema.USER_ID: pa.array(user),
            schema.ITEM_ID: pa.array(arrays[schema.TRACK_ID]),
            schema.STARTED_AT: pa.array(arrays[schema.STARTED_AT]).view(pa.date32()),
            schema.TRACK_SEQ: pa.array(arrays[schema.TRACK_SEQ]),
        },
        schema=schema.EVENTS_SCHEMA,
    )


def prepare(raw_dir: Path, items_path: Path, events_path: Path) -> PrepareReport:
    """Read the raw course files in `raw_dir`; write the named tracks to `items_path` and the clean
    listens to `events_path` (the pipeline passes its work folder's paths)."""
    started = time.perf_counter()
    report = PrepareReport()
    with tqdm(total=4, desc="prepare", unit="step") as progress:
        items = build_items(read_tracks(raw_dir), read_catalog_names(raw_dir), report)
        progress.update()
        pq.write_table(items, items_path)
        item_ids = items.column(schema.ITEM_ID).combine_chunks()
        del items
        progress.update()
        events = build_events(read_interactions(raw_dir), item_ids, report)
        progress.update()
        pq.write_table(events, events_path, row_group_size=ROW_GROUP_SIZE)
        progress.update()
    report.seconds = time.perf_counter() - started
    log.info("%s", report.summary())
    return report
