"""The typed values the pipeline's stages hand each other: listening history, pairs, candidates.

Everything is in dense indexes (users and tracks numbered 0..n-1 by `IdIndex`); only published
artifacts carry raw ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from musicrec.datasets.packed import distinct
from musicrec.pipeline.ids import IdIndex


@dataclass(frozen=True)
class Pairs:
    """Distinct (user, item) pairs in dense indexes, sorted by user then item."""

    users: np.ndarray
    items: np.ndarray

    @classmethod
    def from_listens(cls, users: np.ndarray, items: np.ndarray, n_items: int) -> Pairs:
        keys = distinct(users.astype(np.int64) * n_items + items)
        return cls((keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32))

    def keys(self, n_items: int) -> np.ndarray:
        """One int64 per pair, for fast membership tests (np.isin)."""
        keys: np.ndarray = self.users.astype(np.int64) * n_items + self.items
        return keys

    def of_users(self, users: np.ndarray) -> Pairs:
        """The pairs of the given users only."""
        keep = np.isin(self.users, users)
        return Pairs(self.users[keep], self.items[keep])

    def unheard_in(self, history: History) -> Pairs:
        """The pairs whose track the user had not heard in `history` (what a model can recommend)."""
        if not self.users.size:
            return self
        heard = np.asarray(history.matrix[self.users, self.items]).ravel() > 0
        return Pairs(self.users[~heard], self.items[~heard])


@dataclass(frozen=True)
class History:
    """Listening up to a cutoff day, in dense indexes: what a model fit at that day may know.

    The pipeline keeps three: `fit` (before the ranker's target window), `eval` (before the test
    period) and `serve` (everything); the same code builds lists from each.
    """

    users: IdIndex  # every user of the whole event log
    items: IdIndex  # every catalog track
    matrix: sp.csr_matrix  # users x items listen counts before the cutoff (float32)
    recent_matrix: sp.csr_matrix  # the same for the last `recent_days` before the cutoff
    item_first_day: np.ndarray  # first listen (days since epoch), int32; -1 if none
    user_last_day: np.ndarray  # last listen, int32; -1 if none
    cutoff_day: int  # first day not in the history

    @property
    def item_listens(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)

    @property
    def item_listeners(self) -> np.ndarray:
        return np.bincount(self.matrix.indices, minlength=self.matrix.shape[1]).astype(np.int64)

    @property
    def item_recent_listens(self) -> np.ndarray:
        return np.asarray(self.recent_matrix.sum(axis=0)).ravel().astype(np.int64)

    @property
    def user_listens(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=1)).ravel().astype(np.int64)

    @property
    def user_recent_listens(self) -> np.ndarray:
        return np.asarray(self.recent_matrix.sum(axis=1)).ravel().astype(np.int64)

    @property
    def active_users(self) -> np.ndarray:
        """Dense indexes of the users with at least one listen in the history."""
        return np.flatnonzero(np.diff(self.matrix.indptr) > 0)

    def restricted_to(self, users: np.ndarray, items: np.ndarray) -> History:
        """The history of the given users and tracks only (both sorted dense indexes), renumbered
        0..n-1: a sample whose fits cost what its own size costs, not the whole catalog's."""
        rows = self.matrix[users][:, items].tocsr()
        recent = self.recent_matrix[users][:, items].tocsr()
        return History(IdIndex(self.users.ids[users]), IdIndex(self.items.ids[items]), rows, recent,
                       self.item_first_day[items], self.user_last_day[users], self.cutoff_day)


@dataclass(frozen=True)
class Candidates:
    """Ranked track lists for many users as flat arrays, sorted by user, then rank (1-based)."""

    users: np.ndarray  # int32
    items: np.ndarray  # int32
    scores: np.ndarray  # float32, higher is better
    ranks: np.ndarray  # int32
    proposers: np.ndarray | None = None  # int8: which candidate source proposed each row, if known

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32),
                   np.zeros(0, np.int32))

    @classmethod
    def top_by_score(cls, users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                     k: int) -> Candidates:
        """Per user, the k highest-scored items (ties by item index, so results are stable)."""
        order = by_user_then_score(users, items, scores)
        users, items, scores = users[order], items[order], scores[order]
        rank = rank_within_user(users)
        keep = rank <= k
        return cls(users[keep].astype(np.int32), items[keep].astype(np.int32),
                   scores[keep].astype(np.float32), rank[keep])

    def __len__(self) -> int:
        return int(self.users.size)

    def keys(self, n_items: int) -> np.ndarray:
        keys: np.ndarray = self.users.astype(np.int64) * n_items + self.items
        return keys

    def top(self, k: int) -> Candidates:
        keep = self.ranks <= k
        return Candidates(self.users[keep], self.items[keep], self.scores[keep], self.ranks[keep])

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        if not parts:
            return cls.empty()
        users, items, scores, ranks = (np.concatenate([getattr(part, name) for part in parts])
                                       for name in ("users", "items", "scores", "ranks"))
        known = all(part.proposers is not None for part in parts)
        return cls(users, items, scores, ranks, np.concatenate([part.proposers for part in parts]) if known else None)


def by_user_then_score(users: np.ndarray, items: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The order of `np.lexsort((items, -scores, users))`, from one stable sort of a uint64 key
    (user, then the float32 score's bits turned so that higher scores come first); the rows are put
    in item order first only when they are not already sorted by user, then item."""
    if scores.dtype != np.float32 or (users.size and users.min() < 0):
        return np.lexsort((items, -scores, users))
    descending = (-scores + np.float32(0.0)).view(np.uint32)  # + 0.0 makes -0.0 equal to 0.0
    negative = descending >> np.uint32(31) == 1
    ordered_bits = np.where(negative, ~descending, descending | np.uint32(0x80000000))
    key = (np.asarray(users).astype(np.uint64) << np.uint64(32)) | ordered_bits.astype(np.uint64)
    if _sorted_by_user_then_item(users, items):
        return np.argsort(key, kind="stable")
    by_item = np.argsort(items, kind="stable")
    return by_item[np.argsort(key[by_item], kind="stable")]


def _sorted_by_user_then_item(users: np.ndarray, items: np.ndarray) -> bool:
    same_user = users[1:] == users[:-1]
    return bool(np.all(users[1:] >= users[:-1]) and np.all(~same_user | (items[1:] > items[:-1])))


def rank_within_user(users: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal (sorted) user values, int32."""
    if not users.size:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, users.size])
    return (np.arange(users.size) - np.repeat(starts, sizes) + 1).astype(np.int32)


def user_runs(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of equal values in a sorted user array."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.zeros(0, int)
    return starts, np.diff(np.r_[starts, users.size])
