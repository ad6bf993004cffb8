"""Stage `ranker`: the models beside the sources, and which one is published.

Sources are fit on the fit history (train), once for the whole run (world.py). Users with a played
candidate in the target window are split: most learn, the rest are held out. On the learning users,
two models over the union of the sources' candidates are learned: a rank fusion of the sources
(fusion.py: a weight per source and a constant, searched in seconds) and a CatBoost ranker, which
learns which candidates a user plays (each loss in `RANKER_LOSSES`, or the one pinned). On the
held-out users, every source, the fusion and the ranker are compared by NDCG@10, and
`scoring.choose` picks what the pipeline publishes: the best single source, replaced by the fusion
only if clearly better, and that by the ranker only if clearly better again, so a list measured
worse than a baseline is never served and a dearer model earns its place over a simpler one. With
too few played candidates to learn from, neither is learned and the best source is published.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from catboost import CatBoost, Pool

from musicrec.datasets.packed import is_member
from musicrec.pipeline import scoring
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Candidates, Pairs
from musicrec.pipeline.features import feature_names
from musicrec.pipeline.fusion import learn_fusion
from musicrec.pipeline.lists import CandidateTable
from musicrec.pipeline.reports import FUSION, RANKER, RankerReport
from musicrec.pipeline.reranking import (
    HELD_OUT_SHARE,
    MIN_POSITIVES,
    NEGATIVES_PER_USER,
    RANKER_LOSSES,
    fit_ranker,
    learning_rows,
    split_users,
)
from musicrec.pipeline.world import FittedWorld

log = logging.getLogger(__name__)


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    world = FittedWorld.at(context, "fit")
    history = world.history
    n_items = len(history.items)
    relevant: Pairs = work.load_pairs("target").unheard_in(history)
    rng = np.random.default_rng(params.seed)
    judged = scoring.judged_users(history, relevant)
    judged = np.sort(rng.choice(judged, size=min(params.ranker_users, judged.size), replace=False))
    table = world.table(judged)
    labels = is_member(table.keys(n_items), relevant.keys(n_items))
    learners, held_out = split_users(judged, HELD_OUT_SHARE, rng)

    in_learning = np.isin(table.users, learners)
    learner_table, learner_labels = table.take(np.flatnonzero(in_learning)), labels[in_learning]
    rows = learning_rows(learner_table, learner_labels, NEGATIVES_PER_USER, rng)
    learning, learning_labels = learner_table.take(rows), learner_labels[rows]
    log.info("ranker: learning on %d rows (%d positive) of %d users; %d users held out", rows.size,
             int(learning_labels.sum()), np.unique(learning.users).size, held_out.size)

    held = table.take(np.flatnonzero(np.isin(table.users, held_out)))
    held_relevant = relevant.of_users(held_out)
    per_user = {name: scoring.ndcg_per_user(held.source_list(name, scoring.K), held_out, held_relevant, n_items)
                for name in world.sources}
    skipped, best_loss, importance, fusion_report = None, None, {}, None
    models: dict[str, CatBoost] = {}
    if int(learning_labels.sum()) < MIN_POSITIVES or not held_out.size:
        skipped = (f"{int(learning_labels.sum())} played candidates among {rows.size} learning rows and "
                   f"{held_out.size} held-out users: too few to learn and check a ranker or a fusion "
                   f"(at least {MIN_POSITIVES} positives needed)")
        log.warning("ranker: skipped: %s", skipped)
    else:
        fusion, fusion_report = learn_fusion(learner_table, learner_labels, learners, relevant)
        fused = Candidates.top_by_score(held.users, held.items, fusion.scores(held), scoring.K)
        per_user[FUSION] = scoring.ndcg_per_user(fused, held_out, held_relevant, n_items)
        log.info("fusion: weights %s, constant %g (%d settings tried in %.1f s); validation ndcg@10 %.4f",
                 fusion.weights, fusion.constant, fusion_report.evaluations, fusion_report.seconds,
                 per_user[FUSION].mean())
        features = world.maker.features.build(learning)
        models = learn(features, learning_labels, learning.users, world, held, held_out, held_relevant,
                       per_user, context)
        best_loss = max(models, key=lambda loss: float(per_user[f"{RANKER}:{loss}"].mean()))
        pool = Pool(features, learning_labels.astype(np.float32), group_id=learning.users)
        importance = dict(zip(feature_names(learning.source_names),
                              np.round(models[best_loss].get_feature_importance(pool), 2).tolist()))
    validation = {name: float(values.mean()) if values.size else 0.0 for name, values in per_user.items()}
    best_source = max(world.sources, key=validation.__getitem__)
    published, compared = scoring.choose(contenders(per_user, best_source, best_loss))
    if best_loss is not None:
        models[best_loss].save_model(str(work.ranker_model_path()))
    log.info("ranker: publishing %s (ranker %.4f, fusion %.4f, best source %s %.4f on %d held-out users)",
             published, validation.get(f"{RANKER}:{best_loss}", 0.0), validation.get(FUSION, 0.0),
             best_source, validation[best_source], held_out.size)
    report = RankerReport(
        published=published, loss=best_loss, best_source=best_source, learning_rows=int(rows.size),
        positives=int(learning_labels.sum()), learning_users=int(np.unique(learning.users).size),
        held_out_users=int(held_out.size), skipped=skipped,
        validation_ndcg_at_10={name: round(value, 6) for name, value in validation.items()},
        feature_importance=importance, fusion=fusion_report, compared=compared,
    )
    work.save_ranker_report(report)
    return {"published": published, "loss": best_loss, "learning_rows": report.learning_rows,
            "positives": report.positives, "fit_seconds": world.seconds,
            "fusion_seconds": fusion_report.seconds if fusion_report else None}


def contenders(per_user: dict[str, np.ndarray], best_source: str, loss: str | None) -> dict[str, np.ndarray]:
    """The held-out scores of what may be published, cheapest first, as `scoring.choose` takes them:
    the best source, the fusion (no model to run beyond the sources) and the ranker of the best loss
    (CatBoost over every candidate), each when it was learned."""
    found = {best_source: per_user[best_source]}
    if FUSION in per_user:
        found[FUSION] = per_user[FUSION]
    if loss is not None:
        found[RANKER] = per_user[f"{RANKER}:{loss}"]
    return found


def learn(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, world: FittedWorld, held: CandidateTable,
          held_out: np.ndarray, held_relevant: Pairs, per_user: dict[str, np.ndarray],
          context: StageContext) -> dict[str, CatBoost]:
    """Fit each loss and score it on the held-out users (into `per_user`)."""
    params, n_items = context.params, len(world.history.items)
    models: dict[str, CatBoost] = {}
    for loss in ([params.ranker_loss] if params.ranker_loss else RANKER_LOSSES):
        models[loss] = fit_ranker(features, labels, groups, loss, params)
        world.with_ranker(models[loss])
        ranked = Candidates.top_by_score(held.users, held.items,
                                         world.maker.ranker_scores(held).astype(np.float32), scoring.K)
        per_user[f"{RANKER}:{loss}"] = scoring.ndcg_per_user(ranked, held_out, held_relevant, n_items)
        log.info("ranker %s: validation ndcg@10 %.4f", loss, per_user[f"{RANKER}:{loss}"].mean())
    return models

