"""Dense indexes for sparse ids: raw user and track ids -> 0..n-1 and back.

Models and matrices want dense row and column numbers; the course ids are sparse (track ids up to
~1e8). Encoding 222M listens must be a vectorised lookup, never a dict: ids whose maximum is
moderate use a direct lookup table (one memory read per id), larger ones a binary search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.datasets.packed import distinct

# Above this maximum id a lookup table would cost more memory than a binary search costs time.
_MAX_TABLE_ID = 400_000_000
MISSING = -1


@dataclass(frozen=True)
class IdIndex:
    """Sorted unique raw ids; position in `ids` is the dense index."""

    ids: np.ndarray

    @classmethod
    def from_ids(cls, raw_ids: np.ndarray) -> IdIndex:
        """Index of the distinct ids in `raw_ids` (any order, repeats allowed)."""
        raw_ids = np.asarray(raw_ids)
        if raw_ids.size and raw_ids.min() < 0:
            raise ValueError("ids must be non-negative")
        if raw_ids.size and raw_ids.max() <= _MAX_TABLE_ID:
            present = np.zeros(int(raw_ids.max()) + 1, dtype=bool)
            present[raw_ids] = True
            return cls(np.flatnonzero(present).astype(np.int64))
        return cls(distinct(raw_ids).astype(np.int64))

    def __len__(self) -> int:
        return int(self.ids.size)

    def encode(self, raw_ids: np.ndarray) -> np.ndarray:
        """Dense int32 index of each raw id; ids not in the index become MISSING (-1)."""
        raw_ids = np.asarray(raw_ids)
        if not len(self):
            return np.full(raw_ids.shape, MISSING, dtype=np.int32)
        top = int(self.ids[-1])
        if top <= _MAX_TABLE_ID:
            table = np.full(top + 1, MISSING, dtype=np.int32)
            table[self.ids] = np.arange(len(self), dtype=np.int32)
            inside = (raw_ids >= 0) & (raw_ids <= top)
            dense = np.full(raw_ids.shape, MISSING, dtype=np.int32)
            dense[inside] = table[raw_ids[inside]]
            return dense
        position = np.searchsorted(self.ids, raw_ids).clip(0, len(self) - 1)
        found = self.ids[position] == raw_ids
        return np.where(found, position, MISSING).astype(np.int32)

    def decode(self, dense: np.ndarray) -> np.ndarray:
        """Raw ids of dense indexes."""
        raw: np.ndarray = self.ids[np.asarray(dense)]
        return raw
