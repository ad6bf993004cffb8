"""Histories as Spark frames, and Spark results back as numpy arrays (through Arrow, never row by row).

A history the split stage made is read by the executors from the pair file the Spark split wrote
beside it (`spark/history_<cutoff>/`); any other history (a tuning sample) exists only on the driver
and is sent from its matrices. Either way the frame has one row per (user, track) pair heard before
the cutoff: `user`, `item` (dense indexes), `listens` and `recent` (listens in the recent window).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Row

from musicrec.pipeline.data import History
from musicrec.pipeline.spark.session import SparkRun
from musicrec.pipeline.workspace import Cutoff, Workspace

USER, ITEM, LISTENS, RECENT = "user", "item", "listens", "recent"
HISTORIES = "spark/histories.json"


def history_folder(work: Workspace, cutoff: Cutoff) -> str:
    return str(work.output(f"spark/history_{cutoff}"))


def record_history(work: Workspace, cutoff: Cutoff, history: History) -> None:
    """Note which history a pair file holds, so `ratings` knows it when it meets it again."""
    path = work.path(HISTORIES)
    known = json.loads(path.read_text()) if path.exists() else {}
    known[cutoff] = _identity(history)
    work.save_json(HISTORIES, known)


def _identity(history: History) -> dict[str, Any]:
    """Enough to tell a history from another of the same cutoff and size (a later split's)."""
    matrix = history.matrix
    return {"cutoff_day": history.cutoff_day, "shape": list(matrix.shape), "pairs": int(matrix.nnz),
            "listens": float(matrix.data.sum(dtype=np.float64)),
            "tracks_sum": int(matrix.indices.sum(dtype=np.int64))}


def ratings(run: SparkRun, history: History) -> DataFrame:
    """The history as a Spark frame of its pairs (see the module's docstring)."""
    path = run.work.path(HISTORIES)
    known = json.loads(path.read_text()) if path.exists() else {}
    for cutoff, identity in known.items():
        if identity == _identity(history):
            return run.session.read.parquet(history_folder(run.work, cutoff))
    if run.cached and run.cached[0] is history.matrix:
        return run.cached[1]
    pairs = history.matrix.tocoo()
    recent = np.asarray(history.recent_matrix[pairs.row, pairs.col]).ravel() if pairs.nnz else np.zeros(0)
    frame = run.session.createDataFrame(pa.table({
        USER: pairs.row.astype(np.int32), ITEM: pairs.col.astype(np.int32),
        LISTENS: pairs.data.astype(np.int32), RECENT: recent.astype(np.int32)}))
    run.cached = [history.matrix, frame]
    return frame


def column(table: pa.Table, name: str, dtype: type | np.dtype) -> np.ndarray:
    """One column of a collected frame as a numpy array."""
    return table.column(name).combine_chunks().to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def one_row(frame: DataFrame) -> Row:
    """The row of an aggregate over a whole frame: Spark always makes one, `first()` is typed optional."""
    row = frame.first()
    if row is None:
        raise RuntimeError("an aggregate over a whole frame gave no row")
    return row


def scattered(table: pa.Table, index: str, name: str, size: int, dtype: type = np.int64) -> np.ndarray:
    """A per-entity column of a collected frame as a dense array of `size` (0 where absent)."""
    out: np.ndarray = np.zeros(size, dtype=dtype)
    out[column(table, index, np.int64)] = column(table, name, dtype)
    return out


def factors_array(frame: DataFrame, size: int, factors: int) -> np.ndarray:
    """Spark ALS factors (`id`, `features` array) as a dense float32 array; zeros for the ids that
    have none (no listens: the factors a least-squares solve gives them)."""
    table = frame.toArrow()
    out = np.zeros((size, factors), dtype=np.float32)
    if table.num_rows:
        values = pc.list_flatten(table.column("features")).to_numpy(zero_copy_only=False)
        out[column(table, "id", np.int64)] = np.asarray(values, dtype=np.float32).reshape(-1, factors)
    return out
