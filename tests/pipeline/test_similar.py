"""Choosing similar.parquet: the candidates, their next-listen hits, the paired choice, the table."""

from __future__ import annotations

from typing import cast

import numpy as np

from musicrec import schema
from musicrec.pipeline import similar
from musicrec.pipeline.data import Candidates
from musicrec.pipeline.sequential import NextListens, Sequence
from musicrec.pipeline.sources.als import AlsSource
from musicrec.settings import SimilarSettings
from tests.pipeline.histories import content_of, history_of

N_ITEMS = 30
JUMP = 15  # in the hand-made listening, track q is always followed by track q + JUMP


class NeighbourAls:
    """An ALS stand-in whose neighbours of q are q+1 .. q+k (scores 1.0, 0.95, ...): tracks heard by
    the same people, never the one that comes next."""

    def similar(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        first = np.repeat(queries, k)
        offset = np.tile(np.arange(1, k + 1), queries.size)
        return first, (first + offset) % N_ITEMS, (1.0 - 0.05 * (offset - 1)).astype(np.float32)


def ordered_listening() -> Sequence:
    """User q (0..JUMP-1) plays q, q + JUMP, then q + 7: every listen before the target window."""
    starts = np.arange(JUMP)
    items = np.stack([starts, starts + JUMP, (starts + 7) % N_ITEMS], axis=1).ravel().astype(np.int32)
    return Sequence(items, np.zeros(items.size, np.int8), np.arange(0, items.size + 1, 3, dtype=np.int64))


def jumps() -> NextListens:
    """The next listens of that listening, twice over (enough to choose on): q, then q + JUMP."""
    previous = np.tile(np.arange(JUMP, dtype=np.int32), 2)
    return NextListens(previous, previous + JUMP)


DEFAULTS = SimilarSettings()


def maker_of(sequence: Sequence | None, settings: SimilarSettings = DEFAULTS) -> similar.SimilarMaker:
    history = history_of(np.ones((4, N_ITEMS)))
    return similar.SimilarMaker(cast(AlsSource, NeighbourAls()), history, content_of(N_ITEMS), sequence,
                                None, settings)


def rows(*triples: tuple[int, int, float]) -> Candidates:
    first, second, score = (np.array(column) for column in zip(*triples))
    return Candidates.top_by_score(first, second, score.astype(np.float32), 10)


def test_next_listen_hits_look_in_the_first_k_of_the_previous_track() -> None:
    table = rows((0, 1, 0.9), (0, 2, 0.8), (0, 3, 0.7), (5, 0, 0.5))
    pairs = NextListens(np.array([0, 0, 5, 1], np.int32), np.array([3, 5, 0, 0], np.int32))

    assert similar.next_listen_hits(table, pairs, N_ITEMS).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert similar.next_listen_hits(table, pairs, N_ITEMS, k=2).tolist() == [0.0, 0.0, 1.0, 0.0]


def test_the_merge_weighs_each_sources_share_of_its_best_score() -> None:
    als = rows((0, 1, 0.8), (0, 2, 0.4))
    sequential = rows((0, 2, 0.1), (0, 3, 0.05), (4, 1, 0.3))

    merged = similar.merged(als, sequential, 0.5, N_ITEMS, 10)
    found = {(int(a), int(b)): round(float(s), 4) for a, b, s in zip(merged.users, merged.items, merged.scores)}
    assert found == {(0, 1): 0.5, (0, 2): 0.75, (0, 3): 0.25, (4, 1): 0.5}
    assert merged.items[merged.users == 0].tolist() == [2, 1, 3]  # best first


def test_sequential_keeps_the_fallback_for_tracks_it_knows_nothing_of() -> None:
    found = similar.with_fallback(rows((0, 3, 0.2)), rows((0, 1, 0.9), (2, 4, 0.5)))

    assert list(zip(found.users.tolist(), found.items.tolist())) == [(0, 3), (2, 4)]


def test_the_order_of_listening_wins_where_it_predicts_the_next_listen() -> None:
    report = similar.choose(maker_of(ordered_listening()), jumps(), np.random.default_rng(0))

    assert report.validation["als"] == 0.0  # its neighbours never hold the next track
    assert report.validation["sequential"] == 1.0
    assert report.chosen == "sequential"  # the merge is as good, not better: the cheaper one stays
    assert report.compared["merged"]["against"] == "sequential"
    assert report.merge_weights["0.25"] == 0.0  # ten ALS neighbours push the follower out of the first ten
    assert report.validation["merged"] == 1.0
    assert len(report.searched) == len(similar.search_grid(SimilarSettings())) == 10


def test_als_stays_where_the_order_adds_nothing() -> None:
    sequence = ordered_listening()
    pairs = NextListens(np.arange(N_ITEMS, dtype=np.int32), ((np.arange(N_ITEMS) + 1) % N_ITEMS).astype(np.int32))

    report = similar.choose(maker_of(sequence), pairs, np.random.default_rng(0))

    assert report.validation["als"] == 1.0 and report.chosen == "als"
    pinned = similar.choose(maker_of(sequence, SimilarSettings(choose="merged")), pairs, np.random.default_rng(0))
    assert pinned.chosen == "merged" and pinned.pinned


def test_the_table_has_every_track_sorted_without_self_pairs() -> None:
    maker = maker_of(ordered_listening())
    report = similar.choose(maker, jumps(), np.random.default_rng(0))
    table = similar.similar_table(maker, report).to_pandas()

    assert table.columns.tolist() == [schema.ITEM_ID_1, schema.ITEM_ID_2, schema.SCORE]
    assert set(table[schema.ITEM_ID_1]) == set(range(N_ITEMS))
    assert not (table[schema.ITEM_ID_1] == table[schema.ITEM_ID_2]).any()
    ordered = table.sort_values([schema.ITEM_ID_1, schema.SCORE], ascending=[True, False], kind="stable")
    assert (ordered.index == table.index).all()
    first = table[table[schema.ITEM_ID_1] == 0]
    assert first[schema.ITEM_ID_2].iloc[0] == JUMP


def test_too_few_next_listens_choose_nothing() -> None:
    report = similar.choose(maker_of(ordered_listening()), NextListens(np.arange(5, dtype=np.int32),
                                                                       np.arange(5, dtype=np.int32) + JUMP),
                            np.random.default_rng(0))

    assert report.chosen == "als" and "holds 5 consecutive listens" in (report.unavailable or "")


def test_without_the_order_the_report_says_why() -> None:
    report = similar.without_order("the spark engine keeps the listens' order where they are")

    assert report.chosen == "als" and report.sequential is None
    assert "spark" in (report.unavailable or "")
    assert similar.judge_each(maker_of(None), report, NextListens(np.zeros(1, np.int32), np.ones(1, np.int32))) == {}


def test_the_smallest_window_within_noise_of_the_best_is_searched_out() -> None:
    grid = [similar.SequentialParams(1), similar.SequentialParams(3), similar.SequentialParams(5)]
    rng = np.random.default_rng(2)
    base = (rng.random(4_000) < 0.3).astype(float)
    slightly_better = base.copy()  # 10 pairs more hit, 8 fewer: +0.05 points, within the noise
    slightly_better[np.flatnonzero(base == 0)[:10]] = 1.0
    slightly_better[np.flatnonzero(base == 1)[:8]] = 0.0
    clearly_better = np.maximum(base, (rng.random(4_000) < 0.05))

    assert similar.cheapest_within_noise(grid, [base, base, slightly_better]) == grid[0]
    assert similar.cheapest_within_noise(grid, [base, clearly_better, clearly_better]) == grid[1]
