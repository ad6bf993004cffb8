"""Track id -> name, artists and genres, for answers that people read (`details=true`).

Names stay in Arrow arrays (one buffer of characters plus offsets) sorted by track id instead of a
dict of a million Python strings, which would take far more memory and start-up time to build.
A request converts only the few names it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from musicrec import schema
from musicrec.serving.arrow import arrow_view
from musicrec.serving.artifact_reading import open_parquet
from musicrec.serving.columns import artifact_error, checked_column, column_values
from musicrec.serving.indexes import KEY_MAX, KEY_MIN


@dataclass(frozen=True)
class TrackDetails:
    """What a person needs to recognise a track."""

    item_id: int
    name: str | None
    artists: list[str]
    genres: list[str]


@dataclass(frozen=True)
class TrackCatalog:
    """Names, artists and genres of tracks, looked up by binary search over sorted ids.

    `albums` (None when the set's indexes were saved without them) serve the features service's
    similar tracks by content (`musicrec.serving.content`); answers do not name albums.
    """

    item_ids: np.ndarray
    names: pa.Array
    artists: pa.Array
    genres: pa.Array
    albums: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.item_ids)

    @classmethod
    def empty(cls) -> TrackCatalog:
        """For an artifact folder without items.parquet: every answer carries ids only."""
        no_names = pa.array([], pa.list_(pa.string()))
        return cls(np.empty(0, dtype=np.int32), pa.array([], pa.string()), no_names, no_names)

    def details(self, item_ids: Sequence[int]) -> list[TrackDetails]:
        """Name, artists and genres of each track, in the order asked; unknown tracks get no name."""
        wanted = np.asarray(item_ids, dtype=np.int64)
        if len(self.item_ids) == 0:
            return [TrackDetails(int(item), None, [], []) for item in wanted]
        in_range = (wanted >= KEY_MIN) & (wanted <= KEY_MAX)
        # Searched as int32 like the ids: an int64 search would convert all ids on every call.
        searched = np.where(in_range, wanted, 0).astype(np.int32)
        positions = np.minimum(self.item_ids.searchsorted(searched), len(self.item_ids) - 1)
        known = in_range & (self.item_ids[positions] == wanted)
        taken = arrow_view(positions[known])
        names = iter(self.names.take(taken).to_pylist())
        artists = iter(self.artists.take(taken).to_pylist())
        genres = iter(self.genres.take(taken).to_pylist())
        return [
            TrackDetails(int(item), next(names), next(artists) or [], next(genres) or [])
            if is_known
            else TrackDetails(int(item), None, [], [])
            for item, is_known in zip(wanted, known)
        ]


def load_catalog(folder: Path) -> TrackCatalog:
    """Read items.parquet if present (it is optional: the course's artifact folders lack it).

    Genres and albums are optional too: a track table without them still names tracks and artists.
    """
    path = folder / schema.ITEMS_FILE
    if not path.exists():
        return TrackCatalog.empty()
    parquet = open_parquet(path, [schema.ITEM_ID, schema.NAME, schema.ARTISTS])
    columns = [schema.ITEM_ID, schema.NAME, schema.ARTISTS]
    columns += [name for name in (schema.GENRES, schema.ALBUMS) if name in parquet.schema_arrow.names]
    try:
        table = parquet.read(columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    ids = checked_column(table, schema.ITEM_ID, schema.ITEMS_SCHEMA, path)  # nulls, types, range
    if np.any(ids[1:] < ids[:-1]):  # the pipeline writes them sorted; other sets may not
        table = table.take(pc.sort_indices(table.column(schema.ITEM_ID)))
    catalog = TrackCatalog(
        item_ids=column_values(table.column(schema.ITEM_ID)).astype(np.int32),
        names=table.column(schema.NAME).combine_chunks(),
        artists=table.column(schema.ARTISTS).combine_chunks(),
        genres=(table.column(schema.GENRES).combine_chunks() if schema.GENRES in columns
                else pa.nulls(table.num_rows, pa.list_(pa.string()))),
        albums=table.column(schema.ALBUMS).combine_chunks() if schema.ALBUMS in columns else None,
    )
    del table
    pa.default_memory_pool().release_unused()  # hand the decoding buffers back to the OS
    return catalog
