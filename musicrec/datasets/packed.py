"""Fast array primitives for tens of millions of values, built on one plain sort of packed keys.

A few operations dominate the generator's and the pipeline's time when written the obvious way: a
binary search of random targets in a large array (`np.searchsorted` misses the cache at every
step), "first occurrence of each value" (`np.unique(return_index=True)` does a slow stable
argsort), and distinct values and membership (NumPy 2.4's `np.unique`, which `np.isin` calls on
both its arrays, goes through a hash table, far slower than a sort on many distinct integers).
Each becomes several times faster built on one in-place sort: the first two pack each value and
its position into one uint64 and read the position back from the low bits.
"""

from __future__ import annotations

import numpy as np


def _pack(values: np.ndarray, position_bits: int) -> np.ndarray:
    shift = np.uint64(position_bits)
    return (values.astype(np.uint64) << shift) | np.arange(values.size, dtype=np.uint64)


def _positions(packed: np.ndarray, position_bits: int) -> np.ndarray:
    return (packed & np.uint64(2**position_bits - 1)).astype(np.int64)


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values: `np.unique(values)` from one plain sort."""
    ordered = np.sort(values, axis=None)
    if ordered.size < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def is_member(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """`np.isin(values, members)` by a binary search in `members`, made sorted and distinct first
    unless they are (np.isin would make both arrays distinct through `np.unique`)."""
    if not members.size:
        return np.zeros(values.shape, dtype=bool)
    if not np.all(members[1:] > members[:-1]):
        members = distinct(members)
    found = np.searchsorted(members, values).clip(0, members.size - 1)
    return members[found] == values


def first_occurrences(values: np.ndarray) -> np.ndarray:
    """Sorted positions of the first occurrence of each distinct non-negative integer in `values`.

    The same as `np.sort(np.unique(values, return_index=True)[1])`.
    """
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    position_bits = max(int(values.size).bit_length(), 1)
    if int(values.max()).bit_length() + position_bits > 64:
        return np.sort(np.unique(values, return_index=True)[1])
    packed = _pack(values, position_bits)
    packed.sort()
    value = packed >> np.uint64(position_bits)
    first = np.ones(values.size, dtype=bool)
    first[1:] = value[1:] != value[:-1]
    return np.sort(_positions(packed[first], position_bits))


def sorted_search(cumulative: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target t, the last row r with cumulative[r] < t (cumulative is non-decreasing).

    Same answer as `np.searchsorted(cumulative, targets, side="left") - 1`, but the targets are
    sorted first (packed with their positions), so the search walks the array almost
    sequentially. Targets become fixed point with at least 36 bits, far finer than any weight
    that matters here.
    """
    position_bits = max(int(targets.size).bit_length(), 1)
    scale = float(2 ** (63 - position_bits)) / max(float(cumulative[-1]), 1e-300)
    shift = np.uint64(position_bits)
    keys = _pack(np.minimum(targets * scale, 2.0 ** (63 - position_bits) - 1), position_bits)
    keys.sort()
    position_mask = np.uint64(2**position_bits - 1)  # larger than any position: ties sort after keys
    boundaries = ((cumulative * scale).astype(np.uint64) << shift) | position_mask
    rows = np.empty(targets.size, dtype=np.int64)
    rows[_positions(keys, position_bits)] = np.searchsorted(boundaries, keys) - 1
    return rows
