"""Stage `ranker`: the models beside the sources, and which one is published.

Sources are fit on the fit history (train), once for the whole run (world.py). The ranker's users
(those with an unheard track in the target window, up to `ranker_users`) are dealt into
`ranker_folds` folds by user (crossfit.py). For each fold, two models over the union of the
sources' candidates are learnt on the other folds and score it: a rank fusion of the sources
(fusion.py: a weight per source and a constant, searched in seconds) and a CatBoost ranker, which
learns which candidates a user plays (each loss in `RANKER_LOSSES`, or the one pinned). So every
user is judged out of fold by every model and every source, and `scoring.choose` picks on all of
them, by NDCG@10 and the paired per-user standard error, what the pipeline publishes (the rule is
written there). The published fusion and ranker (of the loss best out of fold) are then learnt on
every user: they learn from every positive, where the out-of-fold figures judged the same
procedure learning from (K-1)/K of them, so those figures, if anything, undersell them. With too
few played candidates to learn from, neither is learned and the best source is published.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from catboost import CatBoost, Pool

from musicrec.datasets.packed import distinct, is_member
from musicrec.pipeline import scoring
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.crossfit import FoldRun, Folds, Learner, out_of_fold
from musicrec.pipeline.data import Pairs
from musicrec.pipeline.features import FeatureBuilder, feature_names
from musicrec.pipeline.fusion import learn_fusion
from musicrec.pipeline.lists import CandidateTable
from musicrec.pipeline.reports import FUSION, RANKER, FoldReport, FusionReport, RankerReport
from musicrec.pipeline.reranking import MIN_POSITIVES, NEGATIVES_PER_USER, RANKER_LOSSES, fit_ranker, learning_rows
from musicrec.pipeline.world import FittedWorld
from musicrec.settings import PipelineSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RankerSample:
    """The ranker's users, their candidate rows and labels (was the row's track played in the target
    window), and the rows a ranker learns from with their features."""

    users: np.ndarray  # sorted
    relevant: Pairs  # their unheard tracks of the target window
    table: CandidateTable
    labels: np.ndarray
    learning: CandidateTable
    learning_labels: np.ndarray
    features: np.ndarray  # of the learning rows

    @classmethod
    def draw(cls, world: FittedWorld, target: Pairs, params: PipelineSettings,
             rng: np.random.Generator) -> RankerSample:
        n_items = len(world.history.items)
        relevant = target.unheard_in(world.history)
        users = scoring.judged_users(world.history, relevant)
        users = np.sort(rng.choice(users, size=min(params.ranker_users, users.size), replace=False))
        keep = is_member(relevant.users, users)
        relevant = Pairs(relevant.users[keep], relevant.items[keep])
        table = world.table(users)
        labels = is_member(table.keys(n_items), relevant.keys(n_items))
        rows = learning_rows(table, labels, NEGATIVES_PER_USER, rng)
        learning = table.take(rows)
        features = world.maker.features.build(learning)
        return cls(users, relevant, table, labels, learning, labels[rows], features)

    def too_few(self) -> str | None:
        """Why no fusion and no ranker can be learnt and judged, if they cannot."""
        positives, players = int(self.labels.sum()), int(distinct(self.table.users[self.labels]).size)
        if positives >= MIN_POSITIVES and players >= 2:
            return None
        return (f"{positives} played candidates of {players} users among {self.users.size} users of the "
                f"target window: too few to learn and judge a ranker or a fusion (at least {MIN_POSITIVES} "
                "positives, of two users or more, needed)")

    def rows_of(self, users: np.ndarray) -> np.ndarray:
        """Positions of the candidate rows of `users` (sorted)."""
        return np.flatnonzero(is_member(self.table.users, users))

    def fusion_learner(self) -> Learner:
        """Learns a fusion on the given users' candidate rows (fusion.py)."""
        def learn(users: np.ndarray) -> Any:
            rows = self.rows_of(users)
            fusion, _ = learn_fusion(self.table.take(rows), self.labels[rows], users, self.relevant)
            return fusion.scores
        return learn

    def ranker_learner(self, loss: str, builder: FeatureBuilder, params: PipelineSettings) -> Learner:
        """Learns a CatBoost ranker of `loss` on the given users' learning rows."""
        def learn(users: np.ndarray) -> Any:
            model = self.fit_ranker(loss, params, is_member(self.learning.users, users))
            return lambda held: model.predict(builder.build(held), prediction_type="RawFormulaVal")
        return learn

    def fit_ranker(self, loss: str, params: PipelineSettings,
                   rows: np.ndarray | slice = slice(None)) -> CatBoost:
        """A CatBoost ranker of `loss` on the learning rows chosen by `rows` (all of them by default)."""
        return fit_ranker(self.features[rows], self.learning_labels[rows], self.learning.users[rows], loss,
                          params)


@dataclass(frozen=True)
class CrossFit:
    """Every user's out-of-fold NDCG@10 of the fusion and of the ranker of each loss, and the folds."""

    fusion: np.ndarray  # aligned with the sample's users
    rankers: dict[str, np.ndarray]  # by loss
    folds: list[FoldReport]
    catboost_seconds: dict[str, float]  # each loss, over the folds
    fusion_seconds: float  # the folds' searches

    @property
    def best_loss(self) -> str:
        return max(self.rankers, key=lambda loss: float(self.rankers[loss].mean()))

    @property
    def per_user(self) -> dict[str, np.ndarray]:
        return named(self.fusion, self.rankers)


def named(fusion: np.ndarray, rankers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-user scores as the validation table names them: FUSION and f"{RANKER}:{loss}"."""
    return {FUSION: fusion, **{f"{RANKER}:{loss}": values for loss, values in rankers.items()}}


def cross_fit(sample: RankerSample, folds: Folds, world: FittedWorld, params: PipelineSettings) -> CrossFit:
    """The fusion and each loss's ranker, learnt on every fold's complement and scoring the fold."""
    n_items = len(world.history.items)

    def judge(name: str, learner: Learner) -> tuple[np.ndarray, list[FoldRun]]:
        per_user, runs = out_of_fold(folds, sample.table, learner, sample.relevant, n_items)
        log.info("%s: out-of-fold ndcg@10 %.4f on %d users (%d folds; learning %s s)", name, per_user.mean(),
                 folds.users.size, folds.k, ", ".join(f"{run.seconds:.1f}" for run in runs))
        return per_user, runs

    fusion, fusion_runs = judge(FUSION, sample.fusion_learner())
    rankers, ranker_runs = {}, {}
    for loss in ([params.ranker_loss] if params.ranker_loss else RANKER_LOSSES):
        rankers[loss], ranker_runs[loss] = judge(f"{RANKER} {loss}",
                                                 sample.ranker_learner(loss, world.maker.features, params))
    reports = []
    for fold in range(folds.k):
        judged = folds.fold == fold
        reports.append(FoldReport(
            users=int(judged.sum()), positives=int(sample.labels[sample.rows_of(folds.judged(fold))].sum()),
            validation_ndcg_at_10={name: round(float(values[judged].mean()), 6) if judged.any() else 0.0
                                   for name, values in named(fusion, rankers).items()},
            catboost_seconds={loss: runs[fold].seconds for loss, runs in ranker_runs.items()},
            fusion_seconds=fusion_runs[fold].seconds))
    return CrossFit(fusion, rankers, reports,
                    {loss: round(sum(run.seconds for run in runs), 2) for loss, runs in ranker_runs.items()},
                    round(sum(run.seconds for run in fusion_runs), 2))


@dataclass(frozen=True)
class Published:
    """The fusion and the ranker the stage publishes (if chosen), learnt on every user of the sample."""

    fusion: FusionReport
    model: CatBoost
    catboost_seconds: float


def learn_published(sample: RankerSample, loss: str, params: PipelineSettings) -> Published:
    _, fusion = learn_fusion(sample.table, sample.labels, sample.users, sample.relevant)
    started = time.perf_counter()
    model = sample.fit_ranker(loss, params)
    return Published(fusion, model, round(time.perf_counter() - started, 2))


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    world = FittedWorld.at(context, "fit")
    rng = np.random.default_rng(params.seed)
    sample = RankerSample.draw(world, work.load_pairs("target"), params, rng)
    folds = Folds.deal(sample.users, sample.table.users[sample.labels], params.ranker_folds, rng)
    n_items = len(world.history.items)
    per_user = {name: scoring.ndcg_per_user(sample.table.source_list(name, scoring.K), sample.users,
                                            sample.relevant, n_items) for name in world.sources}
    log.info("ranker: %d users of the target window (%d played candidates) in %d folds; %d learning rows",
             sample.users.size, int(sample.labels.sum()), folds.k, len(sample.learning))
    skipped = sample.too_few()
    crossed, published = None, None
    if skipped:
        log.warning("ranker: skipped: %s", skipped)
    else:
        crossed = cross_fit(sample, folds, world, params)
        per_user.update(crossed.per_user)
        published = learn_published(sample, crossed.best_loss, params)
        published.model.save_model(str(work.ranker_model_path()))
    loss = crossed.best_loss if crossed else None
    choice = scoring.choose({name: per_user[name] for name in world.sources}, per_user.get(FUSION),
                            per_user.get(f"{RANKER}:{loss}"))
    report = ranker_report(sample, folds, per_user, choice, crossed, published, skipped)
    validation = report.validation_ndcg_at_10
    log.info("ranker: publishing %s (out of fold on %d users: ranker %.4f, fusion %.4f, best source %s "
             "%.4f); CatBoost fits %s s", choice.published, report.judged_users,
             validation.get(f"{RANKER}:{loss}", 0.0), validation.get(FUSION, 0.0), choice.best_source,
             validation[choice.best_source], report.catboost_seconds)
    work.save_ranker_report(report)
    return {"published": choice.published, "loss": loss, "folds": folds.k,
            "judged_users": report.judged_users, "positives": report.positives, "fit_seconds": world.seconds,
            "catboost_seconds": report.catboost_seconds, "fusion_seconds": report.fusion_seconds}


def ranker_report(sample: RankerSample, folds: Folds, per_user: dict[str, np.ndarray], choice: scoring.Choice,
                  crossed: CrossFit | None, published: Published | None, skipped: str | None) -> RankerReport:
    return RankerReport(
        published=choice.published, loss=crossed.best_loss if crossed else None,
        best_source=choice.best_source, folds=folds.k, judged_users=int(sample.users.size),
        judged_pairs=int(sample.relevant.users.size),
        positives=int(sample.labels.sum()), learning_rows=len(sample.learning),
        learning_users=int(distinct(sample.table.users[sample.labels]).size),
        validation_ndcg_at_10={name: round(float(values.mean()), 6) if values.size else 0.0
                               for name, values in per_user.items()},
        out_of_fold=crossed.folds if crossed else [],
        catboost_seconds={**crossed.catboost_seconds, "final": published.catboost_seconds}
        if crossed and published else {},
        fusion_seconds=round(crossed.fusion_seconds + published.fusion.seconds, 2)
        if crossed and published else 0.0,
        feature_importance=importance(published.model, sample) if published else {}, skipped=skipped,
        fusion=published.fusion if published else None, compared=choice.compared)


def importance(model: CatBoost, sample: RankerSample) -> dict[str, float]:
    """The published ranker's feature importance on its learning rows."""
    pool = Pool(sample.features, sample.learning_labels.astype(np.float32), group_id=sample.learning.users)
    return dict(zip(feature_names(sample.learning.source_names),
                    np.round(model.get_feature_importance(pool), 2).tolist()))
