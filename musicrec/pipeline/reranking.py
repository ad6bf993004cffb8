"""The ranker model: CatBoost over every source's candidates, and the rows it learns from.

Kept apart from the ranker stage so that the tune stage can time it (budget.py) with the same
settings the stage uses.
"""

from __future__ import annotations

import numpy as np
from catboost import CatBoost, Pool

from musicrec.pipeline.data import user_runs
from musicrec.pipeline.lists import CandidateTable
from musicrec.settings import PipelineSettings

RANKER_LOSSES = ("Logloss", "YetiRank")
NEGATIVES_PER_USER = 20
MIN_POSITIVES = 20  # fewer played candidates teach a ranker nothing: the best source is published


def learning_rows(table: CandidateTable, labels: np.ndarray, negatives_per_user: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Rows to learn from: every positive, and up to `negatives_per_user` random negatives of each user
    with a positive (all of them would multiply the rows and teach little more; a user without a
    positive teaches a ranking nothing). Sorted, so users stay grouped."""
    has_positive = np.isin(table.users, table.users[labels])
    negatives = np.flatnonzero(~labels & has_positive)
    negatives = negatives[rng.permutation(negatives.size)]
    negatives = negatives[np.argsort(table.users[negatives], kind="stable")]
    starts, sizes = user_runs(table.users[negatives])
    rank = np.arange(negatives.size) - np.repeat(starts, sizes)
    return np.sort(np.concatenate([np.flatnonzero(labels), negatives[rank < negatives_per_user]]))


def catboost_params(loss: str, iterations: int, seed: int) -> dict[str, object]:
    """The ranker's CatBoost settings (both cores; the tune stage times the same ones)."""
    return {"loss_function": loss, "iterations": iterations, "depth": 6, "learning_rate": 0.1,
            "random_seed": seed, "thread_count": -1, "allow_writing_files": False}


def fit_ranker(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, loss: str,
               params: PipelineSettings) -> CatBoost:
    model = CatBoost({**catboost_params(loss, params.ranker_iterations, params.seed),
                      "verbose": max(1, params.ranker_iterations // 5)})
    model.fit(Pool(features, labels.astype(np.float32), group_id=groups))
    return model
