"""Tracks played soon after a track: the pairs, their weights, chunking, and the next listens judged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from musicrec.pipeline.data import Candidates
from musicrec.pipeline.sequential import (
    FollowCounts,
    Sequence,
    SequentialParams,
    follow_counts,
    follow_counts_in_parts,
    item_parts,
    next_listens,
    sequential_neighbours,
)

TRAIN, TARGET, TEST = 0, 1, 2
N_ITEMS = 6


def sequence_of(*users: list[int], periods: list[list[int]] | None = None) -> Sequence:
    """The listens of each user in order (every listen in train unless `periods` says otherwise)."""
    items = np.array([item for user in users for item in user], dtype=np.int32)
    period = (np.zeros(items.size, np.int8) if periods is None
              else np.array([p for user in periods for p in user], dtype=np.int8))
    starts = np.r_[0, np.cumsum([len(user) for user in users])].astype(np.int64)
    return Sequence(items, period, starts)


def as_dict(counts: FollowCounts) -> dict[tuple[int, int], list[float]]:
    return {(int(a), int(b)): row.tolist() for a, b, row in zip(counts.first, counts.second, counts.counts)}


# user 0: 0 1 2 1 ; user 1: 3 0 1 ; an empty user between them
HAND_MADE = sequence_of([0, 1, 2, 1], [], [3, 0, 1])


def test_pairs_follow_within_the_window_and_never_cross_users() -> None:
    counts = follow_counts(HAND_MADE, None, window=2, n_items=N_ITEMS, chunk_listens=1_000)

    assert as_dict(counts) == {
        (0, 1): [2.0, 0.0],  # right after, for both users
        (0, 2): [0.0, 1.0],
        (1, 2): [1.0, 0.0],
        (2, 1): [1.0, 0.0],
        (3, 0): [1.0, 0.0],
        (3, 1): [0.0, 1.0],
    }  # (1, 1) at distance 2 is the track itself; (1, 3) and (2, 3) would cross users
    assert counts.weights(2, 0.5).tolist() == [2.0, 0.5, 1.0, 1.0, 1.0, 0.5]
    assert counts.weights(1, 0.5).tolist() == [2.0, 0.0, 1.0, 1.0, 1.0, 0.0]


def test_a_history_keeps_only_the_listens_before_its_cutoff() -> None:
    sequence = sequence_of([0, 1, 2], [3, 4], periods=[[TRAIN, TRAIN, TARGET], [TRAIN, TEST]])

    assert set(as_dict(follow_counts(sequence, TARGET, 2, N_ITEMS, 1_000))) == {(0, 1)}
    assert set(as_dict(follow_counts(sequence, TEST, 2, N_ITEMS, 1_000))) == {(0, 1), (0, 2), (1, 2)}
    assert len(as_dict(follow_counts(sequence, None, 2, N_ITEMS, 1_000))) == 4


def test_chunks_by_user_and_parts_by_track_give_the_counts_of_one_pass() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 30, size=200)
    users = [list(rng.integers(0, 40, size=length)) for length in lengths]
    sequence = sequence_of(*users)
    one_pass = follow_counts(sequence, None, 4, 40, chunk_listens=10**9)

    for chunk in (1, 7, 100, 999):
        assert sum(last - first for first, last in sequence.chunks(chunk)) == sequence.items.size
        chunked = follow_counts(sequence, None, 4, 40, chunk_listens=chunk)
        np.testing.assert_array_equal(chunked.keys, one_pass.keys)
        np.testing.assert_array_equal(chunked.counts, one_pass.counts)
    listens = np.bincount(sequence.items, minlength=40)
    parts = item_parts(listens, 4, part_pairs=100)
    assert parts[0][0] == 0 and parts[-1][1] == 40 and len(parts) > 5
    assert all(hi == next_lo for (_, hi), (next_lo, _) in itertools.pairwise(parts))
    in_parts = list(follow_counts_in_parts(sequence, None, 4, 40, 50, listens, part_pairs=100))
    np.testing.assert_array_equal(np.concatenate([part.keys for part in in_parts]), one_pass.keys)
    np.testing.assert_array_equal(np.concatenate([part.counts for part in in_parts]), one_pass.counts)
    rows = np.array([3, 17, 39])
    only = follow_counts(sequence, None, 4, 40, chunk_listens=50, rows=rows)
    wanted = np.isin(one_pass.first, rows)
    np.testing.assert_array_equal(only.keys, one_pass.keys[wanted])
    np.testing.assert_array_equal(only.counts, one_pass.counts[wanted])


def test_the_window_is_bounded() -> None:
    with pytest.raises(ValueError, match="window must be 1..8"):
        follow_counts(HAND_MADE, None, 9, N_ITEMS, 1_000)


def test_neighbours_are_the_share_of_what_follows_damped_by_popularity() -> None:
    counts = follow_counts(HAND_MADE, None, 2, N_ITEMS, 1_000)
    listens = np.array([1, 5, 1, 1, 1, 1])

    plain = sequential_neighbours(counts, SequentialParams(window=2, decay=0.5), listens, k=5)
    rows = {(int(a), int(b)): round(float(s), 4) for a, b, s in zip(plain.users, plain.items, plain.scores)}
    assert rows == {(0, 1): 0.8, (0, 2): 0.2, (1, 2): 1.0, (2, 1): 1.0, (3, 0): round(1 / 1.5, 4),
                    (3, 1): round(0.5 / 1.5, 4)}
    assert plain.users.tolist() == [0, 0, 1, 2, 3, 3] and plain.ranks.tolist() == [1, 2, 1, 1, 1, 2]

    damped = sequential_neighbours(counts, SequentialParams(window=2, decay=0.5, damping=1.0), listens, k=1)
    # track 1 has 5 listens: 2 / 5 against 0.5 / 1 after track 0, so track 2 comes first
    assert list(zip(damped.users.tolist(), damped.items.tolist())) == [(0, 2), (1, 2), (2, 1), (3, 0)]


def test_next_listens_are_consecutive_pairs_ending_in_the_period() -> None:
    sequence = sequence_of([0, 1, 1, 2], [3, 4, 5], periods=[[TRAIN, TRAIN, TARGET, TARGET],
                                                             [TARGET, TARGET, TEST]])
    target = next_listens(sequence, TARGET, chunk_listens=2)

    # (1, 1) is a repeat; (2, 3) crosses users; (0, 1) ends in train; (3, 4)'s first is in the target too
    assert list(zip(target.previous.tolist(), target.next.tolist())) == [(1, 2), (3, 4)]
    test = next_listens(sequence, TEST, chunk_listens=1_000)
    assert list(zip(test.previous.tolist(), test.next.tolist())) == [(4, 5)]
    assert len(target.sample(1, np.random.default_rng(0))) == 1


def test_dropping_the_tail_leaves_every_tracks_top_k_as_it_was() -> None:
    """The floor below each track's k-th best saves sorting its long tail and changes no list."""
    rng = np.random.default_rng(11)
    users = [list(rng.zipf(1.6, size=int(length)) % 300) for length in rng.integers(2, 60, size=400)]
    counts = follow_counts(sequence_of(*users), None, 3, 300, chunk_listens=1_000)
    listens = rng.integers(1, 50, size=300)
    for params in (SequentialParams(3, 0.7, 0.0), SequentialParams(2, 1.0, 0.5)):
        weights = counts.weights(params.window, params.decay)
        heard = weights > 0  # a pair seen only beyond the window is no follower
        first, second, weights = counts.first[heard], counts.second[heard], weights[heard]
        totals = np.array([weights[first == a].sum() for a in first])
        score = (weights / totals / listens[second].astype(np.float32) ** np.float32(params.damping))
        expected = Candidates.top_by_score(first, second, score.astype(np.float32), 5)

        found = sequential_neighbours(counts, params, listens, k=5)
        np.testing.assert_array_equal(found.users, expected.users)
        np.testing.assert_array_equal(found.items, expected.items)
        np.testing.assert_allclose(found.scores, expected.scores, rtol=1e-5)
        assert len(found) < first.size  # the lists were cut to k
