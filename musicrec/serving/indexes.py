"""Compact in-memory indexes over the artifacts: key -> ranked (item, score) lists.

The course services answered every request with a pandas scan of the whole artifact. Here each
artifact is loaded once into flat numpy arrays in CSR form (sorted unique keys, offsets into flat
item and score arrays), so a request reads only its own rows and the memory is 8 bytes per row plus
12 bytes per key, whatever the table size. A key is found with one index into a direct key -> row
table when the keys are dense (user ids 0..N-1), else with one binary search.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.serving.columns import artifact_error, checked_column

logger = logging.getLogger(__name__)

# Row groups decoded per read: enough for Arrow to decode them on every core, few enough that the
# decoded slice stays small next to the arrays being filled.
ROW_GROUPS_PER_READ = 4
KEY_MIN, KEY_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max  # keys are int32 in every artifact
# A direct key -> row table is kept when the largest key is below this many times the number of keys,
# so it costs at most 16 bytes per key and makes a lookup one index instead of a binary search.
# Sparse keys (track ids of a large catalogue) use the search.
DIRECT_TABLE_MAX_SPREAD = 4


@dataclass(frozen=True)
class RankedLists:
    """For every key (a user or a track) its items, best first, with their scores.

    Attributes
    ----------
    keys : sorted unique int32 keys.
    offsets : int64, ``len(keys) + 1``; the items of ``keys[i]`` are ``items[offsets[i]:offsets[i+1]]``.
    items, scores : flat int32 items and float32 scores in the artifact's order (best first).
    rows_by_key : int32 row of every key from 0 to the largest (-1 for none), or None for sparse keys;
        derived from `keys` when not given (a mapped index passes the one it saved).
    """

    keys: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    rows_by_key: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rows_by_key is None:
            object.__setattr__(self, "rows_by_key", _direct_table(self.keys))

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def rows(self) -> int:
        return len(self.items)

    @property
    def nbytes(self) -> int:
        table = 0 if self.rows_by_key is None else self.rows_by_key.nbytes
        return self.keys.nbytes + self.offsets.nbytes + self.items.nbytes + self.scores.nbytes + table

    def _position(self, key: int) -> int:
        """Index of `key` in `keys`, or -1: one index into the direct table, or one binary search.

        The key is given the keys' own dtype first, because searching an int32 array for a Python int
        makes numpy convert the whole array to int64 on every call.
        """
        if self.rows_by_key is not None:
            return int(self.rows_by_key[key]) if 0 <= key < len(self.rows_by_key) else -1
        if not KEY_MIN <= key <= KEY_MAX:
            return -1
        position = int(self.keys.searchsorted(np.int32(key)))
        if position < len(self.keys) and self.keys[position] == key:
            return position
        return -1

    def __contains__(self, key: int) -> bool:
        return self._position(key) >= 0

    def span(self, key: int) -> tuple[int, int]:
        """Where `key`'s rows are in the flat arrays, as (start, stop); (0, 0) if unknown.

        Rows keep the artifact's order, so a column kept beside them (such as which source proposed
        each recommendation) is read for a key with the same span.
        """
        position = self._position(key)
        if position < 0:
            return 0, 0
        return int(self.offsets[position]), int(self.offsets[position + 1])

    def lookup(self, key: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first `k` items and scores of `key` (views, not copies); empty arrays if unknown."""
        start, stop = self.span(key)
        stop = min(stop, start + k)
        return self.items[start:stop], self.scores[start:stop]

    def lookup_many(self, keys: Iterable[int], k: int) -> list[tuple[list[int], list[float]]]:
        """The first `k` items and scores of each key, in order, as Python lists (empty if unknown).

        What a batch of similar-track questions needs, from the features service or in process.
        """
        answers = []
        for key in keys:
            items, scores = self.lookup(key, k)
            answers.append((items.tolist(), scores.tolist()))
        return answers


def _direct_table(keys: np.ndarray) -> np.ndarray | None:
    """The row of every key from 0 to the largest, when keys are non-negative and dense enough."""
    if len(keys) == 0 or keys[0] < 0 or int(keys[-1]) >= DIRECT_TABLE_MAX_SPREAD * len(keys):
        return None
    table = np.full(int(keys[-1]) + 1, -1, dtype=np.int32)
    table[keys] = np.arange(len(keys), dtype=np.int32)
    return table


def _open_parquet(path: Path, columns: list[str]) -> pq.ParquetFile:
    """Open an artifact and check it has `columns`, turning every failure into an ArtifactError."""
    if not path.is_file():
        raise artifact_error(path, "file is missing")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"not a readable parquet file ({exc})") from None
    missing = [name for name in columns if name not in parquet.schema_arrow.names]
    if missing:
        raise artifact_error(path, f"missing column(s) {', '.join(missing)}")
    return parquet


def arrow_view(values: np.ndarray) -> pa.Array:
    """An Arrow array over a 1-d numpy array of numbers, without a copy.

    Not `pa.array(values)`, because converting Python or numpy values imports pandas on first use,
    which would lengthen the first call; building from buffers does not.
    """
    values = np.ascontiguousarray(values)
    arrow_type = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def arrow_text(value: str) -> pa.Scalar:
    """A string scalar for Arrow compute functions, made from buffers for the reason above."""
    data = value.encode()
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])[0]


class _CsrBuilder:
    """Fills flat item and score arrays batch by batch, noting where each key's rows start.

    It also keeps each row's place in its list (`order`: rank, or minus the score), so that a file
    whose rows are not in contract order can still be loaded, sorted (`_sorted`).
    """

    def __init__(self, total: int) -> None:
        self.items = np.empty(total, dtype=np.int32)
        self.scores = np.empty(total, dtype=np.float32)
        self.order = np.empty(total, dtype=np.float32)
        self.filled = 0
        self.previous_key: int | None = None
        self.keys: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []

    def add(self, keys: np.ndarray, items: np.ndarray, scores: np.ndarray, order: np.ndarray) -> None:
        size = len(keys)
        if size == 0:
            return
        rows = slice(self.filled, self.filled + size)
        self.items[rows], self.scores[rows], self.order[rows] = items, scores, order
        changed = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = changed if self.previous_key == keys[0] else np.concatenate(([0], changed))
        self.keys.append(keys[starts])
        self.starts.append(starts + self.filled)
        self.previous_key = int(keys[-1])
        self.filled += size

    def build(self, path: Path, key_column: str, order_name: str) -> RankedLists:
        keys = np.concatenate(self.keys) if self.keys else np.empty(0, dtype=np.int32)
        starts = np.concatenate(self.starts) if self.starts else np.empty(0, dtype=np.int64)
        offsets = np.append(starts, self.filled).astype(np.int64)
        if np.any(keys[1:] <= keys[:-1]) or not _in_order_within_keys(self.order, offsets):
            logger.warning("%s: rows are not sorted by %s, then %s; sorting %d rows at load", path,
                           key_column, order_name, self.filled)
            keys, offsets = self._sorted(keys, offsets)
        return RankedLists(keys=keys, offsets=offsets, items=self.items, scores=self.scores)

    def _sorted(self, keys: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows sorted by key, then by their place (stable): the keys and offsets of the result."""
        row_keys = np.repeat(keys, np.diff(offsets))
        permutation = np.lexsort((self.order, row_keys))
        self.items, self.scores = self.items[permutation], self.scores[permutation]
        row_keys = row_keys[permutation]
        starts = np.flatnonzero(np.concatenate(([True], row_keys[1:] != row_keys[:-1])))
        return row_keys[starts], np.append(starts, len(row_keys)).astype(np.int64)


def _in_order_within_keys(order: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether each key's rows have non-decreasing `order` (where a new key starts, anything goes)."""
    if len(order) < 2:
        return True
    backwards = order[1:] < order[:-1]
    backwards[offsets[1:-1] - 1] = False  # the step from one key's last row to the next key's first
    return not backwards.any()


def load_ranked_lists(
    path: Path, columns: RankedColumns, key_column: str, item_column: str, score_column: str
) -> RankedLists:
    """Read a `key, item, score` artifact into a RankedLists, a few row groups at a time.

    Rows are copied into arrays allocated once, and the key column is reduced to group starts as it
    streams by, so peak memory stays near the final size (12 bytes per row while loading) even at
    68M rows; reading several row groups per call lets Arrow decode them on all cores. Every column
    is checked against its type in `musicrec.schema` (`checked_column`). The contract orders rows by
    key, then by rank (or score, best first); a file in any other order (the course's files promise
    none) is sorted here, with a log line saying so, rather than refused or mis-indexed. A file
    without rows is refused: a service with nothing to serve would only answer empty lists.
    """
    names = [key_column, item_column, score_column, *([columns.rank] if columns.rank else [])]
    parquet = _open_parquet(path, names)
    if parquet.metadata.num_rows == 0:
        raise artifact_error(path, "has no rows")
    builder = _CsrBuilder(parquet.metadata.num_rows)
    groups = list(range(parquet.num_row_groups))
    try:
        for first in range(0, len(groups), ROW_GROUPS_PER_READ):
            table = parquet.read_row_groups(groups[first : first + ROW_GROUPS_PER_READ], columns=names)
            for batch in table.to_batches():
                scores = checked_column(batch, score_column, columns.schema, path)
                order = checked_column(batch, columns.rank, columns.schema, path) if columns.rank else -scores
                builder.add(checked_column(batch, key_column, columns.schema, path),
                            checked_column(batch, item_column, columns.schema, path), scores, order)
            del table  # free this slice's Arrow buffers before decoding the next
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    ranked = builder.build(path, key_column, columns.rank or f"{score_column} (descending)")
    pa.default_memory_pool().release_unused()  # hand the decoding buffers back to the OS
    return ranked


@dataclass(frozen=True)
class RankedColumns:
    """The schema an artifact's columns are checked against, and the column that ranks a key's rows
    (None: the score, best first)."""

    schema: pa.Schema
    rank: str | None = None


def load_recommendations(folder: Path) -> RankedLists:
    """Personal offline recommendations: user -> items by rank."""
    path = folder / schema.RECOMMENDATIONS_FILE
    columns = RankedColumns(schema.RECOMMENDATIONS_SCHEMA, rank=schema.RANK)
    return load_ranked_lists(path, columns, schema.USER_ID, schema.ITEM_ID, schema.SCORE)


def load_similar(folder: Path) -> RankedLists:
    """Similar tracks: track -> similar tracks by score, best first."""
    return load_ranked_lists(folder / schema.SIMILAR_FILE, RankedColumns(schema.SIMILAR_SCHEMA),
                             schema.ITEM_ID_1, schema.ITEM_ID_2, schema.SCORE)


def load_top_popular(folder: Path) -> np.ndarray:
    """The default list: track ids ordered by their popularity rank (int32)."""
    path = folder / schema.TOP_POPULAR_FILE
    parquet = _open_parquet(path, [schema.ITEM_ID, schema.RANK])
    try:
        table = parquet.read(columns=[schema.ITEM_ID, schema.RANK])
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    item_ids = checked_column(table, schema.ITEM_ID, schema.TOP_POPULAR_SCHEMA, path)
    ranks = checked_column(table, schema.RANK, schema.TOP_POPULAR_SCHEMA, path)
    if len(item_ids) == 0:
        raise artifact_error(path, "has no rows")
    return item_ids[np.argsort(ranks, kind="stable")]


def process_rss_mib() -> float:
    """Resident memory of this process, for the load log that operators size machines by."""
    return psutil.Process().memory_info().rss / 2**20
