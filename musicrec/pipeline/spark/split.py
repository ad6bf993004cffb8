"""The split stage on Spark: events.parquet -> the same histories, pairs and split.json as split.py.

The executors number the listens densely (tracks by the catalog's index, users by their sorted ids),
then count each (user, track) pair before every cutoff (listens, recent listens) and find each track's
first and each user's last day.
Each history's pairs are written as a pair file (`frames.history_folder`: what the Spark sources
read) and collected once to build the driver's matrices, which the stages after this one use as
they do with the local engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.spark.frames import ITEM, LISTENS, RECENT, USER, column, history_folder, record_history
from musicrec.pipeline.split import (NO_LISTENS, catalog_index, choose_split, cutoff_days, day_number, day_of,
                                     save)
from musicrec.pipeline.workspace import Cutoff, Workspace

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext

DAY = "day"


def split(session: SparkSession, context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    items = catalog_index(work)
    events = session.read.parquet(str(work.require(schema.EVENTS_FILE, "prepare")))
    catalog = session.createDataFrame(pa.table({schema.ITEM_ID: items.ids.astype(np.int32),
                                                ITEM: np.arange(len(items), dtype=np.int32)}))
    numbered = events.join(F.broadcast(catalog), schema.ITEM_ID, "left")
    dropped = numbered.filter(F.col(ITEM).isNull()).count()  # listens of tracks outside the catalog
    known = numbered.filter(F.col(ITEM).isNotNull())
    user_ids = known.select(schema.USER_ID).distinct().toArrow()
    users = IdIndex(np.sort(column(user_ids, schema.USER_ID, np.int64)))
    user_index = session.createDataFrame(pa.table({schema.USER_ID: users.ids.astype(np.int32),
                                                   USER: np.arange(len(users), dtype=np.int32)}))
    listens = (known.join(user_index, schema.USER_ID)
               .select(USER, ITEM, F.datediff(F.col(schema.STARTED_AT), F.lit("1970-01-01")).alias(DAY))
               .persist(StorageLevel.MEMORY_AND_DISK))
    first, last, total = listens.agg(F.min(DAY), F.max(DAY), F.count(F.lit(1))).first()
    if not total:
        raise ArtifactError(NO_LISTENS)
    dates = choose_split(day_of(first), day_of(last), params.test_days, params.target_days, params.test_start)
    cutoffs = cutoff_days(dates)
    counts = {"listens": int(total), "train_listens": listens.filter(F.col(DAY) < cutoffs["fit"]).count(),
              "dropped_unknown_track_listens": int(dropped)}

    def histories() -> Iterator[tuple[Cutoff, History]]:
        for name, cutoff in cutoffs.items():
            yield name, history_before(listens, work, name, cutoff, params.target_days, users, items)

    target = period_pairs(listens, day_number(dates.target_start), day_number(dates.test_start), len(items))
    test = period_pairs(listens, day_number(dates.test_start), None, len(items))
    summary = save(work, dates, histories(), target, test, counts)
    listens.unpersist()
    return summary


def history_before(listens: DataFrame, work: Workspace, name: Cutoff, cutoff: int, recent_days: int,
                   users: IdIndex, items: IdIndex) -> History:
    """The history of the listens before day `cutoff`, its pair file written on the way. The driver
    collects 16 bytes a pair (two indexes, two counts) and one day per user and per track."""
    before = listens.filter(F.col(DAY) < cutoff)
    pairs = (before.groupBy(USER, ITEM)
             .agg(F.count(F.lit(1)).cast("int").alias(LISTENS),
                  F.sum(F.when(F.col(DAY) >= cutoff - recent_days, 1).otherwise(0)).cast("int").alias(RECENT)))
    folder = history_folder(work, name)
    pairs.write.mode("overwrite").parquet(folder)
    table = listens.sparkSession.read.parquet(folder).toArrow()
    user, item = column(table, USER, np.int32), column(table, ITEM, np.int32)
    counts, recent = column(table, LISTENS, np.float32), column(table, RECENT, np.float32)
    del table
    shape = (len(users), len(items))
    history = History(users, items, _matrix(user, item, counts, shape),
                      _matrix(user[recent > 0], item[recent > 0], recent[recent > 0], shape),
                      _days(before, ITEM, F.min(DAY), len(items)), _days(before, USER, F.max(DAY), len(users)),
                      cutoff)
    record_history(work, name, history)
    return history


def _days(before: DataFrame, key: str, day: Column, size: int) -> np.ndarray:
    """One day per entity (a track's first listen, a user's last) as a dense int32 array; -1 for an
    entity without listens before the cutoff."""
    table = before.groupBy(key).agg(day.alias(DAY)).toArrow()
    out = np.full(size, -1, dtype=np.int32)
    out[column(table, key, np.int64)] = column(table, DAY, np.int32)
    return out


def _matrix(users: np.ndarray, items: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((counts, (users, items)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()  # and sorted indexes, as the local engine's
    return matrix


def period_pairs(listens: DataFrame, start: int, end: int | None, n_items: int) -> Pairs:
    """Distinct (user, track) pairs listened from day `start` up to (not including) `end`."""
    within = F.col(DAY) >= start
    if end is not None:
        within = within & (F.col(DAY) < end)
    table = listens.filter(within).select(USER, ITEM).distinct().toArrow()
    return Pairs.from_listens(column(table, USER, np.int32), column(table, ITEM, np.int32), n_items)
