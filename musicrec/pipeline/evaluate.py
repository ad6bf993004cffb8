"""Stage `evaluate`: every model judged on the test period, which none of them saw.

Relevant items of a user = tracks listened in the test period that the user had not heard in train
(every model, like the service, recommends only unheard tracks; re-listens would reward the wrong
thing). Users evaluated: those with train listens and at least one relevant test track. Cold users
(first listen in the test period) are judged separately, where only top popular can serve them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.pipeline import metrics
from musicrec.pipeline.ranker import RANKED_FILE, load_candidates
from musicrec.pipeline.split import SPLIT_FILE, TARGET_PAIRS, TEST_PAIRS
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.workspace import Pairs, TrainData

log = logging.getLogger(__name__)
K = metrics.EVALUATION_K


def dense_recs(eval_users: np.ndarray, users: np.ndarray, items: np.ndarray, ranks: np.ndarray,
               k: int) -> np.ndarray:
    """Flat (user, item, rank) rows -> users x k matrix aligned with sorted `eval_users`."""
    recs = np.full((eval_users.size, k), metrics.NO_ITEM, dtype=np.int64)
    position = np.searchsorted(eval_users, users).clip(0, max(eval_users.size - 1, 0))
    keep = (ranks <= k) & (eval_users.size > 0) & (eval_users[position] == users)
    recs[position[keep], ranks[keep] - 1] = items[keep]
    return recs


def unheard_first(users: np.ndarray, ranked_items: np.ndarray, data: TrainData, k: int) -> np.ndarray:
    """The same ranked list for every user, minus the tracks each user heard in train, first k."""
    grid = np.broadcast_to(ranked_items, (users.size, ranked_items.size))
    heard = np.asarray(data.matrix[np.repeat(users, ranked_items.size), grid.ravel()]).reshape(grid.shape) > 0
    order = np.argsort(heard, axis=1, kind="stable")[:, :k]
    recs = np.take_along_axis(grid, order, axis=1).astype(np.int64)
    recs[np.take_along_axis(heard, order, axis=1)] = metrics.NO_ITEM
    return recs


def random_recs(n_users: int, items: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct uniformly random items per user (the floor every model must beat)."""
    picks = rng.random((n_users, items.size)).argsort(axis=1)[:, :k] if items.size <= 2 * k else None
    if picks is None:
        picks = rng.integers(0, items.size, size=(n_users, k))
    return items[picks].astype(np.int64)


def relevant_test_pairs(test: Pairs, data: TrainData) -> Pairs:
    """Test pairs the user had not heard in train."""
    if not test.users.size:
        return test
    heard = np.asarray(data.matrix[test.users, test.items]).ravel() > 0
    return Pairs(test.users[~heard], test.items[~heard])


def model_recs(context: StageContext, data: TrainData, eval_users: np.ndarray,
               popular: np.ndarray) -> dict[str, np.ndarray]:
    candidates = load_candidates(context.work)
    ranker = np.load(context.work.require(RANKED_FILE, "ranker"))
    trained_items = np.flatnonzero(data.item_listens > 0)
    rng = np.random.default_rng(context.params.seed)
    return {
        "random": random_recs(eval_users.size, trained_items, K, rng),
        "top_popular": unheard_first(eval_users, popular, data, K),
        "als": dense_recs(eval_users, candidates["users"], candidates["items"],
                          candidates["ranks"].astype(np.int64), K),
        "ranker": dense_recs(eval_users, ranker["users"], ranker["items"],
                             ranker["ranks"].astype(np.int64), K),
    }


def score(recs: np.ndarray, users: np.ndarray, relevant: Pairs, data: TrainData) -> dict[str, float]:
    n_items = len(data.items)
    hits = metrics.hit_matrix(recs, users, relevant.keys(n_items), n_items)
    n_relevant = np.bincount(relevant.users, minlength=len(data.users))[users]
    n_train_users = int((np.diff(data.matrix.indptr) > 0).sum())
    return metrics.all_metrics(recs, hits, n_relevant, data.item_listeners, n_train_users, n_items)


def evaluate(context: StageContext) -> dict[str, Any]:
    work = context.work
    data = work.load_train()
    relevant = relevant_test_pairs(work.load_pairs(TEST_PAIRS), data)
    has_train = np.diff(data.matrix.indptr) > 0
    eval_users = np.unique(relevant.users[has_train[relevant.users]])
    popular = data.items.encode(
        pq.read_table(work.require(schema.TOP_POPULAR_FILE, "popular")).column(schema.ITEM_ID).to_numpy())
    models = {name: score(recs, eval_users, relevant, data)
              for name, recs in model_recs(context, data, eval_users, popular).items()}
    seen_before_test = has_train.copy()
    seen_before_test[work.load_pairs(TARGET_PAIRS).users] = True
    cold_users = np.unique(relevant.users[~seen_before_test[relevant.users]])
    cold_recs = np.broadcast_to(popular[:K], (cold_users.size, min(K, popular.size))).astype(np.int64)
    return {
        "split": {**work.load_json(SPLIT_FILE, "split"), "evaluated_users": int(eval_users.size), "k": K},
        "models": models,
        "cold_users": {"users": int(cold_users.size),
                       "top_popular": score(cold_recs, cold_users, relevant, data)},
    }


def format_table(report: dict[str, Any]) -> str:
    """The metrics as a fixed-width text table: one row per model, cold users last."""
    rows = dict(report["models"])
    rows["cold: top_popular"] = report["cold_users"]["top_popular"]
    names = list(next(iter(rows.values())).keys())
    width = max(len(name) for name in names) + 2
    lines = [f"{'model':<18}" + "".join(f"{name:>{width}}" for name in names)]
    for model, values in rows.items():
        lines.append(f"{model:<18}" + "".join(f"{values[name]:>{width}.4f}" for name in names))
    return "\n".join(lines)


def run(context: StageContext) -> dict[str, Any]:
    report = evaluate(context)
    context.work.save_json(schema.METRICS_FILE, report)
    log.info("evaluate: %d users seen in train, %d cold users", report["split"]["evaluated_users"],
             report["cold_users"]["users"])
    return {"evaluated_users": report["split"]["evaluated_users"]}
