"""Top popular tracks the user has not heard: the baseline every personal model must beat.

Popularity is counted over the whole history or only its recent window (as long as the target
window, before the cutoff; see split.py), whichever predicts the next weeks better on the data at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.sources.base import CandidateSource, Choice, Progress, searched, top_from_dense, unheard_dense
from musicrec.pipeline.top_popular import ItemCounts


@dataclass(frozen=True)
class PopularParams:
    window: str = searched("all", Choice(("all", "recent")))


class PopularSource(CandidateSource):
    name = "popular"
    Params = PopularParams

    def _fit(self, history: History, progress: Progress | None) -> None:
        self.counts = self.count(history)
        chosen = self.counts.recent_listens if self.params.window == "recent" else self.counts.listens
        counts = chosen.astype(np.float64) + 1e-6 * self.counts.listens  # recent ties: all-time order
        order = np.argsort(-counts, kind="stable")
        self.pool = order[counts[order] > 0][:max(self.settings.candidates_per_source * 20, 1000)]
        self.pool_scores = np.log1p(counts[self.pool]).astype(np.float32)

    def count(self, history: History) -> ItemCounts:
        """Every track's listens, listeners and recent listens (also top_popular.parquet's)."""
        return ItemCounts.of(history)

    def ranked_items(self) -> np.ndarray:
        """Every pooled track, most popular first (for the default list of unknown users)."""
        return self.pool

    def _recommend_batch(self, users: np.ndarray, n: int) -> Candidates:
        scores = np.broadcast_to(self.pool_scores, (users.size, self.pool.size)).copy()
        heard = self.fitted_history.matrix[users][:, self.pool]
        return top_from_dense(users, unheard_dense(scores, heard), self.pool, n)
