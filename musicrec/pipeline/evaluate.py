"""Stage `evaluate`: every source, the fusion, the ranker and the published choice judged on the test
period.

The sources fit for the ranker stage are brought forward to the eval history (everything before the
test period; world.py), and the fusion and the ranker the ranker stage learned re-rank their
candidates, as serving would do on the first test day. Relevant items of a user = tracks listened
in the test period that the user had not heard before it (models, like the service, recommend only
unheard tracks).
Users judged: known before the test period, with at least one relevant track; cold users (first
listen in the test period) are judged separately, where only top popular can serve them. The
published model's lists, with similar tracks and top popular of the same history, are kept in
evaluation/ as a servable set for the replay. Which similar tracks those are is chosen here too, on
the target window's next listens with the models of the fit cutoff (similar.py), and each candidate
is judged on the test period's.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from musicrec.datasets.packed import distinct
from musicrec.pipeline import ranking_metrics, scoring
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.fusion import RankFusion
from musicrec.pipeline.outputs import choose_similar, judge_similar_on_test, similar_maker, write_servable
from musicrec.pipeline.reports import FUSION, RANKER, MetricsReport, Validation
from musicrec.pipeline.sources.popular import PopularSource
from musicrec.pipeline.workspace import EVALUATION_DIR
from musicrec.pipeline.world import FittedWorld, load_ranker

log = logging.getLogger(__name__)
K = scoring.K


def random_recs(n_users: int, items: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k uniformly random items per user (the floor every model must beat)."""
    if not items.size:
        return np.full((n_users, k), ranking_metrics.NO_ITEM, dtype=np.int64)
    return items[rng.integers(0, items.size, size=(n_users, k))].astype(np.int64)


def listed_users(history: History, test: Pairs, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Users who get evaluation lists: those known before the test period who listen in it (every
    user the metrics judge and the replay can draw), or a sample of them. Lists of users without
    test listens would be made and never read."""
    listeners = np.intersect1d(history.active_users, distinct(test.users), assume_unique=True)
    return listeners if listeners.size <= limit else np.sort(rng.choice(listeners, size=limit, replace=False))


def cold_report(history: History, relevant: Pairs, popular: np.ndarray) -> dict[str, Any]:
    """Top popular on users whose first listen is in the test period."""
    known = np.diff(history.matrix.indptr) > 0
    cold = distinct(relevant.users[~known[relevant.users]])
    recs = np.broadcast_to(popular[:K], (cold.size, min(K, popular.size))).astype(np.int64)
    return {"users": int(cold.size), "popular": scoring.judge(recs, cold, relevant, history)}


def evaluate(context: StageContext) -> MetricsReport:
    work, params = context.work, context.params
    chosen_similar = choose_similar(context)  # first: the fit history it reads is let go before the eval world
    ranker_report = work.load_ranker_report()
    world = FittedWorld.at(context, "eval", earlier="fit")
    models_listed = tuple(world.sources)
    if ranker_report.fusion is not None:
        world.with_fusion(RankFusion.of(ranker_report.fusion))
        models_listed = (*models_listed, FUSION)
    if ranker_report.loss is not None:
        world.with_ranker(load_ranker(context))
        models_listed = (*models_listed, RANKER)
    history = world.history
    test = work.load_pairs("test")
    relevant = test.unheard_in(history)
    rng = np.random.default_rng(params.seed)
    users = listed_users(history, test, params.evaluation_users, rng)
    lists = world.lists(users, params.recommendations_per_user, models_listed, desc="evaluation lists")
    judged = np.intersect1d(scoring.judged_users(history, relevant), users, assume_unique=True)
    models = {"random": scoring.judge(random_recs(judged.size, np.flatnonzero(history.item_listens > 0), K,
                                                  rng), judged, relevant, history)}
    for name, found in lists.items():
        models[name] = scoring.judge(scoring.as_matrix(found, judged), judged, relevant, history)
    published = ranker_report.published
    best_source = max(world.sources, key=lambda name: models[name]["ndcg@10"])
    n_items = len(history.items)
    per_user = {name: scoring.ndcg_per_user(lists[name], judged, relevant, n_items)
                for name in dict.fromkeys((published, best_source, FUSION, RANKER)) if name in lists}
    versus = {name: scoring.paired_difference(per_user[name], per_user[best_source]) for name in per_user}
    popular = world.sources["popular"]
    assert isinstance(popular, PopularSource)
    report = MetricsReport(
        split=work.load_split().model_copy(update={"evaluated_users": int(judged.size),
                                                   "listed_users": int(users.size), "k": K}),
        published=published,
        models={**models, "published": models[published]},
        # NDCG@10 of the published list minus the best single source's on the test period, per user
        published_vs_best_source={"best_source": best_source, **versus[published]},
        models_vs_best_source={name: versus[name] for name in (FUSION, RANKER) if name in versus},
        cold_users=cold_report(history, relevant, popular.ranked_items()),
        validation=Validation(tuning=work.load_tuning(), ranker=ranker_report),
        forward_seconds=world.seconds,
    )
    maker = similar_maker(context, world)
    report.similar = judge_similar_on_test(context, maker, chosen_similar)
    work.save_similar(report.similar)
    report.evaluation_rows = write_servable(context, EVALUATION_DIR, lists[published], world, report.similar,
                                            maker)
    return report


def format_table(report: MetricsReport) -> str:
    """The metrics as a fixed-width text table: one row per model, cold users last."""
    rows = dict(report.models)
    rows["cold: popular"] = report.cold_users["popular"]
    names = list(next(iter(rows.values())).keys())
    width = max(len(name) for name in names) + 2
    lines = [f"{'model':<18}" + "".join(f"{name:>{width}}" for name in names)]
    for model, values in rows.items():
        lines.append(f"{model:<18}" + "".join(f"{values[name]:>{width}.4f}" for name in names))
    return "\n".join(lines)


def run(context: StageContext) -> dict[str, Any]:
    report = evaluate(context)
    context.work.save_metrics(report)
    log.info("evaluate: %d users judged, %d cold users; published %s\n%s", report.split.evaluated_users,
             report.cold_users["users"], report.published, format_table(report))
    return {"evaluated_users": report.split.evaluated_users, "published": report.published,
            "ndcg@10": {name: values["ndcg@10"] for name, values in report.models.items()},
            "forward_seconds": report.forward_seconds}
