"""Stage `tune`: each candidate source's settings learned from the data at hand.

Every source is fit on the fit history (train) of a user sample and judged by NDCG@10 on the
target window, the validation split one window before the test period. The search is optuna's TPE
with median pruning (ALS reports after each iteration), within `[pipeline] tune_minutes` shared
by the sources in proportion to the settings each searches; each search starts from the defaults, so what it picks is never worse on
validation than what it would have used untuned. `--tune off` (tune = false) skips the search and
takes the defaults; a setting pinned in config.ini is never searched.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import optuna

from musicrec.pipeline import scoring
from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.sources import CandidateSource, SourceContext, chosen_sources
from musicrec.pipeline.sources.base import Choice

log = logging.getLogger(__name__)
MAX_TRIALS = 40
PRUNE_EVERY = 3  # ALS iterations between intermediate reports


class Validation:
    """The user sample and the target-window pairs every trial is judged on."""

    def __init__(self, history: History, target: Pairs, sample_size: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        active = history.active_users
        sample = np.sort(rng.choice(active, size=min(sample_size, active.size), replace=False))
        self.history = history if sample.size == active.size else history.keep_users(sample)
        self.relevant = target.of_users(sample).unheard_in(self.history)
        self.users = scoring.judged_users(self.history, self.relevant)

    def ndcg(self, source: CandidateSource) -> float:
        lists = source.recommend(self.users, scoring.K)
        return scoring.ndcg(lists, self.users, self.relevant, len(self.history.items))


def trial_budget(source: type[CandidateSource], searchable: dict[str, Any]) -> int:
    """How many trials a space deserves: every combination of a small all-choice space, else a cap."""
    if not searchable:
        return 1
    if all(isinstance(space, Choice) for space in searchable.values()):
        return min(MAX_TRIALS, math.prod(len(space.values) for space in searchable.values()))
    return MAX_TRIALS


def search(source: type[CandidateSource], context: SourceContext, validation: Validation,
           seconds: float) -> dict[str, Any]:
    """Search one source's settings; returns the chosen values and the table of trials."""
    settings = context.settings
    searchable = source.searchable(settings)
    defaults = {name: getattr(source.Params(), name) for name in searchable}
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=settings.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    study.enqueue_trial(defaults)

    def objective(trial: optuna.Trial) -> float:
        values = {name: space.suggest(trial, name) for name, space in searchable.items()}
        for earlier in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if earlier.params == values:  # TPE proposes a point again: no need to fit it twice
                return earlier.value
        candidate = source.from_values(values, context)

        def report(step: int, partial: CandidateSource) -> None:
            if step % PRUNE_EVERY == 0:
                trial.report(validation.ndcg(partial), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        candidate.fit(validation.history, progress=report)
        value = validation.ndcg(candidate)
        log.info("tune %s trial %d: ndcg@10 %.4f %s", source.name, trial.number, value, values)
        return value

    study.optimize(objective, n_trials=trial_budget(source, searchable), timeout=max(seconds, 1.0),
                   catch=(MemoryError,), gc_after_trial=True)
    best = study.best_trial
    return {
        "values": {**source.Params(**{**best.params, **source.pinned(settings)}).__dict__},
        "pinned": source.pinned(settings),
        "validation_ndcg@10": round(best.value, 6),
        "trials": [{"number": trial.number, "state": trial.state.name,
                    "ndcg@10": None if trial.value is None else round(trial.value, 6),
                    "params": trial.params} for trial in study.trials],
    }


def untuned(source: type[CandidateSource], context: SourceContext) -> dict[str, Any]:
    params = source.Params(**source.pinned(context.settings))
    return {"values": dict(params.__dict__), "pinned": source.pinned(context.settings), "trials": []}


def run(context: StageContext) -> dict[str, Any]:
    work, settings = context.work, context.params
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    history = work.load_history("fit")
    sources = chosen_sources(settings)
    source_context = SourceContext(settings, context.item_content(history.items))
    report: dict[str, Any] = {"tuned": settings.tune, "budget_minutes": settings.tune_minutes,
                              "sources": {}}
    if settings.tune:
        validation = Validation(history, work.load_pairs("target"), settings.tune_users, settings.seed)
        report.update(sample_users=int(validation.history.active_users.size),
                      judged_users=int(validation.users.size))
        deadline = time.monotonic() + settings.tune_minutes * 60
        weights = {name: max(len(source.searchable(settings)), 1) for name, source in sources.items()}
        for name, source in sources.items():
            share = (deadline - time.monotonic()) * weights[name] / sum(weights.values())
            del weights[name]
            report["sources"][name] = search(source, source_context, validation, share)
            log.info("tune %s: chose %s (validation ndcg@10 %.4f)", name,
                     report["sources"][name]["values"], report["sources"][name]["validation_ndcg@10"])
    else:
        report["sources"] = {name: untuned(source, source_context) for name, source in sources.items()}
    work.save_tuning(report)
    return {name: entry["values"] for name, entry in report["sources"].items()}


def tuned_sources(context: StageContext, history: History,
                  content: ItemContent) -> dict[str, CandidateSource]:
    """Every chosen source with the values the tune stage picked, fit on `history`."""
    settings = context.params
    chosen = context.work.load_tuning()["sources"]
    source_context = SourceContext(settings, content)
    fitted = {}
    for name, source in chosen_sources(settings).items():
        started = time.perf_counter()
        fitted[name] = source.from_values(chosen[name]["values"], source_context)
        fitted[name].fit(history)
        log.info("fit %s in %.1f s", name, time.perf_counter() - started)
    return fitted
