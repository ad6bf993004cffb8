"""Stage `ranker`: CatBoost re-ranks the union of every source's candidates, if that earns its place.

Sources are fit on the fit history (train); the ranker learns which of their candidates a user
plays in the target window. Users with a played candidate are split: most learn, the rest are held
out. On the held-out users, each loss (`RANKER_LOSSES`, or the one pinned) is compared with every
source's own list by NDCG@10. The best of all of them is what the pipeline publishes: the ranker
only if it beat the best single source, so a list measured worse than a baseline is never served.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from catboost import CatBoost, Pool

from musicrec.pipeline import scoring
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Candidates, Pairs, user_runs
from musicrec.pipeline.features import FeatureBuilder, feature_names
from musicrec.pipeline.lists import CandidateTable, ListMaker
from musicrec.pipeline.tune import tuned_sources
from musicrec.settings import PipelineSettings

log = logging.getLogger(__name__)
RANKER_LOSSES = ("Logloss", "YetiRank")
NEGATIVES_PER_USER = 20
HELD_OUT_SHARE = 0.25


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


def fit_ranker(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, loss: str,
               params: PipelineSettings) -> CatBoost:
    model = CatBoost({"loss_function": loss, "iterations": params.ranker_iterations, "depth": 6,
                      "learning_rate": 0.1, "random_seed": params.seed, "thread_count": -1,
                      "verbose": max(1, params.ranker_iterations // 5), "allow_writing_files": False})
    model.fit(Pool(features, labels.astype(np.float32), group_id=groups))
    return model


def split_users(users: np.ndarray, share: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(learning users, held-out users), both sorted."""
    held_out = rng.random(users.size) < share
    return users[~held_out], users[held_out]


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    history = work.load_history("fit")
    n_items = len(history.items)
    relevant: Pairs = work.load_pairs("target").unheard_in(history)
    rng = np.random.default_rng(params.seed)
    judged = scoring.judged_users(history, relevant)
    judged = np.sort(rng.choice(judged, size=min(params.ranker_users, judged.size), replace=False))
    content = context.item_content(history.items)
    sources = tuned_sources(context, history, content)
    builder = FeatureBuilder(history, content)
    maker = ListMaker(sources, history, builder, params.candidates_per_source)
    table = maker.table(judged)
    labels = np.isin(table.keys(n_items), relevant.keys(n_items))
    learners, held_out = split_users(judged, HELD_OUT_SHARE, rng)
    names = feature_names(table.source_names)

    in_learning = np.isin(table.users, learners)
    learning, learning_labels = table.take(np.flatnonzero(in_learning)), labels[in_learning]
    rows = learning_rows(learning, learning_labels, NEGATIVES_PER_USER, rng)
    learning, learning_labels = learning.take(rows), learning_labels[rows]
    log.info("ranker: learning on %d rows (%d positive) of %d users; %d users held out", rows.size,
             int(learning_labels.sum()), np.unique(learning.users).size, held_out.size)
    features = builder.build(learning)

    held = table.take(np.flatnonzero(np.isin(table.users, held_out)))
    held_relevant = relevant.of_users(held_out)
    per_user = {name: scoring.ndcg_per_user(held.source_list(name, scoring.K), held_out, held_relevant, n_items)
                for name in sources}
    models: dict[str, CatBoost] = {}
    for loss in ([params.ranker_loss] if params.ranker_loss else RANKER_LOSSES):
        models[loss] = fit_ranker(features, learning_labels, learning.users, loss, params)
        maker.ranker = models[loss]
        ranked = Candidates.top_by_score(held.users, held.items,
                                         maker.ranker_scores(held).astype(np.float32), scoring.K)
        per_user[f"ranker:{loss}"] = scoring.ndcg_per_user(ranked, held_out, held_relevant, n_items)
        log.info("ranker %s: validation ndcg@10 %.4f", loss, per_user[f"ranker:{loss}"].mean())
    validation = {name: float(values.mean()) if values.size else 0.0 for name, values in per_user.items()}
    best_loss = max(models, key=lambda loss: validation[f"ranker:{loss}"])
    models[best_loss].save_model(str(work.ranker_model_path()))
    best_source = max(sources, key=validation.__getitem__)
    ranker_wins = scoring.clearly_better(per_user[f"ranker:{best_loss}"], per_user[best_source])
    published = "ranker" if ranker_wins else best_source
    log.info("ranker: publishing %s (ranker %.4f, best source %s %.4f on %d held-out users)", published,
             validation[f"ranker:{best_loss}"], best_source, validation[best_source], held_out.size)
    report = {
        "published": published,
        "loss": best_loss,
        "best_source": best_source,
        "learning_rows": int(rows.size),
        "positives": int(learning_labels.sum()),
        "learning_users": int(np.unique(learning.users).size),
        "held_out_users": int(held_out.size),
        "validation_ndcg@10": {name: round(value, 6) for name, value in validation.items()},
        "feature_importance": dict(zip(names, np.round(models[best_loss].get_feature_importance(
            Pool(features, learning_labels.astype(np.float32), group_id=learning.users)), 2).tolist())),
    }
    work.save_ranker_report(report)
    return {key: report[key] for key in ("published", "loss", "learning_rows", "positives")}


def load_ranker(context: StageContext) -> CatBoost:
    """The ranker the ranker stage fit (whether or not its lists are published)."""
    model = CatBoost()
    model.load_model(str(context.work.ranker_model_path(existing=True)))
    return model
