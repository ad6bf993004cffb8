"""Weighted reciprocal-rank fusion of the candidate sources: a model beside the ranker and each source.

Where sources are close, publishing one of them throws away what the others know, and a ranker
needs many played candidates before it learns more than their order. A fusion needs only each
source's rank of a track: its score is the sum, over the sources that proposed it, of
w_source / (constant + rank) (reciprocal-rank fusion, Cormack, Clarke and Buettcher 2009, with a
weight per source). A small constant trusts each source's top tracks; a large one counts how many
sources agree. The weights and the constant are learned on validation users by coordinate ascent
over small grids (a weight of 0 drops a source): every step is one sort of those users' candidate
rows, so the search costs seconds even at full size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from musicrec.datasets.packed import distinct, is_member
from musicrec.pipeline import scoring
from musicrec.pipeline.data import Pairs, by_user_then_score, rank_within_user
from musicrec.pipeline.lists import MISSING_RANK, CandidateTable
from musicrec.pipeline.reports import FusionReport

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # each source's weight is searched among these
CONSTANTS = (1.0, 3.0, 10.0, 30.0, 60.0, 100.0)
START_CONSTANT = 60.0  # the constant of the original reciprocal-rank fusion
MAX_PASSES = 3  # over every coordinate; the search stops earlier when a pass changes nothing
K = scoring.K


@dataclass(frozen=True)
class RankFusion:
    """A fusion's settings: each source's weight (a source not named weighs 0) and the constant."""

    weights: dict[str, float]
    constant: float

    @classmethod
    def of(cls, report: FusionReport) -> RankFusion:
        return cls(dict(report.weights), report.constant)

    def scores(self, table: CandidateTable) -> np.ndarray:
        """The fused score of every row of the table (float32; 0 where no weighted source proposed it)."""
        weights = np.array([self.weights.get(name, 0.0) for name in table.source_names], dtype=np.float32)
        proposed = table.ranks < MISSING_RANK
        shares = np.where(proposed, weights / (np.float32(self.constant) + table.ranks), np.float32(0.0))
        return shares.sum(axis=1, dtype=np.float32)


@dataclass(frozen=True)
class FusionJudge:
    """NDCG@10 of a fusion over a fixed set of users, from their candidate rows and labels.

    The same number as `scoring.ndcg` of the fused lists (binary gains, the ideal DCG of all the
    user's relevant tracks), computed from the labels of the rows instead of a look-up of every
    listed track: only users with a played candidate are kept, since the others score 0 whatever
    the weights, and the mean still divides by every user.
    """

    table: CandidateTable  # rows of the users with a played candidate
    labels: np.ndarray  # was the row's track played
    user_row: np.ndarray  # the position of each row's user among the kept users
    ideal: np.ndarray  # ideal DCG@10 of each kept user
    n_users: int  # every user judged, kept or not

    @classmethod
    def of(cls, table: CandidateTable, labels: np.ndarray, users: np.ndarray,
           relevant: Pairs) -> FusionJudge:
        """Judge on `users` (sorted), whose candidate rows are `table`; `relevant` holds (at least)
        their relevant tracks."""
        kept = distinct(table.users[labels])
        rows = np.flatnonzero(is_member(table.users, kept))
        n_relevant = np.bincount(relevant.users, minlength=int(users.max(initial=0)) + 1)[kept]
        discount = 1.0 / np.log2(np.arange(2, K + 2))
        ideal = np.r_[0.0, np.cumsum(discount)][np.minimum(n_relevant, K)]
        return cls(table.take(rows), labels[rows], np.searchsorted(kept, table.users[rows]),
                   np.maximum(ideal, 1e-12), int(users.size))

    def ndcg(self, fusion: RankFusion) -> float:
        """Mean NDCG@10 of the fusion's lists over every user judged."""
        if not self.n_users:
            return 0.0
        table = self.table
        order = by_user_then_score(table.users, table.items, fusion.scores(table))
        rank = rank_within_user(table.users[order])
        top = order[rank <= K]
        discount = 1.0 / np.log2(rank[rank <= K] + 1.0)
        dcg = np.bincount(self.user_row[top], weights=self.labels[top] * discount, minlength=self.ideal.size)
        return float((dcg / self.ideal).sum() / self.n_users)


def learn_fusion(table: CandidateTable, labels: np.ndarray, users: np.ndarray,
                 relevant: Pairs) -> tuple[RankFusion, FusionReport]:
    """The weights and constant that maximise NDCG@10 on `users`, by coordinate ascent.

    Starts from the plain fusion (every weight 1, the constant 60); each pass tries every value of
    one coordinate at a time (each source's weight, then the constant) and keeps the best, a change
    only when it scores higher, so ties keep the plainer setting.
    """
    started = time.perf_counter()
    judge = FusionJudge.of(table, labels, users, relevant)
    best = RankFusion(dict.fromkeys(table.source_names, 1.0), START_CONSTANT)
    best_ndcg, evaluations = judge.ndcg(best), 1
    for _ in range(MAX_PASSES):
        before = best
        for coordinate in (*table.source_names, None):
            for fusion in _moves(best, coordinate):
                if fusion == best or not any(fusion.weights.values()):
                    continue
                ndcg, evaluations = judge.ndcg(fusion), evaluations + 1
                if ndcg > best_ndcg:
                    best, best_ndcg = fusion, ndcg
        if best == before:
            break
    report = FusionReport(weights=best.weights, constant=best.constant, learning_users=int(users.size),
                          learning_ndcg_at_10=round(best_ndcg, 6), evaluations=evaluations,
                          seconds=round(time.perf_counter() - started, 2))
    return best, report


def _moves(fusion: RankFusion, coordinate: str | None) -> list[RankFusion]:
    """The settings that differ from `fusion` in one coordinate only: a source's weight, or (None)
    the constant."""
    if coordinate is None:
        return [replace(fusion, constant=constant) for constant in CONSTANTS]
    return [RankFusion({**fusion.weights, coordinate: weight}, fusion.constant) for weight in WEIGHTS]

