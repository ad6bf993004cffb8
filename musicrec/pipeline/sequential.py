"""Tracks played soon after a track in the same user's history: the order of listening as similarity.

The online half asks "what comes after the listens I just had?"; ALS neighbours answer "what is
heard by the same people", which ignores order. Here a pair (a, b) counts each time b follows a
within `window` positions of one user's listens (by track_seq), weighted by decay^(distance - 1).

The listens are read in blocks of users (a user's pairs stay in one block) and counted by one plain
sort of packed keys per range of first tracks, so memory holds one range's pairs at any size, never a
Python loop over users: each key packs (a, b, distance - 1), so one pass gives the counts at every
distance and any (window, decay) of the search is a weighted sum of columns, not another pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from musicrec.pipeline.data import Candidates

MAX_WINDOW = 8  # the distance is packed in 3 bits of a key
_DISTANCE_BITS = np.int64(3)


@dataclass(frozen=True)
class Sequence:
    """Every listen in listening order (by user, then track_seq), as dense arrays.

    `starts[u]:starts[u + 1]` are user u's listens; `period` is split.TRAIN / TARGET / TEST of each
    listen. A history at a cutoff is the listens whose period is before the cutoff's (within a user,
    periods never go back, so a history keeps a prefix of each user's listens).
    """

    items: np.ndarray  # int32 dense item index
    period: np.ndarray  # int8
    starts: np.ndarray  # int64, n_users + 1

    @property
    def n_users(self) -> int:
        return int(self.starts.size - 1)

    def chunks(self, listens: int) -> Iterator[tuple[int, int]]:
        """(first, last + 1) listen of consecutive user blocks of about `listens` listens each;
        a user is never cut, so every pair stays inside one chunk."""
        first, total = 0, int(self.starts[-1])
        while first < total:
            # the first user boundary at least `listens` after `first` (or the end)
            boundary = int(np.searchsorted(self.starts, first + max(listens, 1), side="left"))
            last = int(self.starts[boundary]) if boundary <= self.n_users else total
            yield first, last
            first = last

    def users_of(self, first: int, last: int) -> np.ndarray:
        """The user of each listen from `first` to `last` (a chunk's bounds)."""
        lo = int(np.searchsorted(self.starts, first, side="right")) - 1
        hi = int(np.searchsorted(self.starts, last, side="left"))
        bounds = np.clip(self.starts[lo:hi + 1], first, last) - first
        return np.repeat(np.arange(lo, hi, dtype=np.int32), np.diff(bounds))


@dataclass(frozen=True)
class NextListens:
    """Consecutive listens of one user, the later one in a judged period: (previous, next) tracks.

    The question the online half answers: from the listen just before, is the next one among the
    similar tracks? A repeat of the same track is left out (similar tracks never hold the track
    itself)."""

    previous: np.ndarray  # int32 dense item index
    next: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.next.size)

    def sample(self, limit: int, rng: np.random.Generator) -> NextListens:
        if self.next.size <= limit:
            return self
        keep = np.sort(rng.choice(self.next.size, size=limit, replace=False))
        return NextListens(self.previous[keep], self.next[keep])


    def from_tracks(self, asked: np.ndarray) -> NextListens:
        """The pairs whose previous track is asked (a boolean mask over the tracks)."""
        keep = asked[self.previous]
        return NextListens(self.previous[keep], self.next[keep])

    def halves(self, rng: np.random.Generator) -> tuple[NextListens, NextListens]:
        """The pairs split at random in two: one to search settings on, one to judge them."""
        order = rng.permutation(self.next.size)
        first, second = np.sort(order[: self.next.size // 2]), np.sort(order[self.next.size // 2:])
        return (NextListens(self.previous[first], self.next[first]),
                NextListens(self.previous[second], self.next[second]))


def next_listens(sequence: Sequence, period: int, chunk_listens: int) -> NextListens:
    """Every (previous, next) pair whose later listen is in `period` (its previous listen may be
    from an earlier period: the user's history the service would hold)."""
    previous, following = [], []
    for first, last in sequence.chunks(chunk_listens):
        items, users = np.asarray(sequence.items[first:last]), sequence.users_of(first, last)
        later = np.asarray(sequence.period[first + 1:last]) == period
        keep = later & (users[1:] == users[:-1]) & (items[1:] != items[:-1])
        previous.append(items[:-1][keep])
        following.append(items[1:][keep])
    if not previous:
        return NextListens(np.zeros(0, np.int32), np.zeros(0, np.int32))
    return NextListens(np.concatenate(previous).astype(np.int32), np.concatenate(following).astype(np.int32))


@dataclass(frozen=True)
class FollowCounts:
    """How often b followed a at each distance 1..window: `counts[j, d - 1]` for the pair `keys[j]`
    (a * n_items + b, sorted and distinct)."""

    keys: np.ndarray  # int64
    counts: np.ndarray  # float32, pairs x window
    n_items: int

    @property
    def first(self) -> np.ndarray:
        return (self.keys // self.n_items).astype(np.int32)

    @property
    def second(self) -> np.ndarray:
        return (self.keys % self.n_items).astype(np.int32)

    def weights(self, window: int, decay: float) -> np.ndarray:
        """Σ over distances d <= window of decay^(d - 1) x the count at d, per pair."""
        window = min(window, self.counts.shape[1])
        return self.counts[:, :window] @ (decay ** np.arange(window, dtype=np.float32)).astype(np.float32)


def _chunk_keys(items: np.ndarray, users: np.ndarray, window: int, n_items: int,
                wanted: np.ndarray | None) -> np.ndarray:
    """Keys (a * n_items + b) << 3 | (distance - 1) of one chunk's following pairs (unsorted)."""
    parts = []
    for distance in range(1, window + 1):
        a, b = items[:-distance], items[distance:]
        keep = (users[:-distance] == users[distance:]) & (a != b)
        if wanted is not None:
            keep &= wanted[a]
        pair = a[keep].astype(np.int64)
        pair *= n_items
        pair += b[keep]
        pair <<= _DISTANCE_BITS
        pair |= np.int64(distance - 1)
        parts.append(pair)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _starts(values: np.ndarray) -> np.ndarray:
    """Positions where a run of equal values begins in a sorted array."""
    new = np.empty(values.size, dtype=bool)
    if values.size:
        new[0] = True
        np.not_equal(values[1:], values[:-1], out=new[1:])
    return np.flatnonzero(new)


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted `keys` and how often each occurs."""
    starts = _starts(keys)
    return keys[starts], np.diff(starts, append=keys.size).astype(np.float32)


def follow_counts(sequence: Sequence, ends_before: int | None, window: int, n_items: int,
                  chunk_listens: int, rows: np.ndarray | None = None) -> FollowCounts:
    """Pairs (a, b) with b within `window` listens after a, among the listens whose period is before
    `ends_before` (all when None), only for first tracks in `rows` (dense items) if given.

    Chunked by users (a user's pairs stay in one chunk), the pairs of `rows` then counted by one
    sort of their packed keys: memory holds the pairs of `rows`, so for every track use
    `follow_counts_in_parts`.
    """
    wanted = None
    if rows is not None:
        wanted = np.zeros(n_items, dtype=bool)
        wanted[rows] = True
    return _follow_counts(sequence, ends_before, window, n_items, chunk_listens, wanted)


def item_parts(item_listens: np.ndarray, window: int, part_pairs: int) -> list[tuple[int, int]]:
    """Ranges of first tracks [lo, hi) whose pairs (at most listens x window each) number about
    `part_pairs` at most (a track with more makes a part of its own)."""
    cumulative = np.cumsum(item_listens.astype(np.int64) * window)
    bounds, lo = [], 0
    while lo < item_listens.size:
        before = int(cumulative[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(cumulative, before + part_pairs, side="right")), lo + 1)
        bounds.append((lo, min(hi, int(item_listens.size))))
        lo = hi
    return bounds


def follow_counts_in_parts(sequence: Sequence, ends_before: int | None, window: int, n_items: int,
                           chunk_listens: int, item_listens: np.ndarray, part_pairs: int,
                           rows: np.ndarray | None = None) -> Iterator[FollowCounts]:
    """The follow counts of every track (of `rows` only, if given), one range of first tracks at a
    time (`item_parts`): memory holds one part's pairs, whatever the size of the data; each part is
    one pass over the listens."""
    asked = np.ones(n_items, dtype=bool)
    if rows is not None:
        asked[:] = False
        asked[rows] = True
    for lo, hi in item_parts(np.where(asked, item_listens, 0), window, part_pairs):
        wanted = np.zeros(n_items, dtype=bool)
        wanted[lo:hi] = asked[lo:hi]
        if wanted.any():
            yield _follow_counts(sequence, ends_before, window, n_items, chunk_listens, wanted)


def _follow_counts(sequence: Sequence, ends_before: int | None, window: int, n_items: int,
                   chunk_listens: int, wanted: np.ndarray | None) -> FollowCounts:
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be 1..{MAX_WINDOW}, got {window}")
    keys = []
    for first, last in sequence.chunks(chunk_listens):
        items = np.asarray(sequence.items[first:last])
        users = sequence.users_of(first, last)
        if ends_before is not None:
            inside = np.asarray(sequence.period[first:last]) < ends_before
            items, users = items[inside], users[inside]
        keys.append(_chunk_keys(items, users, window, n_items, wanted))
    every = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    del keys
    every.sort()  # in place: one plain sort of the part's pairs, the fastest way to count them
    return _as_rows(*_runs(every), window, n_items)


def _as_rows(keys: np.ndarray, counts: np.ndarray, window: int, n_items: int) -> FollowCounts:
    """Distinct (pair, distance) keys and their counts as one row of `window` counts per pair."""
    pair = keys >> _DISTANCE_BITS
    starts = _starts(pair)
    row = np.zeros(pair.size, dtype=np.int64)
    row[starts[1:]] = 1
    np.cumsum(row, out=row)
    row *= window
    row += keys & np.int64(MAX_WINDOW - 1)
    matrix = np.zeros(starts.size * window, dtype=np.float32)
    matrix[row] = counts
    return FollowCounts(pair[starts], matrix.reshape(starts.size, window), n_items)


@dataclass(frozen=True)
class SequentialParams:
    """One setting of the sequential neighbours: how far after a track counts, how fast the weight
    of a later position falls, and how much a popular follower is damped (its listens^damping)."""

    window: int = 3
    decay: float = 1.0
    damping: float = 0.0

    def label(self) -> str:
        return f"window={self.window} decay={self.decay:g} damping={self.damping:g}"


def sequential_neighbours(counts: FollowCounts, params: SequentialParams, item_listens: np.ndarray,
                          k: int) -> Candidates:
    """The k best followers of each track, as Candidates with `users` = the first track.

    Score = weight(a, b) / listens(b)^damping / Σ_b' weight(a, b'): the share of what follows a that
    is b (damped for b's popularity), so scores of different tracks compare, as the online merge of
    several recent listens needs.
    """
    weights = counts.weights(params.window, params.decay)
    keep = weights > 0
    first, second, weights = counts.first[keep], counts.second[keep], weights[keep]
    if not first.size:
        return Candidates.empty()
    starts = _starts(first)
    sizes = np.diff(starts, append=first.size)
    score = weights / np.repeat(np.add.reduceat(weights, starts), sizes)
    if params.damping:
        score /= np.maximum(item_listens[second], 1).astype(np.float32) ** np.float32(params.damping)
    keep = score >= np.repeat(_floor_of_top(score.astype(np.float32), starts, k), sizes)
    return Candidates.top_by_score(first[keep], second[keep], score[keep].astype(np.float32), k)


PRUNING_LEVELS = (0.01, 0.03, 0.1, 0.3)  # shares of a track's best score tried as floors, loosest first


def _floor_of_top(score: np.ndarray, starts: np.ndarray, k: int) -> np.ndarray:
    """Per track, a score at or below its k-th best: the highest of PRUNING_LEVELS x its best score
    that at least k of its followers reach (0 if none). Dropping what scores below it leaves every
    track's top k as it was and saves sorting the long tail of followers heard once."""
    best = np.maximum.reduceat(score, starts)
    best_of_each = np.repeat(best, np.diff(starts, append=score.size))
    floor = np.zeros(starts.size, dtype=np.float32)
    for level in PRUNING_LEVELS:
        enough = np.add.reduceat((score >= best_of_each * np.float32(level)).astype(np.int32), starts) >= k
        floor[enough] = best[enough] * np.float32(level)
    return floor
