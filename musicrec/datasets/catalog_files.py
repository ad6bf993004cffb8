"""The catalogue as the course's `tracks.parquet` and `catalog_names.parquet`, with real files' mess.

Real files have tracks with no genre or album, ids without a name and listened tracks missing from
`tracks.parquet`; ingestion must cope with all of them, so the built-in data has them too, at
rates given below.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from musicrec import schema
from musicrec.datasets import names
from musicrec.datasets.catalog import NO_GENRE, SyntheticCatalog

EMPTY_GENRES_SHARE = 0.02
EMPTY_ALBUMS_SHARE = 0.01
FEATURING_SHARE = 0.05  # tracks with a second artist
MISSING_FROM_TRACKS_SHARE = 0.005  # played tracks left out of tracks.parquet
UNNAMED_SHARE = 0.02  # artists, albums and tracks without a row in catalog_names


def _list_array(counts: np.ndarray, values: np.ndarray) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.int64()))


def _genre_lists(catalog: SyntheticCatalog, rng: np.random.Generator) -> pa.ListArray:
    genres = catalog.artist_genres[catalog.track_artist]  # [tracks, 2]
    present = genres != NO_GENRE
    present[rng.random(catalog.n_tracks) < EMPTY_GENRES_SHARE] = False
    return _list_array(present.sum(axis=1), catalog.genre_ids[genres[present]])


def _album_lists(catalog: SyntheticCatalog, rng: np.random.Generator) -> pa.ListArray:
    has_album = rng.random(catalog.n_tracks) >= EMPTY_ALBUMS_SHARE
    return _list_array(has_album.astype(np.int64), catalog.album_ids[catalog.track_album[has_album]])


def _artist_lists(catalog: SyntheticCatalog, rng: np.random.Generator) -> pa.ListArray:
    featuring = rng.integers(0, catalog.n_artists, catalog.n_tracks)
    has_featuring = (rng.random(catalog.n_tracks) < FEATURING_SHARE) & (featuring != catalog.track_artist)
    pairs = np.stack([catalog.track_artist, featuring], axis=1)
    present = np.stack([np.ones(catalog.n_tracks, dtype=bool), has_featuring], axis=1)
    return _list_array(present.sum(axis=1), catalog.artist_ids[pairs[present]])


def tracks_table(catalog: SyntheticCatalog, rng: np.random.Generator) -> pa.Table:
    """`tracks.parquet`: one row per track, except a few played ones that real files also miss."""
    table = pa.table(
        {
            schema.TRACK_ID: pa.array(catalog.track_ids, type=pa.int64()),
            schema.ALBUMS: _album_lists(catalog, rng),
            schema.ARTISTS: _artist_lists(catalog, rng),
            schema.GENRES: _genre_lists(catalog, rng),
        },
        schema=schema.TRACKS_SCHEMA,
    )
    played = catalog.track_weight > 0
    missing = played & (rng.random(catalog.n_tracks) < MISSING_FROM_TRACKS_SHARE)
    return table.filter(pa.array(~missing))


def _names_rows(kind: str, ids: np.ndarray, labels: pa.Array, keep: np.ndarray) -> pa.Table:
    kept = ids[keep]
    return pa.table(
        {
            schema.ID: pa.array(kept, type=pa.int64()),
            schema.TYPE: pa.array(np.full(kept.size, kind, dtype=object), type=pa.string()),
            schema.NAME: labels.filter(pa.array(keep)),
        },
        schema=schema.CATALOG_NAMES_SCHEMA,
    )


def catalog_names_table(catalog: SyntheticCatalog, rng: np.random.Generator) -> pa.Table:
    """`catalog_names.parquet`: (id, type, name) for genres, artists, albums and tracks; some missing."""
    genre_keep = np.ones(catalog.n_genres, dtype=bool)
    genre_keep[-1] = False  # one long-tail genre without a name
    parts = [
        _names_rows("genre", catalog.genre_ids, pa.array(names.genre_names(catalog.n_genres)), genre_keep),
        _names_rows(
            "artist",
            catalog.artist_ids,
            names.artist_names(rng, catalog.n_artists),
            rng.random(catalog.n_artists) >= UNNAMED_SHARE,
        ),
        _names_rows(
            "album",
            catalog.album_ids,
            names.titles(rng, catalog.n_albums),
            rng.random(catalog.n_albums) >= UNNAMED_SHARE,
        ),
        _names_rows(
            "track",
            catalog.track_ids,
            names.titles(rng, catalog.n_tracks),
            rng.random(catalog.n_tracks) >= UNNAMED_SHARE,
        ),
    ]
    return pa.concat_tables(parts)
