"""Weighted sampling of a member inside a group, for millions of draws at once.

The generator constantly asks "a track of this artist, by popularity" or "an artist of this genre,
by popularity", for every listen of a chunk of users. A per-group `rng.choice` would be a Python
loop; instead members are stored sorted by group with one global cumulative weight, so a draw in
group g is a uniform number scaled into g's slice of the cumulative sum plus one `searchsorted`.
"""

from __future__ import annotations

import numpy as np

from musicrec.datasets.packed import sorted_search

NO_MEMBER = -1


class GroupedSampler:
    """Draw members of groups with probability proportional to their weight.

    Parameters
    ----------
    groups : np.ndarray
        Group number (0..n_groups-1) of each membership row.
    members : np.ndarray
        The member (e.g. a track index) of each row; a member may belong to several groups.
    weights : np.ndarray
        Non-negative weight of each row; a zero-weight row is never drawn.
    n_groups : int
        Number of groups, so that empty trailing groups are known too.
    """

    def __init__(self, groups: np.ndarray, members: np.ndarray, weights: np.ndarray, n_groups: int):
        order = np.argsort(groups, kind="stable")
        self._members = np.asarray(members)[order]
        counts = np.bincount(np.asarray(groups)[order], minlength=n_groups)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64)[order])])

    def sample(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One member per entry of `groups`; `NO_MEMBER` where a group has no weight or is NO_MEMBER."""
        groups = np.asarray(groups)
        known = groups != NO_MEMBER
        groups = np.where(known, groups, 0)
        low = self._offsets[groups]
        high = self._offsets[groups + 1]
        base = self._cumulative[low]
        total = np.where(known, self._cumulative[high] - base, 0.0)
        target = base + (1.0 - rng.random(groups.size)) * total  # in (base, base + total]
        rows = sorted_search(self._cumulative, target)
        rows = np.clip(rows, low, np.maximum(high - 1, low))
        drawn = self._members[np.minimum(rows, self._members.size - 1)]
        return np.where(total > 0, drawn, NO_MEMBER)
