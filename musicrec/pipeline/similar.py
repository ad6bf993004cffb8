"""similar.parquet: which similar tracks the features service serves, chosen by the question the
online half asks of them: from the listen just before, is the next one among the first ten?

Three candidates, cheapest first (the order `scoring.choose_in_order` takes them in, so a dearer one must
win by more than the noise):
  als         ALS neighbours (cosine of item factors); tracks nobody played get content ones;
  sequential  tracks played soon after the track in the same user's history (sequential.py), with
              its window, decay and popularity damping searched; tracks without any follower keep
              their ALS (or content) ones, so every catalog track has similar tracks;
  merged      the two blended per track: each one's scores divided by the track's best, weighted.
They are judged at the fit cutoff on the target window's consecutive listens in their real order
(each pair's hit, paired between candidates), the choice is kept in similar.json, and the evaluate
and refit stages make the chosen one at their own history; the evaluation also reports each
candidate on the test period. Without the listens' order (the Spark engine keeps it on the
cluster) similar tracks are the ALS ones, and the report says why.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Final, cast

import numpy as np
import pyarrow as pa

from musicrec import schema
from musicrec.datasets.packed import distinct, is_member
from musicrec.pipeline import scoring
from musicrec.pipeline.content import ItemContent, content_neighbours
from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.reports import SimilarCandidate as Candidate
from musicrec.pipeline.reports import SimilarReport
from musicrec.pipeline.sequential import (
    NextListens,
    Sequence,
    SequentialParams,
    follow_counts_in_parts,
    sequential_neighbours,
)
from musicrec.pipeline.sources.als import AlsSource
from musicrec.settings import SimilarSettings

log = logging.getLogger(__name__)
ALS: Final = "als"
SEQUENTIAL: Final = "sequential"
MERGED: Final = "merged"
CANDIDATES = (ALS, SEQUENTIAL, MERGED)  # cheapest first
K = scoring.K
MIN_PAIRS = 20  # fewer next listens in the target window choose nothing: ALS neighbours, and why


def als_neighbours(als: AlsSource, history: History, content: ItemContent, queries: np.ndarray,
                   k: int) -> Candidates:
    """ALS neighbours of the played queries, content ones of the others (`users` = the query)."""
    listens = history.item_listens
    played = np.flatnonzero(listens > 0)
    asked = np.zeros(listens.size, dtype=bool)
    asked[queries] = True
    first, second, score = als.similar(np.flatnonzero(asked & (listens > 0)), k)
    c_first, c_second, c_score = content_neighbours(np.flatnonzero(asked & (listens == 0)), played,
                                                    content, listens, k)
    return Candidates.top_by_score(np.concatenate([first, c_first]), np.concatenate([second, c_second]),
                                   np.concatenate([score, c_score]).astype(np.float32), k)


def with_fallback(rows: Candidates, fallback: Candidates) -> Candidates:
    """`rows`, and the `fallback` rows of every track `rows` has nothing for."""
    missing = ~is_member(fallback.users, rows.users)
    users = np.concatenate([rows.users, fallback.users[missing]])
    items = np.concatenate([rows.items, fallback.items[missing]])
    scores = np.concatenate([rows.scores, fallback.scores[missing]])
    return Candidates.top_by_score(users, items, scores, int(max(rows.ranks.max(initial=0),
                                                                 fallback.ranks.max(initial=0))))


def _per_track_share(rows: Candidates) -> np.ndarray:
    """Each row's score over its track's best (clipped at 0): scores of two sources made alike."""
    if not len(rows):
        return np.zeros(0, np.float32)
    starts = np.flatnonzero(np.r_[True, rows.users[1:] != rows.users[:-1]])
    best = np.repeat(np.maximum.reduceat(rows.scores, starts), np.diff(np.r_[starts, rows.users.size]))
    return np.clip(rows.scores / np.maximum(best, 1e-12), 0.0, 1.0).astype(np.float32)


def merged(als: Candidates, sequential: Candidates, weight: float, n_items: int, k: int) -> Candidates:
    """Per track, weight x the sequential share + (1 - weight) x the ALS share, added up where both
    name a track; the top k."""
    keys = np.concatenate([als.keys(n_items), sequential.keys(n_items)])
    shares = np.concatenate([(1.0 - weight) * _per_track_share(als), weight * _per_track_share(sequential)])
    if not keys.size:
        return Candidates.empty()
    order = np.argsort(keys, kind="stable")
    keys, shares = keys[order], shares[order].astype(np.float32)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    keys, total = keys[starts], np.add.reduceat(shares, starts).astype(np.float32)
    return Candidates.top_by_score(keys // n_items, keys % n_items, total, k)


def next_listen_hits(rows: Candidates, pairs: NextListens, n_items: int, k: int = K) -> np.ndarray:
    """1.0 where the next listen is among the first k similar tracks of the previous one, per pair."""
    top = rows.top(k)
    keys = np.sort(top.keys(n_items))
    asked = pairs.previous.astype(np.int64) * n_items + pairs.next
    return is_member(asked, keys).astype(np.float64)


class SimilarMaker:
    """The candidates at one history: the ALS source fit there, the listens' order up to it, and
    `per_item` similar tracks per track (as similar.parquet holds: what is judged is what is served)."""

    def __init__(self, als: AlsSource, history: History, content: ItemContent, sequence: Sequence | None,
                 ends_before: int | None, settings: SimilarSettings, per_item: int = K) -> None:
        self.als, self.history, self.content = als, history, content
        self.sequence, self.ends_before, self.settings = sequence, ends_before, settings
        self.n_items, self.per_item = len(history.items), per_item
        self.item_listens = history.item_listens  # a sum over the whole history: once
        self.seconds: dict[str, float] = {}
        # Make every track's followers at the first ask (and keep them) when similar.parquet will
        # need them anyway: one pass over the listens instead of two.
        self.prefer_full = False
        self._every: dict[SequentialParams, Candidates] = {}

    def _timed(self, part: str, started: float) -> None:
        self.seconds[part] = round(self.seconds.get(part, 0.0) + time.perf_counter() - started, 2)

    def als_rows(self, queries: np.ndarray) -> Candidates:
        started = time.perf_counter()
        rows = als_neighbours(self.als, self.history, self.content, queries, self.per_item)
        self._timed("als", started)
        return rows

    def neighbours(self, queries: np.ndarray | None,
                   grid: list[SequentialParams]) -> dict[SequentialParams, Candidates]:
        """Each setting's sequential neighbours of the queries (of every track when None), from one
        count of the followers within the largest window, made one range of tracks at a time."""
        assert self.sequence is not None
        started = time.perf_counter()
        found: dict[SequentialParams, list[Candidates]] = {params: [] for params in grid}
        for counts in follow_counts_in_parts(self.sequence, self.ends_before, max(p.window for p in grid),
                                             self.n_items, self.settings.chunk_listens,
                                             self.item_listens, self.settings.part_pairs, queries):
            for params, parts in found.items():
                parts.append(sequential_neighbours(counts, params, self.item_listens, self.per_item))
        self._timed("sequential neighbours", started)
        return {params: Candidates.concat(parts) for params, parts in found.items()}

    def every_sequential(self, params: SequentialParams) -> Candidates:
        """Every track's sequential neighbours (kept for the next ask)."""
        if params not in self._every:
            self._every[params] = self.neighbours(None, [params])[params]
        return self._every[params]

    def sequential_of(self, queries: np.ndarray, params: SequentialParams) -> Candidates:
        """The sequential neighbours of the queries (from every track's, when those are wanted anyway)."""
        if not self.prefer_full and params not in self._every:
            return self.neighbours(queries, [params])[params]
        every = self.every_sequential(params)
        keep = is_member(every.users, queries)
        return Candidates(every.users[keep], every.items[keep], every.scores[keep], every.ranks[keep])

    def tables(self, queries: np.ndarray, params: SequentialParams, weight: float,
               only: str | None = None) -> dict[str, Candidates]:
        """The candidates' similar tracks of `queries` (only the one named `only`, if given)."""
        als = self.als_rows(queries)
        if only == ALS:
            return {ALS: als}
        sequential = self.sequential_of(queries, params)
        made = {ALS: als}
        if only in (None, SEQUENTIAL):
            made[SEQUENTIAL] = with_fallback(sequential, als)
        if only in (None, MERGED):
            made[MERGED] = merged(als, sequential, weight, self.n_items, self.per_item)
        return made if only is None else {only: made[only]}


def judged_tracks(item_listens: np.ndarray, window: int, pairs: int, rng: np.random.Generator) -> np.ndarray:
    """A random share of the tracks (a boolean mask) whose followers number about `pairs` (listens x
    window): the next listens after them judge the candidates. Each pair is kept with the same chance
    whatever its hit, so the hit rates stay unbiased, and the cost of a choice stays bounded at any size."""
    total = float(item_listens.sum()) * window
    share = 1.0 if total <= pairs else pairs / total
    return rng.random(item_listens.size) < share


def cheapest_within_noise(grid: list[SequentialParams], hits: list[np.ndarray]) -> SequentialParams:
    """The setting with the smallest window (the cost of every count grows with it) among those whose
    hit rate is within one paired standard error of the best one's; the best among those."""
    best = int(np.argmax([found.mean() for found in hits]))
    close = [j for j, found in enumerate(hits)
             if j == best or -scoring.paired_difference(found, hits[best])["difference"]
             <= scoring.paired_difference(found, hits[best])["standard_error"]]
    window = min(grid[j].window for j in close)
    return grid[max((j for j in close if grid[j].window == window), key=lambda j: hits[j].mean())]


def search_grid(settings: SimilarSettings) -> list[SequentialParams]:
    """Every (window, decay, damping) of the settings; a window of 1 has no decay to search."""
    return [SequentialParams(window, decay, damping) for window in settings.windows
            for decay in (settings.decays if window > 1 else (1.0,)) for damping in settings.dampings]


def choose(maker: SimilarMaker, pairs: NextListens, rng: np.random.Generator) -> SimilarReport:
    """The candidate whose next-listen HitRate@10 is best by more than the noise.

    The pairs are those after a random share of the tracks (`judged_tracks`, so the counts cost what
    `choice_pairs` says at any size); the sequential settings and the merge weight are searched on
    one half of them and the candidates compared on the other, so the searched ones carry no advantage
    of having been picked on the pairs that judge them.
    """
    settings = maker.settings
    grid = search_grid(settings)
    pairs = pairs.from_tracks(judged_tracks(maker.item_listens, max(params.window for params in grid),
                                            settings.choice_pairs, rng))
    if len(pairs) < MIN_PAIRS:
        return without_order(f"the target window holds {len(pairs)} consecutive listens of one user "
                             f"(at least {MIN_PAIRS} are needed to choose)")
    search, judged = pairs.sample(settings.validation_pairs, rng).halves(rng)
    queries = distinct(np.concatenate([search.previous, judged.previous]))
    als = maker.als_rows(queries)
    found = maker.neighbours(queries, grid)
    searched = [next_listen_hits(with_fallback(found[params], als), search, maker.n_items) for params in grid]
    rates = [float(hits.mean()) for hits in searched]
    params = cheapest_within_noise(grid, searched)
    sequential = found[params]
    merges = {weight: float(next_listen_hits(merged(als, sequential, weight, maker.n_items, maker.per_item),
                                             search, maker.n_items).mean()) for weight in settings.merge_weights}
    weight = max(merges, key=lambda value: merges[value])
    tables = {ALS: als, SEQUENTIAL: with_fallback(sequential, als),
              MERGED: merged(als, sequential, weight, maker.n_items, maker.per_item)}
    hits = {name: next_listen_hits(rows, judged, maker.n_items) for name, rows in tables.items()}
    chosen, compared = scoring.choose_in_order(hits)
    return SimilarReport(
        chosen=cast(Candidate, chosen) if settings.choose == "auto" else settings.choose,
        pinned=settings.choose != "auto",
        sequential=asdict(params), merge_weight=weight, validation_pairs=len(judged), search_pairs=len(search),
        validation={name: round(float(found.mean()), 6) for name, found in hits.items()}, compared=compared,
        searched=[{**asdict(tried), "hit_rate@10": round(rate, 6)} for tried, rate in zip(grid, rates, strict=True)],
        merge_weights={str(value): round(rate, 6) for value, rate in merges.items()}, seconds=dict(maker.seconds))


def params_of(report: SimilarReport) -> SequentialParams:
    """The sequential setting the report chose (the defaults where none was searched)."""
    if report.sequential is None:
        return SequentialParams()
    values = report.sequential
    return SequentialParams(int(values["window"]), float(values["decay"]), float(values["damping"]))


def without_order(reason: str) -> SimilarReport:
    """The report when the listens' order is not at hand (or too thin to judge): ALS neighbours, and why."""
    log.warning("similar tracks: ALS neighbours only: %s", reason)
    return SimilarReport(chosen=ALS, pinned=False, sequential=None, merge_weight=None, validation_pairs=0,
                         unavailable=reason)


def judge_each(maker: SimilarMaker, report: SimilarReport, pairs: NextListens) -> dict[str, float]:
    """Every candidate's next-listen HitRate@10 on `pairs` (the test period), with the chosen settings."""
    if report.sequential is None or report.merge_weight is None or not len(pairs):
        return {}
    tables = maker.tables(distinct(pairs.previous), params_of(report), report.merge_weight)
    return {name: round(float(next_listen_hits(rows, pairs, maker.n_items).mean()), 6)
            for name, rows in tables.items()}


def similar_table(maker: SimilarMaker, report: SimilarReport) -> pa.Table:
    """similar.parquet for every catalog track by the chosen candidate: sorted by item_id_1, then
    score descending; no self-pairs."""
    maker.prefer_full = True
    rows = maker.tables(np.arange(maker.n_items), params_of(report), report.merge_weight or 0.0,
                        only=report.chosen)[report.chosen]
    items = maker.history.items
    return pa.table({schema.ITEM_ID_1: items.decode(rows.users).astype(np.int32),
                     schema.ITEM_ID_2: items.decode(rows.items).astype(np.int32),
                     schema.SCORE: rows.scores.astype(np.float32)}, schema=schema.SIMILAR_SCHEMA)
