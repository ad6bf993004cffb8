"""What a track is made of (its main artist, album and genre) and neighbours by shared content.

ALS can only place tracks that were listened to in the train period. A track released later, or
never played, still deserves "similar tracks" for online recommendations: we take the most popular
trained tracks of its album, then its artist, then its genre. Scores are fixed per level (album >
artist > genre) minus a small step per popularity rank, below typical ALS cosines, so a list never
claims more certainty than shared metadata gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.pipeline.ids import MISSING, IdIndex

NONE = -1
LEVEL_SCORES = {schema.ALBUMS: 0.5, schema.ARTISTS: 0.4, schema.GENRES: 0.2}
RANK_STEP = 1e-3


@dataclass(frozen=True)
class ItemContent:
    """Main artist, album and genre id of each dense item (NONE where the list was empty)."""

    artist: np.ndarray
    album: np.ndarray
    genre: np.ndarray

    def of(self, level: str) -> np.ndarray:
        return {schema.ARTISTS: self.artist, schema.ALBUMS: self.album, schema.GENRES: self.genre}[level]

    def of_name(self, name: str) -> np.ndarray:
        """Keys by short name: artist, album or genre."""
        return {"artist": self.artist, "album": self.album, "genre": self.genre}[name]


def first_elements(lists: pa.ChunkedArray) -> np.ndarray:
    """The first value of each list as int64, NONE for an empty or null list."""
    array = lists.combine_chunks()
    offsets = array.offsets.to_numpy()
    values = array.values.to_numpy(zero_copy_only=False)
    starts, lengths = offsets[:-1], np.diff(offsets)
    has_first = (lengths > 0) & np.asarray(array.is_valid())
    first = np.full(len(array), NONE, dtype=np.int64)
    first[has_first] = values[starts[has_first]]
    return first


def read_item_content(tracks_path: Path, items: IdIndex) -> ItemContent:
    """Main artist/album/genre per catalog item from the raw tracks.parquet (ids, not names)."""
    table = pq.read_table(tracks_path, columns=[schema.TRACK_ID, schema.ARTISTS, schema.ALBUMS,
                                                schema.GENRES])
    dense = items.encode(table.column(schema.TRACK_ID).to_numpy())
    known = dense != MISSING
    columns = {}
    for level in (schema.ARTISTS, schema.ALBUMS, schema.GENRES):
        values = np.full(len(items), NONE, dtype=np.int64)
        values[dense[known]] = first_elements(table.column(level))[known]
        columns[level] = values
    return ItemContent(columns[schema.ARTISTS], columns[schema.ALBUMS], columns[schema.GENRES])


def _level_pairs(queries: np.ndarray, keys: np.ndarray, sources: np.ndarray,
                 popularity: np.ndarray, k: int, level_score: float) -> tuple[np.ndarray, ...]:
    """Each query item -> the k most popular source items with the same key."""
    sources = sources[keys[sources] != NONE]
    sources = sources[np.lexsort((sources, -popularity[sources], keys[sources]))]
    source_keys = keys[sources]
    group_keys, group_start, group_size = np.unique(source_keys, return_index=True, return_counts=True)
    rank_in_group = np.arange(sources.size) - np.repeat(group_start, group_size)
    top = rank_in_group < k
    sources, source_keys, rank_in_group = sources[top], source_keys[top], rank_in_group[top]
    group_start = np.searchsorted(source_keys, group_keys)
    group_size = np.minimum(group_size, k)

    queries = queries[keys[queries] != NONE]
    if not group_keys.size:
        queries = queries[:0]
    where = np.searchsorted(group_keys, keys[queries]).clip(0, max(group_keys.size - 1, 0))
    matched = group_keys[where] == keys[queries]
    queries, where = queries[matched], where[matched]
    counts = group_size[where]
    query_rep = np.repeat(queries, counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    position = np.repeat(group_start[where], counts) + offset
    scores = (level_score - RANK_STEP * rank_in_group[position]).astype(np.float32)
    return query_rep.astype(np.int32), sources[position].astype(np.int32), scores


def content_neighbours(queries: np.ndarray, sources: np.ndarray, content: ItemContent,
                       popularity: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to k neighbours per query item among `sources`: (item_1, item_2, score), no self-pairs.

    Sorted by item_1, then score descending; a neighbour found at several levels keeps its best score.
    """
    parts = [_level_pairs(queries, content.of(level), sources, popularity, k, score)
             for level, score in LEVEL_SCORES.items()]
    first = np.concatenate([p[0] for p in parts])
    second = np.concatenate([p[1] for p in parts])
    score = np.concatenate([p[2] for p in parts])
    keep = first != second
    first, second, score = first[keep], second[keep], score[keep]
    order = np.lexsort((-score, second, first))  # best score first within each pair
    first, second, score = first[order], second[order], score[order]
    unique_pair = np.ones(first.size, dtype=bool)
    unique_pair[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    first, second, score = first[unique_pair], second[unique_pair], score[unique_pair]
    order = np.lexsort((second, -score, first))
    first, second, score = first[order], second[order], score[order]
    first, second, score = top_k_per_group(first, k, first, second, score)
    return first, second, score


def top_k_per_group(groups: np.ndarray, k: int, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Keep the first k rows of each run of equal `groups` values (rows already sorted by group)."""
    if not groups.size:
        return columns
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    sizes = np.diff(np.r_[starts, groups.size])
    rank = np.arange(groups.size) - np.repeat(starts, sizes)
    keep = rank < k
    return tuple(column[keep] for column in columns)
