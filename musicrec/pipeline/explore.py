"""Small tables about the data and the pipeline's output, for `recommendations.ipynb` and people.

The notebook holds no logic of its own: every number it plots or shows comes from here (or from
the pipeline's own summaries). Each function reduces the event log with columnar operations
(pyarrow hash counts, numpy bincounts) to a frame of at most a few thousand rows, so the same
notebook runs on the 222M listens of the full data; only the reductions touch the big table.

`events` is the prepared `events.parquet` (user_id, item_id, started_at, track_seq) and `items`
is `items.parquet` (item_id, name and the names of artists, albums, genres).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.synthetic import GenerateReport, generate
from musicrec.errors import NotFound
from musicrec.pipeline.reports import Report

COLD_USERS_ROW = "cold users: popular"
_LIST_SEPARATOR = ", "


# --- the data ----------------------------------------------------------------------------------
def ensure_raw_data(raw_dir: Path, scale: str, seed: int) -> GenerateReport | None:
    """Generate the built-in data into `raw_dir` unless all three raw files are already there.

    Returns the generation report, or None when the user's own (or earlier) files were kept.
    """
    if all((Path(raw_dir) / name).is_file() for name in schema.RAW_FILES):
        return None
    return generate(Path(raw_dir), get_scale(scale), seed)


def _days(events: pa.Table) -> np.ndarray:
    return events.column(schema.STARTED_AT).cast(pa.int32()).to_numpy()


def listens_per_day(events: pa.Table) -> pd.DataFrame:
    """Listens on each day from the first to the last day of the log (days without any: 0)."""
    days = _days(events)
    if not days.size:
        return pd.DataFrame({schema.STARTED_AT: pd.to_datetime([]), schema.LISTENS: np.zeros(0, np.int64)})
    first = int(days.min())
    counts = np.bincount(days - first)
    dates = np.arange(first, first + counts.size).astype("datetime64[D]")
    return pd.DataFrame({schema.STARTED_AT: pd.to_datetime(dates), schema.LISTENS: counts.astype(np.int64)})


def listens_per_month(events: pa.Table) -> pd.DataFrame:
    """Listens in each calendar month ("YYYY-MM"), in order."""
    daily = listens_per_day(events)
    month = daily[schema.STARTED_AT].dt.strftime("%Y-%m").rename(schema.MONTH)
    return daily.groupby(month)[schema.LISTENS].sum().reset_index()


def _count_of_counts(values: pa.ChunkedArray, how_many: str) -> pd.DataFrame:
    """How many distinct values occur exactly n times, for every n that occurs (n ascending)."""
    counts = pc.value_counts(values).field("counts").to_numpy()
    times, number = np.unique(counts, return_counts=True)
    return pd.DataFrame({schema.LISTENS: times.astype(np.int64), how_many: number.astype(np.int64)})


def popularity_distribution(events: pa.Table) -> pd.DataFrame:
    """Number of tracks with exactly n listens, for each n (played tracks only: log-log friendly)."""
    return _count_of_counts(events.column(schema.ITEM_ID), schema.TRACKS)


def history_lengths(events: pa.Table) -> pd.DataFrame:
    """Number of users with exactly n listens, for each n."""
    return _count_of_counts(events.column(schema.USER_ID), schema.USERS)


def _listens_per_item(events: pa.Table, items: pa.Table) -> np.ndarray:
    """Listens of each row of `items` (0 for tracks nobody played)."""
    counted = pc.value_counts(events.column(schema.ITEM_ID))
    row = pc.index_in(counted.field("values"), value_set=items.column(schema.ITEM_ID).combine_chunks())
    known = pc.is_valid(row).to_numpy(zero_copy_only=False)
    listens = np.zeros(items.num_rows, dtype=np.int64)
    listens[row.filter(pa.array(known)).to_numpy()] = counted.field("counts").to_numpy()[known]
    return listens


def top_genres(events: pa.Table, items: pa.Table, n: int = 15) -> pd.DataFrame:
    """The `n` genres with the most listens, with their catalog size.

    A track in several genres counts for each of them; `tracks` includes tracks nobody played.
    """
    genres = items.column(schema.GENRES).combine_chunks()
    per_track = _listens_per_item(events, items)[pc.list_parent_indices(genres).to_numpy()]
    flat = pa.table({schema.NAME: pc.list_flatten(genres), schema.LISTENS: per_track})
    grouped = flat.group_by(schema.NAME).aggregate([(schema.LISTENS, "sum"), (schema.LISTENS, "count")])
    frame = pd.DataFrame({
        schema.NAME: grouped.column(schema.NAME).to_pylist(),
        schema.LISTENS: grouped.column(f"{schema.LISTENS}_sum").to_numpy(),
        schema.TRACKS: grouped.column(f"{schema.LISTENS}_count").to_numpy(),
    })
    frame = frame.sort_values([schema.LISTENS, schema.NAME], ascending=[False, True])
    return frame.head(n).reset_index(drop=True)


# --- names for people --------------------------------------------------------------------------
def with_names(frame: pd.DataFrame, items: pa.Table) -> pd.DataFrame:
    """`frame` plus the name, artists and genres of each `item_id` (missing where unknown)."""
    ids = pa.array(frame[schema.ITEM_ID].to_numpy(), type=pa.int32())
    rows = items.take(pc.index_in(ids, value_set=items.column(schema.ITEM_ID).combine_chunks()))
    named = frame.copy()
    named[schema.NAME] = rows.column(schema.NAME).to_pylist()
    for column in (schema.ARTISTS, schema.GENRES):
        named[column] = pc.binary_join(rows.column(column), _LIST_SEPARATOR).to_pylist()
    return named


def user_history(events: pa.Table, items: pa.Table, user_id: int, last: int | None = None,
                 before: date | None = None) -> pd.DataFrame:
    """The user's listens in order, with track and artist names.

    `before` keeps only listens before that day (what the models could know); `last` keeps only
    the latest that many.
    """
    rows = events.filter(pc.equal(events.column(schema.USER_ID), user_id))
    if before is not None:
        rows = rows.filter(pc.less(rows.column(schema.STARTED_AT), pa.scalar(before, pa.date32())))
    if not rows.num_rows:
        raise NotFound(f"user {user_id} has no listens" + (f" before {before}" if before else ""))
    rows = rows.sort_by([(schema.TRACK_SEQ, "ascending")])
    if last is not None:
        rows = rows.slice(max(rows.num_rows - last, 0))
    frame = rows.select([schema.STARTED_AT, schema.TRACK_SEQ, schema.ITEM_ID]).to_pandas()
    return with_names(frame, items)


def tracks_listened_since(events: pa.Table, user_id: int, since: date) -> np.ndarray:
    """Distinct tracks the user listened to on or after `since` (sorted raw ids)."""
    mine = events.filter(pc.equal(events.column(schema.USER_ID), user_id))
    later = mine.filter(pc.greater_equal(mine.column(schema.STARTED_AT), pa.scalar(since, pa.date32())))
    return np.unique(later.column(schema.ITEM_ID).to_numpy())


def ranked_for_user(ranked: pa.Table, items: pa.Table, user_id: int, k: int,
                    heard_later: np.ndarray) -> pd.DataFrame:
    """The user's first `k` ranked tracks (recommendations or candidates) with names, and whether
    the user did listen to each one later (`heard_later`: raw ids heard in the test period)."""
    mine = ranked.filter(pc.equal(ranked.column(schema.USER_ID), user_id))
    mine = mine.filter(pc.less_equal(mine.column(schema.RANK), k)).sort_by(schema.RANK)
    frame = with_names(mine.select([schema.RANK, schema.ITEM_ID, schema.SCORE]).to_pandas(), items)
    frame[schema.HEARD_LATER] = np.isin(frame[schema.ITEM_ID].to_numpy(), heard_later)
    return frame


def similar_for(similar: pa.Table, items: pa.Table, item_id: int, k: int = 10) -> pd.DataFrame:
    """The `k` tracks most similar to `item_id` (similar.parquet), best first, with names."""
    rows = similar.filter(pc.equal(similar.column(schema.ITEM_ID_1), item_id))
    if not rows.num_rows:
        raise NotFound(f"track {item_id} has no similar tracks")
    rows = rows.sort_by([(schema.SCORE, "descending"), (schema.ITEM_ID_2, "ascending")]).slice(0, k)
    frame = pd.DataFrame({schema.ITEM_ID: rows.column(schema.ITEM_ID_2).to_numpy(),
                          schema.SCORE: rows.column(schema.SCORE).to_numpy()})
    return with_names(frame, items)


# --- the pipeline's results --------------------------------------------------------------------
def _distinct_tracks_per_user(events: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(users, number of distinct tracks each listened to), users sorted."""
    users = events.column(schema.USER_ID).to_numpy().astype(np.int64)
    pairs = np.unique((users << 32) | events.column(schema.ITEM_ID).to_numpy().astype(np.int64))
    return np.unique(pairs >> 32, return_counts=True)


def example_user(events: pa.Table, ranked: pa.Table, since: date, min_later_tracks: int = 1) -> int:
    """A typical user to look at: among users with recommendations who listened to at least
    `min_later_tracks` distinct tracks on or after `since`, the one with the median number of
    listens before it (ties: the smaller id).

    Chosen by activity alone, never by how well the recommendations did.
    """
    is_later = pc.greater_equal(events.column(schema.STARTED_AT), pa.scalar(since, pa.date32()))
    later_users, later_tracks = _distinct_tracks_per_user(events.filter(is_later))
    counted = pc.value_counts(events.column(schema.USER_ID).filter(pc.invert(is_later)))
    users = counted.field("values").to_numpy()
    counts = counted.field("counts").to_numpy()
    eligible = (np.isin(users, later_users[later_tracks >= min_later_tracks])
                & np.isin(users, pc.unique(ranked.column(schema.USER_ID)).to_numpy()))
    if not eligible.any():
        raise NotFound(f"no user has recommendations and {min_later_tracks}+ tracks listened on or "
                       f"after {since}")
    users, counts = users[eligible], counts[eligible]
    order = np.lexsort((users, counts))
    return int(users[order[(order.size - 1) // 2]])


def metrics_frame(report: dict[str, Any]) -> pd.DataFrame:
    """metrics.json as a table: one row per model, cold users (top popular) last."""
    rows = dict(report["models"])
    rows[COLD_USERS_ROW] = report["cold_users"]["popular"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = schema.MODEL
    return frame


def _as_json(tuning: dict[str, Any] | Report) -> dict[str, Any]:
    """tuning.json as written, from the typed report or the JSON itself."""
    return tuning.as_json() if isinstance(tuning, Report) else tuning


def tuning_frame(tuning: dict[str, Any] | Report) -> pd.DataFrame:
    """The tune stage's choice per source: validation NDCG@10, trials tried and the chosen values."""
    tuning = _as_json(tuning)
    rows = {name: {"validation ndcg@10": entry.get("validation_ndcg@10"), "trials": len(entry["trials"]),
                   "chosen": ", ".join(f"{key}={value}" for key, value in entry["values"].items())}
            for name, entry in tuning["sources"].items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "source"
    return frame


def trials_frame(tuning: dict[str, Any] | Report) -> pd.DataFrame:
    """Every tuning trial: source, number, state and validation NDCG@10 (for a plot of the search)."""
    tuning = _as_json(tuning)
    rows = [{"source": name, "trial": trial["number"], "state": trial["state"], "ndcg@10": trial["ndcg@10"]}
            for name, entry in tuning["sources"].items() for trial in entry["trials"]]
    return pd.DataFrame(rows, columns=["source", "trial", "state", "ndcg@10"])
