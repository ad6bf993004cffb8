"""Artifact columns read as data, not trusted: each checked against its type in `musicrec.schema`.

A file made elsewhere (the course project's, an older pipeline's, a hand-made one) may store a
column wider or differently than ours. Widening that loses nothing is fine: int64 ids that fit
int32, float64 scores. Anything that would wrap around or change meaning is refused at start-up
with the file and the column named: an int64 id beyond int32 (4294968795 was served as user 1499),
a bool or text column where ids belong (a bool `item_id_2` served ids 1 and 0), NaN scores, nulls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from musicrec import schema
from musicrec.errors import ArtifactError

INT32 = np.iinfo(np.int32)

# Arrow's fixed-width number types whose values buffer numpy can view as it is.
_NUMPY_TYPES: dict[pa.DataType, type[np.integer[Any]] | type[np.floating[Any]]] = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
    pa.float16(): np.float16, pa.float32(): np.float32, pa.float64(): np.float64,
}


def artifact_error(path: Path, problem: str) -> ArtifactError:
    """One wording for every unusable artifact: which file, what is wrong, how to make it."""
    return ArtifactError(f"{path}: {problem}. Make the artifacts with: {schema.MAKE_ARTIFACTS_COMMAND}")


def column_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy view of a number column without nulls.

    Not `Array.to_numpy()`, because its first call imports pandas, which the services never use
    otherwise and which would lengthen every start-up.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dtype = _NUMPY_TYPES.get(column.type)
    if dtype is None:
        values: np.ndarray = column.to_numpy(zero_copy_only=False)
        return values
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * itemsize)


def checked_column(batch: pa.RecordBatch | pa.Table, name: str, expected: pa.Schema, path: Path) -> np.ndarray:
    """Column `name` as numpy in the type `expected` gives it; ArtifactError if that would change it."""
    column = batch.column(name)
    wanted = expected.field(name).type
    if column.null_count:
        raise artifact_error(path, f"column {name} has {column.null_count} null value(s)")
    if pa.types.is_integer(wanted):
        return _integers(column, name, wanted, path)
    if pa.types.is_floating(wanted):
        return _floats(column, name, wanted, path)
    raise TypeError(f"no check for {wanted} columns")  # a schema.py type this module does not know yet


def _integers(column: pa.Array | pa.ChunkedArray, name: str, wanted: pa.DataType, path: Path) -> np.ndarray:
    if not pa.types.is_integer(column.type):
        raise artifact_error(path, f"column {name} holds {column.type}, expected {wanted} (whole numbers)")
    values = column_values(column)
    target = np.dtype(_NUMPY_TYPES[wanted])
    if len(values) and not np.can_cast(values.dtype, target, casting="safe"):
        limits = np.iinfo(target)
        low, high = int(values.min()), int(values.max())
        if low < limits.min or high > limits.max:
            outside = high if high > limits.max else low
            wrapped = (outside - limits.min) % 2 ** (8 * target.itemsize) + limits.min
            raise artifact_error(path, f"column {name} holds {outside}, outside {wanted} "
                                       f"({limits.min}..{limits.max}): it would become {wrapped}")
    return values.astype(target, copy=False)


def _floats(column: pa.Array | pa.ChunkedArray, name: str, wanted: pa.DataType, path: Path) -> np.ndarray:
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise artifact_error(path, f"column {name} holds {column.type}, expected {wanted} (numbers)")
    with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf, refused below
        values = column_values(column).astype(_NUMPY_TYPES[wanted], copy=False)
    not_finite = int(np.count_nonzero(~np.isfinite(values)))
    if not_finite:
        raise artifact_error(path, f"column {name} has {not_finite} value(s) that are not finite numbers "
                                   f"(NaN, infinite, or beyond {wanted})")
    return values
