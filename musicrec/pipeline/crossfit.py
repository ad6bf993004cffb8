"""Cross-fitting: every user of the ranker's sample judged by models learnt without them.

A held-out slice judges the ranker and the fusion on a quarter of the users and teaches them from
three quarters: on small data both numbers are thin, and the choice of the published list rests on
a few hundred users. Here the users are split into K folds; for each fold a model is learnt on the
other folds' users and scores this fold's. Every user is then judged out of fold, so the choice
(scoring.choose) compares the models on all of them, with the same per-user pairing as before.

`Folds` deals the users out; `out_of_fold` runs one kind of model (a `Learner`) over the folds and
returns each user's NDCG@10 and what each fold cost. The ranker stage learns the published models
on every user afterwards (ranker.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from musicrec.datasets.packed import is_member
from musicrec.pipeline import scoring
from musicrec.pipeline.data import Candidates, Pairs
from musicrec.pipeline.lists import CandidateTable

# A learner is given the (sorted) users it may learn from and returns the model's scorer: the
# score of every row of a candidate table of other users.
Scorer = Callable[[CandidateTable], np.ndarray]
Learner = Callable[[np.ndarray], Scorer]


@dataclass(frozen=True)
class Folds:
    """The judged users (sorted) and the fold of each, 0..k-1."""

    users: np.ndarray
    fold: np.ndarray
    k: int

    @classmethod
    def deal(cls, users: np.ndarray, played: np.ndarray, k: int, rng: np.random.Generator) -> Folds:
        """Deal `users` (sorted) into k folds at random, the users with a played candidate (`played`,
        any order) apart from the others, round-robin: every fold gets its share of the users a
        model can learn from, so no fold's model learns from nothing while the users are many."""
        fold = np.empty(users.size, dtype=np.int64)
        with_played = is_member(users, played)
        dealt = 0
        for group in (np.flatnonzero(with_played), np.flatnonzero(~with_played)):
            order = group[rng.permutation(group.size)]
            fold[order] = (dealt + np.arange(order.size)) % k
            dealt += order.size
        return cls(users, fold, k)

    def judged(self, fold: int) -> np.ndarray:
        """The users of one fold: scored by the model of the other folds."""
        return self.users[self.fold == fold]

    def learners(self, fold: int) -> np.ndarray:
        """The users the model that scores `fold` learns from: every other fold's."""
        return self.users[self.fold != fold]


@dataclass(frozen=True)
class FoldRun:
    """One fold of one kind of model: whom it judged and what learning it cost."""

    users: int
    seconds: float  # the learner's call: learning on the other folds


def out_of_fold(folds: Folds, table: CandidateTable, learner: Learner, relevant: Pairs,
                n_items: int) -> tuple[np.ndarray, list[FoldRun]]:
    """NDCG@10 of every user of `folds` (aligned with `folds.users`) from the lists of a model
    learnt on the other folds; `table` holds the users' candidate rows, `relevant` their tracks."""
    per_user = np.zeros(folds.users.size, dtype=np.float64)
    runs = []
    for fold in range(folds.k):
        judged = folds.judged(fold)
        if not judged.size:  # fewer users than folds: nothing to learn for
            runs.append(FoldRun(0, 0.0))
            continue
        started = time.perf_counter()
        scorer = learner(folds.learners(fold))
        seconds = time.perf_counter() - started
        held = table.take(np.flatnonzero(is_member(table.users, judged)))
        lists = Candidates.top_by_score(held.users, held.items, scorer(held).astype(np.float32), scoring.K)
        per_user[folds.fold == fold] = scoring.ndcg_per_user(lists, judged, relevant, n_items)
        runs.append(FoldRun(int(judged.size), round(seconds, 2)))
    return per_user, runs
