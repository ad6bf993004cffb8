"""Arrow values made from numpy buffers without a copy, and without importing pandas.

`pa.array(values)` converts through Python or numpy and imports pandas on first use, which would
lengthen a service's first answer; building from buffers does not.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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
