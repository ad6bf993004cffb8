"""Reading the artifacts' parquet files into the serving indexes, checked as they stream by.

Every failure (a missing file or column, an unreadable file, a column of the wrong type, no rows)
becomes an ArtifactError naming the file, so a service stops at start with a message instead of
serving half a set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.serving.columns import artifact_error, checked_column
from musicrec.serving.indexes import RankedLists

logger = logging.getLogger(__name__)

# Row groups decoded per read: enough for Arrow to decode them on every core, few enough that the
# decoded slice stays small next to the arrays being filled.
ROW_GROUPS_PER_READ = 4

def open_parquet(path: Path, columns: list[str]) -> pq.ParquetFile:
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
    parquet = open_parquet(path, names)
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
    parquet = open_parquet(path, [schema.ITEM_ID, schema.RANK])
    try:
        table = parquet.read(columns=[schema.ITEM_ID, schema.RANK])
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    item_ids = checked_column(table, schema.ITEM_ID, schema.TOP_POPULAR_SCHEMA, path)
    ranks = checked_column(table, schema.RANK, schema.TOP_POPULAR_SCHEMA, path)
    if len(item_ids) == 0:
        raise artifact_error(path, "has no rows")
    return item_ids[np.argsort(ranks, kind="stable")]
