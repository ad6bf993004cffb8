"""top_popular.parquet: the default list for unknown users, the most listened tracks of a history.

Ranked by listens, ties broken by distinct listeners, then by track id so the order is stable. The
counts are the popular source's (sources/popular.py), so the engine that fit it counted them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.pipeline.data import History
from musicrec.pipeline.ids import IdIndex


@dataclass(frozen=True)
class ItemCounts:
    """Listens, distinct listeners and listens in the recent window of every track (int64, dense)."""

    listens: np.ndarray
    listeners: np.ndarray
    recent_listens: np.ndarray

    @classmethod
    def of(cls, history: History) -> ItemCounts:
        return cls(history.item_listens, history.item_listeners, history.item_recent_listens)


def top_popular(listens: np.ndarray, listeners: np.ndarray, n: int) -> np.ndarray:
    """Dense indexes of the `n` most popular items with at least one listen, most popular first."""
    played = np.flatnonzero(listens > 0)
    # lexsort sorts by the last key first: listens desc, then listeners desc, then index asc.
    order = np.lexsort((played, -listeners[played], -listens[played]))
    return played[order[:n]]

def item_names(items_path, item_ids: np.ndarray) -> list[str | None]:
    """Names of the given raw track ids from items.parquet (None where a track has no name)."""
    table = pq.read_table(items_path, columns=[schema.ITEM_ID, schema.NAME])
    all_ids = table.column(schema.ITEM_ID).to_numpy()
    order = np.argsort(all_ids)
    position = order[np.searchsorted(all_ids, item_ids, sorter=order)]
    return table.column(schema.NAME).take(pa.array(position)).to_pylist()

def popular_table(counts: ItemCounts, items: IdIndex, n: int, items_path) -> pa.Table:
    """The top_popular.parquet table (TOP_POPULAR_SCHEMA)."""
    listens, listeners = counts.listens, counts.listeners
    top = top_popular(listens, listeners, n)
    raw_ids = items.decode(top)
    return pa.table(
        {
            schema.ITEM_ID: raw_ids.astype(np.int32),
            schema.RANK: np.arange(1, top.size + 1, dtype=np.int32),
            schema.LISTENS: listens[top],
            schema.LISTENERS: listeners[top],
            schema.NAME: item_names(items_path, raw_ids),
        },
        schema=schema.TOP_POPULAR_SCHEMA,
    )
