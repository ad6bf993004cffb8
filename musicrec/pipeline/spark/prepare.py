"""The prepare stage on Spark: the listens read, validated and cleaned by the executors.

The same rules, counts and files as prepare.py. A listen with a null value or of a track that is
not in tracks.parquet is dropped, exact duplicates are dropped once, the rest is sorted by user and
track_seq (ties by track and day). The catalog (tracks and names: as many rows as tracks, not as
listens) is built on the driver by prepare.py's own code; its track ids go to the executors.

events.parquet is one file, as the artifact set publishes it: Spark writes the sorted listens as
numbered parts and the driver joins them in order, one row group at a time, so its memory stays flat.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_type

from musicrec import schema
from musicrec.datasets.raw import check_columns, raw_file, read_catalog_names, read_tracks
from musicrec.errors import RawDataError
from musicrec.pipeline.prepare import ROW_GROUP_SIZE, PrepareReport, build_items
from musicrec.pipeline.spark.frames import one_row
from musicrec.pipeline.workspace import Workspace

log = logging.getLogger(__name__)
PARTS = "spark/events"
KNOWN = "known_track"
COLUMNS = (schema.USER_ID, schema.TRACK_ID, schema.TRACK_SEQ, schema.STARTED_AT)


def prepare(session: SparkSession, raw_dir: Path, work: Workspace) -> PrepareReport:
    started = time.perf_counter()
    report = PrepareReport()
    items = build_items(read_tracks(raw_dir), read_catalog_names(raw_dir), report)
    pq.write_table(items, work.items_output())
    item_ids = items.column(schema.ITEM_ID).combine_chunks()
    del items
    listens = clean_listens(session, read_listens(session, raw_file(raw_dir, schema.INTERACTIONS_FILE)),
                            item_ids, report)
    parts = work.path(PARTS)
    order = [schema.USER_ID, schema.TRACK_SEQ, schema.ITEM_ID, schema.STARTED_AT]
    listens.orderBy(*order).select(*schema.EVENTS_SCHEMA.names).write.mode("overwrite").parquet(str(parts))
    listens.unpersist()
    join_parts(parts, work.events_output())
    shutil.rmtree(parts)
    report.seconds = time.perf_counter() - started
    log.info("%s", report.summary())
    return report


def read_listens(session: SparkSession, path: Path) -> DataFrame:
    """interactions.parquet with the canonical column types, or a RawDataError naming the file and
    the column (the same checks and messages as datasets/raw.py)."""
    frame = session.read.parquet(str(path))
    check_columns(path, _arrow_schema(path, frame), schema.INTERACTIONS_SCHEMA, COLUMNS)
    _check_ranges(path, frame)
    return frame.select(F.col(schema.USER_ID).cast("int"), F.col(schema.TRACK_ID).cast("int"),
                        F.col(schema.TRACK_SEQ).cast("short"),
                        F.to_date(F.col(schema.STARTED_AT)).alias(schema.STARTED_AT))


def _arrow_schema(path: Path, frame: DataFrame) -> pa.Schema:
    fields = []
    for column in frame.schema.fields:
        try:
            fields.append(pa.field(column.name, to_arrow_type(column.dataType)))
        except TypeError:
            raise RawDataError(f"{path}: column {column.name!r} has type {column.dataType.simpleString()}, "
                               "which cannot be read") from None
    return pa.schema(fields)


def _check_ranges(path: Path, frame: DataFrame) -> None:
    """Integer columns wider than their canonical type must hold values that fit it (as pyarrow's safe
    cast requires in the local engine): one pass computes every bound needed."""
    bounds = {}
    for name in (schema.USER_ID, schema.TRACK_ID, schema.TRACK_SEQ):
        target = schema.INTERACTIONS_SCHEMA.field(name).type
        if to_arrow_type(frame.schema[name].dataType).bit_width > target.bit_width:
            bounds[name] = np.iinfo(target.to_pandas_dtype())
    if not bounds:
        return
    found = one_row(frame.agg(*[F.min(name).alias(f"{name}_min") for name in bounds],
                              *[F.max(name).alias(f"{name}_max") for name in bounds]))
    for name, limits in bounds.items():
        low, high = found[f"{name}_min"], found[f"{name}_max"]
        if low is not None and (low < limits.min or high > limits.max):
            raise RawDataError(f"{path}: column {name!r} cannot be read as "
                               f"{schema.INTERACTIONS_SCHEMA.field(name).type}: values from {low} to {high}")


def clean_listens(session: SparkSession, listens: DataFrame, item_ids: pa.Array,
                  report: PrepareReport) -> DataFrame:
    """The usable, distinct listens (cached: the caller writes them and unpersists), each count of what
    was dropped in `report`."""
    catalog = session.createDataFrame(pa.table({KNOWN: item_ids.cast(pa.int32())}))
    usable = F.lit(True)
    for name in COLUMNS:
        usable = usable & F.col(name).isNotNull()
    flagged = (listens.join(F.broadcast(catalog), listens[schema.TRACK_ID] == catalog[KNOWN], "left")
               .withColumn("usable", usable))
    counts = one_row(flagged.agg(
        F.count(F.lit(1)).alias("read"),
        F.sum(F.when(~F.col("usable"), 1).otherwise(0)).alias("nulls"),
        F.sum(F.when(F.col("usable") & F.col(KNOWN).isNull(), 1).otherwise(0)).alias("unknown")))
    report.listens_read = int(counts["read"])
    report.listens_with_null_values = int(counts["nulls"] or 0)
    report.listens_of_unknown_tracks = int(counts["unknown"] or 0)
    kept = (flagged.filter(F.col("usable") & F.col(KNOWN).isNotNull())
            .select(F.col(schema.USER_ID), F.col(schema.TRACK_ID).alias(schema.ITEM_ID),
                    F.col(schema.STARTED_AT), F.col(schema.TRACK_SEQ))
            .dropDuplicates().persist())
    written = one_row(kept.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(schema.USER_ID).alias("users")))
    report.events_written, report.users = int(written["rows"]), int(written["users"])
    report.duplicate_listens = (report.listens_read - report.listens_with_null_values
                                - report.listens_of_unknown_tracks - report.events_written)
    return kept


def join_parts(parts: Path, out: Path) -> None:
    """Spark's sorted parts (numbered in sort order) as one parquet file of EVENTS_SCHEMA."""
    files = sorted(parts.glob("part-*.parquet"), key=lambda file: int(file.name.split("-")[1]))
    with pq.ParquetWriter(out, schema.EVENTS_SCHEMA) as writer:
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=ROW_GROUP_SIZE):
                writer.write_table(pa.Table.from_batches([batch]).cast(schema.EVENTS_SCHEMA),
                                   row_group_size=ROW_GROUP_SIZE)
