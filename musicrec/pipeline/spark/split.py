"""The split stage on Spark: events.parquet -> the same histories, pairs and split.json as split.py.

The executors number the listens densely (tracks by the catalog's index, users by their sorted ids)
and answer what choosing the split asks (`SparkLog`: per-day counts and each user's first and last
day; each listen's rank from the end of its user's listens for the per-user split), so the choice
is split.py's own. Then they count each (user, track) pair in every history (listens, recent
listens) and find each track's first and each user's last day. Each history's pairs are written as
a pair file (`frames.history_folder`: what the Spark sources read) and collected once to build the
driver's matrices, which the stages after this one use as they do with the local engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.spark.frames import ITEM, LISTENS, RECENT, USER, column, history_folder, one_row, record_history
from musicrec.pipeline.split import (
    HELD_OUT,
    HISTORY_ENDS_BEFORE,
    NO_LISTENS,
    PER_USER_MIN_LISTENS,
    PER_USER_SHARE,
    TARGET,
    TEST,
    TRAIN,
    Thickness,
    catalog_index,
    choose_split,
    save,
)
from musicrec.pipeline.workspace import Cutoff, Period, Workspace

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext

DAY, PERIOD = "day", "period"


class SparkLog:
    """The numbered listens on Spark (cached) as split.py's ListenLog; a period is a column."""

    def __init__(self, listens: DataFrame) -> None:
        self.listens = listens
        first, last, total = one_row(listens.agg(F.min(DAY), F.max(DAY), F.count(F.lit(1))))
        if not total:
            raise ArtifactError(NO_LISTENS)
        self.size, self.first_day, self.last_day = int(total), int(first), int(last)

    def thickness(self, end: int) -> Thickness:
        """Per-day counts and the first and last day of each user who listened on two days or more
        (the only ones a window can count) before `end`: as many rows as days and such users."""
        before = self.listens.filter(F.col(DAY) < end)
        per_day = before.groupBy(DAY).agg(F.count(F.lit(1)).alias(LISTENS)).orderBy(DAY).toArrow()
        spans = (before.groupBy(USER).agg(F.min(DAY).alias("first"), F.max(DAY).alias("last"))
                 .filter(F.col("first") < F.col("last")).toArrow())
        return Thickness.of(column(per_day, DAY, np.int64), column(per_day, LISTENS, np.int64),
                            column(spans, "first", np.int64), column(spans, "last", np.int64))

    def periods_by_day(self, target_start: int, test_start: int) -> Column:
        return (F.when(F.col(DAY) >= test_start, TEST).when(F.col(DAY) >= target_start, TARGET)
                .otherwise(TRAIN))

    def periods_per_user(self) -> tuple[Column, dict[str, tuple[int, int]]]:
        """split.per_user_periods on the executors: each listen's place from the end of its user's
        listens (by day, then track_seq, then track) decides its period."""
        user = Window.partitionBy(USER)
        from_end = F.row_number().over(user.orderBy(F.col(DAY).desc(), F.col(schema.TRACK_SEQ).desc(),
                                                    F.col(ITEM).desc())) - 1
        size = F.count(F.lit(1)).over(user)
        held = F.when(size >= PER_USER_MIN_LISTENS,
                      F.greatest(F.lit(1), F.floor(size * PER_USER_SHARE).cast("long"))).otherwise(0)
        period = F.when(from_end < held, TEST).when(from_end < 2 * held, TARGET).otherwise(TRAIN)
        listens = self.listens.withColumn(PERIOD, period).persist(StorageLevel.MEMORY_AND_DISK)
        self.listens.unpersist()
        self.listens = listens
        counts = {row[PERIOD]: (int(row["listens"]), int(row["users"])) for row in
                  listens.groupBy(PERIOD).agg(F.count(F.lit(1)).alias("listens"),
                                              F.countDistinct(USER).alias("users")).collect()}
        return F.col(PERIOD), {name: counts.get(value, (0, 0)) for name, value in (("target", TARGET),
                                                                                  ("test", TEST))}


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
    log = SparkLog(known.join(user_index, schema.USER_ID)
                   .select(USER, ITEM, F.datediff(F.col(schema.STARTED_AT), F.lit("1970-01-01")).alias(DAY),
                           schema.TRACK_SEQ)
                   .persist(StorageLevel.MEMORY_AND_DISK))
    chosen = choose_split(log, params)
    listens = log.listens.withColumn(PERIOD, chosen.period).select(USER, ITEM, DAY, PERIOD)

    def histories() -> Iterator[tuple[Cutoff, History]]:
        for name, cutoff in chosen.cutoffs.items():
            ends = HISTORY_ENDS_BEFORE[name]
            kept = listens if ends is None else listens.filter(F.col(PERIOD) < ends)
            yield name, history_of(kept, work, name, cutoff, chosen.recent_days, users, items)

    def pairs() -> Iterator[tuple[Period, Pairs]]:
        for name, value in HELD_OUT:
            yield name, period_pairs(listens, value, len(items))

    counts = {row[PERIOD]: int(row["count"]) for row in listens.groupBy(PERIOD).count().collect()}
    work.drop_sequence()  # the order stays on the cluster: similar tracks are ALS ones (similar.py)
    summary = save(work, chosen, log, histories(), pairs(),
                   np.array([counts.get(value, 0) for value in (TRAIN, TARGET, TEST)]), int(dropped))
    log.listens.unpersist()
    return summary


def history_of(kept: DataFrame, work: Workspace, name: Cutoff, cutoff: int, recent_days: int,
               users: IdIndex, items: IdIndex) -> History:
    """The history of the kept listens (`cutoff`: the first day after them; `recent_days` before it
    count as recent), its pair file written on the way. The driver collects 16 bytes a pair (two
    indexes, two counts) and one day per user and per track."""
    pairs = (kept.groupBy(USER, ITEM)
             .agg(F.count(F.lit(1)).cast("int").alias(LISTENS),
                  F.sum(F.when(F.col(DAY) >= cutoff - recent_days, 1).otherwise(0)).cast("int").alias(RECENT)))
    folder = history_folder(work, name)
    pairs.write.mode("overwrite").parquet(folder)
    table = kept.sparkSession.read.parquet(folder).toArrow()
    user, item = column(table, USER, np.int32), column(table, ITEM, np.int32)
    counts, recent = column(table, LISTENS, np.float32), column(table, RECENT, np.float32)
    del table
    shape = (len(users), len(items))
    history = History(users, items, _matrix(user, item, counts, shape),
                      _matrix(user[recent > 0], item[recent > 0], recent[recent > 0], shape),
                      _days(kept, ITEM, F.min(DAY), len(items)), _days(kept, USER, F.max(DAY), len(users)),
                      cutoff)
    record_history(work, name, history)
    return history


def _days(kept: DataFrame, key: str, day: Column, size: int) -> np.ndarray:
    """One day per entity (a track's first listen, a user's last) as a dense int32 array; -1 for an
    entity without kept listens."""
    table = kept.groupBy(key).agg(day.alias(DAY)).toArrow()
    out = np.full(size, -1, dtype=np.int32)
    out[column(table, key, np.int64)] = column(table, DAY, np.int32)
    return out


def _matrix(users: np.ndarray, items: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((counts, (users, items)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()  # and sorted indexes, as the local engine's
    return matrix


def period_pairs(listens: DataFrame, period: int, n_items: int) -> Pairs:
    """Distinct (user, track) pairs listened in `period` (TARGET or TEST)."""
    table = listens.filter(F.col(PERIOD) == period).select(USER, ITEM).distinct().toArrow()
    return Pairs.from_listens(column(table, USER, np.int32), column(table, ITEM, np.int32), n_items)
