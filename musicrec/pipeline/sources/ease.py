"""EASE (Steck 2019): a closed-form item x item linear model over the most listened tracks.

B = I - P / diag(P) with P = (X'X + lambda I)^-1, X the binary users x pool matrix. When there are
fewer users than pool tracks, P comes from the users x users system instead (the Woodbury
identity), so the cost follows the smaller side. The pool is capped by `[pipeline.ease] items`,
since B is dense (pool^2 floats). Brought forward to a later cutoff, B is kept (solving for it is
the whole cost of a fit) and each user's scores come from their longer history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.sources.base import (
    CandidateSource,
    FloatRange,
    Progress,
    searched,
    top_from_dense,
    unheard_dense,
)


@dataclass(frozen=True)
class EaseParams:
    lambda_: float = searched(500.0, FloatRange(1.0, 20_000.0))


def ease_weights(matrix: sp.csr_matrix, lam: float) -> np.ndarray:
    """The EASE item x item weights (float32, zero diagonal) of a binary users x items matrix."""
    n_users, n_items = matrix.shape
    x = matrix.astype(np.float64)
    if n_users >= n_items:
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += lam
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    else:  # (X'X + lI)^-1 = (I - X'(XX' + lI)^-1 X) / l
        users_gram = (x @ x.T).toarray()
        users_gram[np.diag_indices_from(users_gram)] += lam
        solved = scipy.linalg.solve(users_gram, x.toarray(), assume_a="pos", overwrite_a=True,
                                    check_finite=False)
        inverse = -(x.T @ solved)
        inverse[np.diag_indices_from(inverse)] += 1.0
        inverse /= lam
    weights = -inverse / np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


class EaseSource(CandidateSource):
    name = "ease"
    Params = EaseParams

    def _fit(self, history: History, progress: Progress | None) -> None:
        listens = history.item_listens
        order = np.argsort(-listens, kind="stable")[:self.settings.ease.items]
        self.pool = np.sort(order[listens[order] > 0])
        self._listeners_of_pool(history)
        active = np.flatnonzero(np.diff(self.pool_matrix.indptr) > 0)
        self.weights = ease_weights(self.pool_matrix[active], self.params.lambda_)

    def _listeners_of_pool(self, history: History) -> None:
        self.pool_matrix = history.matrix[:, self.pool].tocsr()
        self.pool_matrix.data = np.ones_like(self.pool_matrix.data)

    def state(self) -> dict[str, np.ndarray]:
        return {"pool": self.pool, "weights": self.weights}

    def fit_forward(self, history: History, state: dict[str, np.ndarray]) -> None:
        """The earlier weights B, the users' listens of the later history."""
        self.history = history
        self.pool, self.weights = state["pool"], state["weights"]
        self._listeners_of_pool(history)

    def forward_cost_share(self) -> float:
        return 0.0

    def _recommend_batch(self, users: np.ndarray, n: int) -> Candidates:
        heard = self.pool_matrix[users]
        scores = np.asarray(heard @ self.weights)
        scores[np.diff(heard.indptr) == 0] = -np.inf  # no history in the pool: nothing to say
        return top_from_dense(users, unheard_dense(scores, heard), self.pool, n)
