"""Compact in-memory indexes over the artifacts: key -> ranked (item, score) lists.

The course services answered every request with a pandas scan of the whole artifact. Here each
artifact is loaded once into flat numpy arrays in CSR form (sorted unique keys, offsets into flat
item and score arrays), so a request costs microseconds and the memory is 8 bytes per row plus 12
bytes per key, whatever the table size. A key is found with one index into a direct key -> row
table when the keys are dense (user ids 0..N-1: at most 16 more bytes per key), else with one
binary search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.errors import ArtifactError

# Row groups decoded per read: Arrow decodes them in parallel; ~4M rows (50 MB) in flight at once.
ROW_GROUPS_PER_READ = 4
KEY_MIN, KEY_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max  # keys are int32 in every artifact
# A direct key -> row table is kept when the largest key is below this many times the number of keys
# (then it costs at most 16 bytes per key): a lookup is one index instead of a binary search (0.15
# instead of 1.5 us at 1.37M users). Sparse keys (track ids of a large catalogue) use the search.
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

        The key is given the keys' own dtype first: searching an int32 array for a Python int makes
        numpy convert the whole array to int64 on every call (3.5 ms at 1.37M keys instead of 1 µs).
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


def artifact_error(path: Path, problem: str) -> ArtifactError:
    """One wording for every unusable artifact: which file, what is wrong, how to make it."""
    return ArtifactError(f"{path}: {problem}. Make the artifacts with: {schema.MAKE_ARTIFACTS_COMMAND}")


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


# Arrow's fixed-width number types whose values buffer numpy can view as it is.
_NUMPY_TYPES = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
    pa.float32(): np.float32, pa.float64(): np.float64,
}


def column_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy view of a number column without nulls.

    Not `Array.to_numpy()`: its first call imports pandas (pyarrow 26), which the services never use
    otherwise and which cost 0.3-0.45 s of every start-up.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dtype = _NUMPY_TYPES.get(column.type)
    if dtype is None:
        return column.to_numpy(zero_copy_only=False)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * itemsize)


def arrow_view(values: np.ndarray) -> pa.Array:
    """An Arrow array over a 1-d numpy array of numbers, without a copy.

    Not `pa.array(values)`: converting Python or numpy values imports pandas on first use (pyarrow
    26), 0.3-0.4 s of the first call; building from buffers does not.
    """
    values = np.ascontiguousarray(values)
    arrow_type = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def arrow_text(value: str) -> pa.Scalar:
    """A string scalar for Arrow compute functions, made from buffers for the reason above."""
    data = value.encode()
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])[0]


def _column_as_numpy(batch: pa.RecordBatch | pa.Table, name: str, dtype: type, path: Path) -> np.ndarray:
    column = batch.column(name)
    if column.null_count:
        raise artifact_error(path, f"column {name} has {column.null_count} null value(s)")
    return column_values(column).astype(dtype, copy=False)


class _CsrBuilder:
    """Fills flat item and score arrays batch by batch, noting where each key's rows start."""

    def __init__(self, total: int) -> None:
        self.items = np.empty(total, dtype=np.int32)
        self.scores = np.empty(total, dtype=np.float32)
        self.filled = 0
        self.previous_key: int | None = None
        self.keys: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []

    def add(self, keys: np.ndarray, items: np.ndarray, scores: np.ndarray) -> None:
        size = len(keys)
        if size == 0:
            return
        self.items[self.filled : self.filled + size] = items
        self.scores[self.filled : self.filled + size] = scores
        changed = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = changed if self.previous_key == keys[0] else np.concatenate(([0], changed))
        self.keys.append(keys[starts])
        self.starts.append(starts + self.filled)
        self.previous_key = int(keys[-1])
        self.filled += size

    def build(self, path: Path, key_column: str) -> RankedLists:
        keys = np.concatenate(self.keys) if self.keys else np.empty(0, dtype=np.int32)
        if np.any(keys[1:] <= keys[:-1]):
            raise artifact_error(path, f"rows are not sorted by {key_column}")
        starts = np.concatenate(self.starts) if self.starts else np.empty(0, dtype=np.int64)
        offsets = np.append(starts, self.filled).astype(np.int64)
        return RankedLists(keys=keys, offsets=offsets, items=self.items, scores=self.scores)


def load_ranked_lists(path: Path, key_column: str, item_column: str, score_column: str) -> RankedLists:
    """Read a `key, item, score` artifact sorted by key into a RankedLists, a few row groups at a time.

    Rows are copied into arrays allocated once, and the key column is reduced to group starts as it
    streams by, so peak memory stays near the final size (about 8 bytes per row) even at 68M rows;
    reading several row groups per call lets Arrow decode them on all cores.
    The artifact contract says rows are grouped by key; a file that is not is refused rather than
    silently mis-indexed.
    """
    columns = [key_column, item_column, score_column]
    parquet = _open_parquet(path, columns)
    builder = _CsrBuilder(parquet.metadata.num_rows)
    groups = list(range(parquet.num_row_groups))
    try:
        for first in range(0, len(groups), ROW_GROUPS_PER_READ):
            table = parquet.read_row_groups(groups[first : first + ROW_GROUPS_PER_READ], columns=columns)
            for batch in table.to_batches():
                builder.add(
                    _column_as_numpy(batch, key_column, np.int32, path),
                    _column_as_numpy(batch, item_column, np.int32, path),
                    _column_as_numpy(batch, score_column, np.float32, path),
                )
            del table  # free this slice's Arrow buffers before decoding the next
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    ranked = builder.build(path, key_column)
    pa.default_memory_pool().release_unused()  # hand the decoding buffers back to the OS
    return ranked


def load_recommendations(folder: Path) -> RankedLists:
    """Personal offline recommendations: user -> items by rank."""
    path = folder / schema.RECOMMENDATIONS_FILE
    return load_ranked_lists(path, schema.USER_ID, schema.ITEM_ID, schema.SCORE)


def load_similar(folder: Path) -> RankedLists:
    """Similar tracks: track -> similar tracks by score, best first."""
    return load_ranked_lists(folder / schema.SIMILAR_FILE, schema.ITEM_ID_1, schema.ITEM_ID_2, schema.SCORE)


def load_top_popular(folder: Path) -> np.ndarray:
    """The default list: track ids ordered by their popularity rank (int32)."""
    path = folder / schema.TOP_POPULAR_FILE
    parquet = _open_parquet(path, [schema.ITEM_ID, schema.RANK])
    try:
        table = parquet.read(columns=[schema.ITEM_ID, schema.RANK])
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    item_ids = _column_as_numpy(table, schema.ITEM_ID, np.int32, path)
    ranks = _column_as_numpy(table, schema.RANK, np.int64, path)
    if len(item_ids) == 0:
        raise artifact_error(path, "has no rows")
    return item_ids[np.argsort(ranks, kind="stable")]


def process_rss_mib() -> float:
    """Resident memory of this process, for the load log that operators size machines by."""
    return psutil.Process().memory_info().rss / 2**20
