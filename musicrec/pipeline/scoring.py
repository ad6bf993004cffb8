"""Judging ranked lists against the pairs a period held out: the one way every stage measures.

Tuning (on the target window), the choice of the published model (every user of the ranker's
sample, judged out of fold on the target window; `choose`) and the evaluation (test period) all
call `judge`, so a number in the validation table and one in metrics.json mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from musicrec.datasets.packed import distinct
from musicrec.pipeline import ranking_metrics
from musicrec.pipeline.data import Candidates, History, Pairs
from musicrec.pipeline.reports import FUSION, RANKER

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


def choose_in_order(contenders: dict[str, np.ndarray]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The contender to use, from each one's per-user (or per-pair) scores on the same units, given
    cheapest first: each replaces the one chosen so far only when `clearly_better` than it, so a
    dearer one earns its place over noise and the choice never measured worse than the first.
    Returns the choice and each comparison made (against whom, the mean difference, its standard
    error). The similar tracks are chosen this way; the published list by `choose`."""
    names = list(contenders)
    chosen = names[0]
    compared: dict[str, dict[str, Any]] = {}
    for name in names[1:]:
        compared[name] = {"against": chosen, **paired_difference(contenders[name], contenders[chosen])}
        if clearly_better(contenders[name], contenders[chosen]):
            chosen = name
    return chosen, compared


@dataclass(frozen=True)
class Choice:
    """What `choose` publishes, the best single source it started from, and each comparison made
    (against whom, the mean per-user difference and its paired standard error, whether taken)."""

    published: str
    best_source: str
    compared: dict[str, dict[str, Any]]


def choose(sources: dict[str, np.ndarray], fusion: np.ndarray | None = None,
           ranker: np.ndarray | None = None) -> Choice:
    """The model to publish, from every contender's per-user scores on the same users.

    Cheapest first. The best single source (highest mean) is the first choice. The fusion (fusion.py)
    replaces it when it is `clearly_better`, or when the two best sources are within noise of each
    other (the best not clearly better than the runner-up) and the fusion's mean is not below the
    best source's: close sources are fused rather than one of them picked on noise, and the fused
    list never measured worse than the best source. The ranker then replaces the model chosen so far
    only when `clearly_better` than it: a dearer model earns its place over a simpler one, never by
    noise, and the choice never measured worse than the best source. This is the one place the rule
    lives; `compared` holds the runner-up source (against the best), the fusion and the ranker.
    """
    ranked = sorted(sources, key=lambda name: -_mean(sources[name]))
    best, compared = ranked[0], {}
    close = False  # are the two best sources within noise of each other?
    if len(ranked) > 1:
        behind = paired_difference(sources[ranked[1]], sources[best])
        compared[ranked[1]] = {"against": best, **behind}
        close = -behind["difference"] <= behind["standard_error"]
    chosen, incumbent = best, sources[best]
    if fusion is not None:
        compared[FUSION] = _challenge(fusion, chosen, incumbent, fuses_close_sources=close)
        if compared[FUSION]["taken"]:
            chosen, incumbent = FUSION, fusion
    if ranker is not None:
        compared[RANKER] = _challenge(ranker, chosen, incumbent, fuses_close_sources=False)
        if compared[RANKER]["taken"]:
            chosen = RANKER
    return Choice(chosen, best, compared)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _challenge(challenger: np.ndarray, against: str, incumbent: np.ndarray,
               fuses_close_sources: bool) -> dict[str, Any]:
    """One comparison of `choose`: taken when clearly better, or (a fusion of sources within noise of
    each other) when not below the incumbent."""
    entry: dict[str, Any] = {"against": against, **paired_difference(challenger, incumbent)}
    if entry["difference"] > entry["standard_error"]:
        entry.update(taken=True, why="clearly better")
    elif fuses_close_sources and entry["difference"] >= 0:
        entry.update(taken=True, why="the best sources are within noise and the fusion is not below the best")
    else:
        entry.update(taken=False, why="not clearly better")
    return entry


def judged_users(history: History, relevant: Pairs) -> np.ndarray:
    """Users a personal model can be judged on: known to the history, with a relevant track."""
    known = np.diff(history.matrix.indptr) > 0
    return distinct(relevant.users[known[relevant.users]])
