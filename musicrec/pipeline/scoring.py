"""Judging ranked lists against the pairs a period held out: the one way every stage measures.

Tuning (on the target window), the choice of the published model (held-out users of the target
window; `choose`) and the evaluation (test period) all call `judge`, so a number in the validation
table and one in metrics.json mean the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicrec.datasets.packed import distinct
from musicrec.pipeline import ranking_metrics
from musicrec.pipeline.data import Candidates, History, Pairs

K = ranking_metrics.EVALUATION_K


def as_matrix(lists: Candidates, users: np.ndarray, k: int = K) -> np.ndarray:
    """Flat lists -> users x k matrix of items aligned with sorted `users` (NO_ITEM where short)."""
    recs = np.full((users.size, k), ranking_metrics.NO_ITEM, dtype=np.int64)
    if not users.size:
        return recs
    position = np.searchsorted(users, lists.users).clip(0, users.size - 1)
    keep = (lists.ranks <= k) & (users[position] == lists.users)
    recs[position[keep], lists.ranks[keep] - 1] = lists.items[keep]
    return recs


def judge(recs: np.ndarray, users: np.ndarray, relevant: Pairs, history: History) -> dict[str, float]:
    """Every metric of a users x k matrix of recommendations (see ranking_metrics.all_metrics)."""
    n_items = len(history.items)
    hits = ranking_metrics.hit_matrix(recs, users, relevant.keys(n_items), n_items)
    n_relevant = np.bincount(relevant.users, minlength=len(history.users))[users]
    return ranking_metrics.all_metrics(recs, hits, n_relevant, history.item_listeners,
                               int(history.active_users.size), n_items)


def ndcg_per_user(lists: Candidates, users: np.ndarray, relevant: Pairs, n_items: int,
                  k: int = K) -> np.ndarray:
    """NDCG@k of each of `users` (sorted) for flat lists."""
    recs = as_matrix(lists, users, k)
    hits = ranking_metrics.hit_matrix(recs, users, relevant.keys(n_items), n_items)
    n_relevant = np.bincount(relevant.users, minlength=int(users.max(initial=0)) + 1)[users]
    return ranking_metrics.ndcg_per_user(hits, n_relevant, k)


def ndcg(lists: Candidates, users: np.ndarray, relevant: Pairs, n_items: int, k: int = K) -> float:
    """NDCG@k of flat lists over `users` (sorted): the number tuning and model choice maximise."""
    per_user = ndcg_per_user(lists, users, relevant, n_items, k)
    return float(per_user.mean()) if per_user.size else 0.0


def paired_difference(challenger: np.ndarray, incumbent: np.ndarray) -> dict[str, float]:
    """Mean per-user difference of two models' scores and its standard error."""
    difference = challenger - incumbent
    error = difference.std(ddof=1) / np.sqrt(difference.size) if difference.size > 1 else float("inf")
    return {"difference": round(float(difference.mean()), 6) if difference.size else 0.0,
            "standard_error": round(float(error), 6)}


def clearly_better(challenger: np.ndarray, incumbent: np.ndarray) -> bool:
    """Is the challenger's mean per-user score above the incumbent's by more than one standard error
    of the paired difference? A ranker must earn its place over noise, not only by a hair."""
    compared = paired_difference(challenger, incumbent)
    return compared["difference"] > compared["standard_error"]


def choose(contenders: dict[str, np.ndarray]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The model to publish, from each contender's per-user scores on the same users, cheapest first
    (the best single source, then the fusion, then the ranker).

    Each contender replaces the one chosen so far only when `clearly_better` than it: a dearer model
    earns its place over the simpler one, never by noise, and the choice never measured worse than
    the first contender. Returns the choice and each comparison made (against whom, the mean
    difference and its paired standard error).
    """
    names = list(contenders)
    chosen = names[0]
    compared: dict[str, dict[str, Any]] = {}
    for name in names[1:]:
        compared[name] = {"against": chosen, **paired_difference(contenders[name], contenders[chosen])}
        if clearly_better(contenders[name], contenders[chosen]):
            chosen = name
    return chosen, compared


def judged_users(history: History, relevant: Pairs) -> np.ndarray:
    """Users a personal model can be judged on: known to the history, with a relevant track."""
    known = np.diff(history.matrix.indptr) > 0
    return distinct(relevant.users[known[relevant.users]])
