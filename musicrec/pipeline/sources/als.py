"""Implicit ALS (Hu, Koren, Volinsky 2008) through the `implicit` library.

How listen counts become confidences matters more than anything else on real data, so it is
searched with the factors: binary (every heard track alike), log counts, or BM25 per track; `alpha`
scales the confidence of heard tracks against unheard ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits

from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.sources.base import (
    CandidateSource,
    Choice,
    FloatRange,
    IntRange,
    Progress,
    candidate_pool,
    searched,
)


@dataclass(frozen=True)
class AlsParams:
    factors: int = searched(64, Choice((32, 64, 128, 192)))
    regularization: float = searched(0.05, FloatRange(1e-3, 1.0))
    iterations: int = searched(15, IntRange(5, 20))
    weighting: str = searched("binary", Choice(("binary", "log", "bm25")))
    alpha: float = searched(10.0, FloatRange(1.0, 100.0))


BM25_K1, BM25_B = 100.0, 0.8  # BM25's saturation and length normalisation (also the Spark engine's)


def confidence(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Listen counts -> confidences before `alpha`: binary, log(1 + count) or BM25 per track."""
    if weighting == "bm25":
        weighted = bm25_weight(matrix.T.tocsr(), K1=BM25_K1, B=BM25_B).T.tocsr()
        weighted.data = np.maximum(weighted.data, 0.0)  # idf < 0 only for near-universal tracks
    else:
        weighted = matrix.copy()
        weighted.data = np.ones_like(weighted.data) if weighting == "binary" else np.log1p(weighted.data)
    return weighted.astype(np.float32)


class AlsSource(CandidateSource):
    name = "als"
    Params = AlsParams
    min_cost_exponent = 1.0  # every iteration solves against every listen

    def _fit(self, history: History, progress: Progress | None,
             start: dict[str, np.ndarray] | None = None, iterations: int | None = None) -> None:
        params: AlsParams = self.params
        self.model = AlternatingLeastSquares(
            factors=params.factors, regularization=params.regularization, alpha=params.alpha,
            iterations=iterations or params.iterations, dtype=np.float32, random_state=self.settings.seed)
        if start is not None:  # implicit starts from factors already set instead of random ones
            self.model.user_factors = np.ascontiguousarray(start["user_factors"], dtype=np.float32)
            self.model.item_factors = np.ascontiguousarray(start["item_factors"], dtype=np.float32)
        self.pool = candidate_pool(history.item_listens)
        callback = (lambda iteration, _elapsed, _loss: progress(iteration + 1, self)) if progress else None
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads would fight it
            self.model.fit(confidence(history.matrix, params.weighting), show_progress=progress is None,
                           callback=callback)

    def state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.model.user_factors, "item_factors": self.model.item_factors}

    def fit_forward(self, history: History, state: dict[str, np.ndarray]) -> None:
        """Warm start: the earlier factors refined by `[pipeline] forward_iterations` iterations on
        the longer history. Each iteration solves the users first, so a user or track first heard
        after the earlier cutoff gets its factors from the first one."""
        self.history = history
        self._fit(history, None, state, self.settings.forward_iterations)

    def restore(self, history: History, state: dict[str, np.ndarray]) -> None:
        """The fit whose `state` an earlier stage saved, as it was (no iteration): its similar tracks
        at that cutoff, for choosing similar tracks on the window after it (similar.py)."""
        params: AlsParams = self.params
        self.history = history
        self.model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                             alpha=params.alpha, iterations=params.iterations,
                                             dtype=np.float32, random_state=self.settings.seed)
        self.model.user_factors = np.ascontiguousarray(state["user_factors"], dtype=np.float32)
        self.model.item_factors = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
        self.pool = candidate_pool(history.item_listens)

    def forward_cost_share(self) -> float:
        return min(self.settings.forward_iterations / self.params.iterations, 1.0)

    def _recommend_batch(self, users: np.ndarray, n: int) -> Candidates:
        n = min(n, self.pool.size)
        if not n or not users.size:
            return Candidates.empty()
        with threadpool_limits(1, "blas"):
            ids, scores = self.model.recommend(users, self.fitted_history.matrix[users], N=n, items=self.pool,
                                               filter_already_liked_items=True)
        valid = np.isfinite(scores) & (scores > -np.finfo(np.float32).max)
        rows = np.repeat(users, n).reshape(-1, n)
        return Candidates.top_by_score(rows[valid], ids[valid], scores[valid], n)

    def similar(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """k most similar pool tracks (cosine of factors) per query track, without the track itself:
        (item_1, item_2, score) flat arrays."""
        n = min(k + 1, self.pool.size)
        parts = []
        with threadpool_limits(1, "blas"):
            for start in range(0, queries.size, 20_000):
                batch = queries[start:start + 20_000]
                ids, scores = self.model.similar_items(batch, N=n, items=self.pool)
                keep = (ids != batch[:, None]) & np.isfinite(scores)
                rows = np.repeat(batch, n).reshape(-1, n)
                top = Candidates.top_by_score(rows[keep], ids[keep], scores[keep], k)
                parts.append(top)
        found = Candidates.concat(parts)
        return found.users, found.items, found.scores
