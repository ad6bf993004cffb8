"""What a setting costs at the size of the data at hand, and a run plan that keeps the time budget.

Tuning fits every setting on a user sample. Its fit time there says little by itself: what matters
is the time of the run's final fits on every listen. So each source's default setting is timed on
the sample and on half of it; the exponent of fit time in listens follows from the two
(seconds ~ listens ^ exponent), and every trial's sample time is projected to the listens of each
cutoff the source is fit at (a full fit at the first, `forward_cost_share` of one at the others).
The run plan adds the lists every stage makes and the ranker's learning, and compares the whole
with `[pipeline] budget_minutes`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from catboost import CatBoost, Pool

from musicrec.pipeline.reports import RunPlan, SourceTuning, StagePlan
from musicrec.pipeline.reranking import NEGATIVES_PER_USER, catboost_params
from musicrec.pipeline.workspace import Cutoff
from musicrec.settings import PipelineSettings

MIN_EXPONENT, MAX_EXPONENT = 0.5, 2.5  # beyond these a measurement on small samples is noise
CUTOFFS: tuple[Cutoff, ...] = ("fit", "eval", "serve")  # fit once at the first, then brought forward
LEARNING_ROWS_PER_USER = NEGATIVES_PER_USER + 2  # sampled negatives and a few positives per user


def measured_exponent(small: tuple[int, float], large: tuple[int, float], floor: float = MIN_EXPONENT) -> float:
    """The exponent b of seconds ~ listens^b through two (listens, seconds) measurements, at least
    `floor` (the source's own lower bound, `CandidateSource.min_cost_exponent`); 1 when they
    cannot tell (equal sizes, or a time too small to measure)."""
    (n_small, t_small), (n_large, t_large) = small, large
    if n_large <= n_small or min(t_small, t_large) <= 0:
        return max(1.0, floor)
    exponent = math.log(t_large / t_small) / math.log(n_large / n_small)
    return float(np.clip(exponent, max(MIN_EXPONENT, floor), MAX_EXPONENT))


def projected(seconds: float, sample_listens: int, listens: int, exponent: float) -> float:
    """Seconds measured on `sample_listens` listens, projected to `listens`."""
    return seconds * (max(listens, 1) / max(sample_listens, 1)) ** exponent


def fit_seconds_per_cutoff(fit_seconds: float, forward_share: float, sample_listens: int,
                           listens: dict[str, int], exponent: float) -> dict[str, float]:
    """One setting's fits over the run: a full fit at the first cutoff, then brought forward to each
    later one at `forward_share` of a full fit."""
    return {cutoff: (1.0 if cutoff == CUTOFFS[0] else forward_share)
            * projected(fit_seconds, sample_listens, listens[cutoff], exponent) for cutoff in CUTOFFS}


@dataclass(frozen=True)
class RankerSpeed:
    """CatBoost's speed on this machine, timed on random rows of the ranker's width."""

    learn_seconds_per_row_iteration: dict[str, float]  # per loss
    predict_seconds_per_row: float  # of a model with the ranker's number of trees

    @classmethod
    def measure(cls, features: int, losses: tuple[str, ...], seed: int, trees: int, rows: int = 20_000,
                iterations: int = 20) -> RankerSpeed:
        rng = np.random.default_rng(seed)
        x = rng.random((rows, features), dtype=np.float32)
        pool = Pool(x, (rng.random(rows) < 0.05).astype(np.float32), group_id=np.arange(rows) // 20)
        learn: dict[str, float] = {}
        model = CatBoost()
        for loss in losses:
            model = CatBoost({**catboost_params(loss, iterations, seed), "verbose": False})
            started = time.perf_counter()
            model.fit(pool)
            learn[loss] = (time.perf_counter() - started) / (rows * iterations)
        full = CatBoost({**catboost_params(losses[0], trees, seed), "verbose": False})
        full.fit(Pool(x[:2_000], pool.get_label()[:2_000]))
        started = time.perf_counter()
        full.predict(x, prediction_type="RawFormulaVal")
        return cls(learn, (time.perf_counter() - started) / rows)


@dataclass(frozen=True)
class ListedUsers:
    """How many users each stage makes lists for, and candidate rows per user."""

    ranker: int
    evaluate: int
    refit: int
    candidates_per_user: int
    similar_queries: int  # played tracks: each gets similar tracks at the eval and serve cutoffs


def ranker_learn_seconds(settings: PipelineSettings, ranker: RankerSpeed, users: int) -> float:
    """CatBoost's fits in the ranker stage (ranker.py): for each loss, one per fold on the other
    `ranker_folds - 1` folds' rows, K - 1 times the rows in all; then the published fit of the loss
    best out of fold on every row (priced at the slowest loss: which one wins is not known yet).
    The rows are bounded by `ranker_users`, so this does not grow with the data beyond that."""
    speeds = ranker.learn_seconds_per_row_iteration
    slowest = max(speeds.values())
    losses = [settings.ranker_loss] if settings.ranker_loss else list(speeds)
    per_row = (settings.ranker_folds - 1) * sum(speeds.get(loss, slowest) for loss in losses) \
        + max(speeds.get(loss, slowest) for loss in losses)
    return per_row * users * LEARNING_ROWS_PER_USER * settings.ranker_iterations


def plan_run(settings: PipelineSettings, sources: dict[str, SourceTuning], users: ListedUsers,
             ranker: RankerSpeed, spent_seconds: float) -> RunPlan:
    """The projected time of every stage after tuning, from the chosen settings' measured costs."""
    costs = {name: entry.cost for name, entry in sources.items() if entry.cost is not None}
    list_seconds_per_user = sum(cost.list_seconds_per_user for cost in costs.values())
    learn = ranker_learn_seconds(settings, ranker, users.ranker)
    scoring_per_user = ranker.predict_seconds_per_row * users.candidates_per_user
    # similar tracks: one query against the ALS pool per played track, like one user's ALS list
    similar = users.similar_queries * costs["als"].list_seconds_per_user if "als" in costs else 0.0

    def stage(name: str, cutoff: Cutoff, listed: int, verb: str, extra: dict[str, float]) -> StagePlan:
        parts = {f"{verb} {source}": cost.fit_seconds[cutoff] for source, cost in costs.items()}
        parts.update(extra, lists=listed * (list_seconds_per_user + scoring_per_user))
        parts = {part: round(seconds, 1) for part, seconds in parts.items()}
        return StagePlan(stage=name, seconds=round(sum(parts.values()), 1), parts=parts)

    stages = [stage("ranker", "fit", users.ranker, "fit", {"learn": learn}),
              stage("evaluate", "eval", users.evaluate, "forward", {"similar": similar}),
              stage("refit", "serve", users.refit, "forward", {"similar": similar})]
    plan = RunPlan(budget_minutes=settings.budget_minutes, spent_seconds=round(spent_seconds, 1),
                   stages=stages)
    plan.fits = plan.projected_seconds <= settings.budget_minutes * 60
    return plan
