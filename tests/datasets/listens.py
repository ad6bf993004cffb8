"""Generated listens read for the realism tests, and the measures those tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from musicrec import schema


def read_listens(raw_dir: Path) -> pd.DataFrame:
    """Listens with each track's first artist and genre (-1 when it has none or is unknown)."""
    listens = pq.read_table(raw_dir / schema.INTERACTIONS_FILE).to_pandas()
    tracks = pq.read_table(raw_dir / schema.TRACKS_FILE).to_pandas().set_index(schema.TRACK_ID)
    for column in (schema.ARTISTS, schema.GENRES):
        first = tracks[column].map(lambda ids: ids[0] if len(ids) else -1)
        listens[column] = listens[schema.TRACK_ID].map(first).fillna(-1).astype(np.int64)
    return listens.sort_values([schema.USER_ID, schema.TRACK_SEQ], kind="stable").reset_index(drop=True)


def listens_per_track(raw_dir: Path, listens: pd.DataFrame) -> np.ndarray:
    """Listens of every track of tracks.parquet (unplayed ones: 0), sorted ascending."""
    track_ids = pq.read_table(raw_dir / schema.TRACKS_FILE).column(schema.TRACK_ID).to_pandas()
    counts = listens[schema.TRACK_ID].value_counts().reindex(track_ids, fill_value=0)
    return np.sort(counts.to_numpy())


def shuffled_within_users(listens: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The same listens of each user in random order: same tastes, no sessions, no time."""
    noise = np.random.default_rng(seed).random(len(listens))
    order = np.lexsort((noise, listens[schema.USER_ID].to_numpy()))
    return listens.iloc[order].reset_index(drop=True)


def same_as_previous(listens: pd.DataFrame, column: str) -> float:
    """Share of a user's listens whose `column` (artist, genre) is that of their previous listen."""
    users = listens[schema.USER_ID].to_numpy()
    values = listens[column].to_numpy()
    same_user = users[1:] == users[:-1]
    return float(((values[1:] == values[:-1]) & (values[1:] >= 0))[same_user].mean())
