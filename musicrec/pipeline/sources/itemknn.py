"""Item-to-item nearest neighbours over the user's own history (implicit's kNN recommenders).

A strong, cheap baseline on real listening data: a track is proposed when it is often heard by the
same people as the user's tracks. Only the candidate pool's tracks are indexed, which bounds the
item x item work at full size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight

from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.sources.base import CandidateSource, Choice, IntRange, Progress, candidate_pool, searched


@dataclass(frozen=True)
class ItemKnnParams:
    neighbours: int = searched(100, IntRange(10, 400, log=True))
    weighting: str = searched("cosine", Choice(("cosine", "bm25")))


def item_weights(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """users x items weights whose item-column dot products are the similarity: cosine (unit
    columns) or BM25 (implicit's weighting, as its BM25Recommender does)."""
    if weighting == "bm25":
        return bm25_weight(matrix.T.tocsr()).T.tocsr().astype(np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    return (matrix @ sp.diags(1.0 / np.maximum(norms, 1e-12))).tocsr().astype(np.float64)


class ItemKnnSource(CandidateSource):
    name = "itemknn"
    Params = ItemKnnParams

    def _fit(self, history: History, progress: Progress | None) -> None:
        params: ItemKnnParams = self.params
        self.pool = candidate_pool(history.item_listens)
        self.pool_matrix = history.matrix[:, self.pool].tocsr()
        self.pool_matrix.data = np.ones_like(self.pool_matrix.data)  # who heard it, not how often
        self.model = ItemItemRecommender(K=params.neighbours)
        self.model.fit(item_weights(self.pool_matrix, params.weighting), show_progress=False)

    def _recommend_batch(self, users: np.ndarray, n: int) -> Candidates:
        n = min(n, self.pool.size)
        if not n or not users.size:
            return Candidates.empty()
        ids, scores = self.model.recommend(users, self.pool_matrix[users], N=n,
                                           filter_already_liked_items=True)
        valid = (ids >= 0) & np.isfinite(scores) & (scores > 0)
        rows = np.repeat(users, ids.shape[1]).reshape(ids.shape)
        return Candidates.top_by_score(rows[valid], self.pool[ids[valid]], scores[valid], n)
