"""Compact in-memory indexes over the artifacts: key -> ranked (item, score) lists.

The course services answered every request with a pandas scan of the whole artifact. Here each
artifact is loaded once into flat numpy arrays in CSR form (sorted unique keys, offsets into flat
item and score arrays), so a request reads only its own rows and the memory is 8 bytes per row plus
12 bytes per key, whatever the table size. A key is found with one index into a direct key -> row
table when the keys are dense (user ids 0..N-1), else with one binary search.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

KEY_MIN, KEY_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max  # keys are int32 in every artifact
# A direct key -> row table is kept when the largest key is below this many times the number of keys,
# so it costs at most 16 bytes per key and makes a lookup one index instead of a binary search.
# Sparse keys (track ids of a large catalogue) use the search.
DIRECT_TABLE_MAX_SPREAD = 4


@dataclass(frozen=True)
class RankedLists:
    """For every key (a user or a track) its items, best first, with their scores.

    Attributes
    ----------
    keys : sorted unique int32 keys.
    offsets : int64, ``len(keys) + 1``; the items of ``keys[i]`` are ``items[offsets[i]:offsets[i+1]]``.
    items, scores : flat int32 items and float32 scores in the artifact's order (best first).
    rows_by_key : int32 row of every key from 0 to the largest (-1 for none), or None for sparse keys;
        derived from `keys` when not given (a mapped index passes the one it saved).
    """

    keys: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    rows_by_key: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rows_by_key is None:
            object.__setattr__(self, "rows_by_key", _direct_table(self.keys))

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def rows(self) -> int:
        return len(self.items)

    @property
    def nbytes(self) -> int:
        table = 0 if self.rows_by_key is None else self.rows_by_key.nbytes
        return self.keys.nbytes + self.offsets.nbytes + self.items.nbytes + self.scores.nbytes + table

    def _position(self, key: int) -> int:
        """Index of `key` in `keys`, or -1: one index into the direct table, or one binary search.

        The key is given the keys' own dtype first, because searching an int32 array for a Python int
        makes numpy convert the whole array to int64 on every call.
        """
        if self.rows_by_key is not None:
            return int(self.rows_by_key[key]) if 0 <= key < len(self.rows_by_key) else -1
        if not KEY_MIN <= key <= KEY_MAX:
            return -1
        position = int(self.keys.searchsorted(np.int32(key)))
        if position < len(self.keys) and self.keys[position] == key:
            return position
        return -1

    def __contains__(self, key: int) -> bool:
        return self._position(key) >= 0

    def span(self, key: int) -> tuple[int, int]:
        """Where `key`'s rows are in the flat arrays, as (start, stop); (0, 0) if unknown.

        Rows keep the artifact's order, so a column kept beside them (such as which source proposed
        each recommendation) is read for a key with the same span.
        """
        position = self._position(key)
        if position < 0:
            return 0, 0
        return int(self.offsets[position]), int(self.offsets[position + 1])

    def lookup(self, key: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first `k` items and scores of `key` (views, not copies); empty arrays if unknown."""
        start, stop = self.span(key)
        stop = min(stop, start + k)
        return self.items[start:stop], self.scores[start:stop]

    def lookup_many(self, keys: Iterable[int], k: int) -> list[tuple[list[int], list[float]]]:
        """The first `k` items and scores of each key, in order, as Python lists (empty if unknown).

        What a batch of similar-track questions needs, from the features service or in process.
        """
        answers = []
        for key in keys:
            items, scores = self.lookup(key, k)
            answers.append((items.tolist(), scores.tolist()))
        return answers


def _direct_table(keys: np.ndarray) -> np.ndarray | None:
    """The row of every key from 0 to the largest, when keys are non-negative and dense enough."""
    if len(keys) == 0 or keys[0] < 0 or int(keys[-1]) >= DIRECT_TABLE_MAX_SPREAD * len(keys):
        return None
    table = np.full(int(keys[-1]) + 1, -1, dtype=np.int32)
    table[keys] = np.arange(len(keys), dtype=np.int32)
    return table
