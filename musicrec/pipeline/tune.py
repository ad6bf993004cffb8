"""Stage `tune`: each candidate source's settings learned from the data at hand, priced at its size.

Every source is fit on the fit history (train) of a user sample and judged by NDCG@10 on the
target window, the validation split one window before the test period. The search is optuna's TPE
with median pruning (ALS reports after each iteration), within `[pipeline] tune_minutes` shared
by the sources in proportion to the settings each searches; each search starts from the defaults.

Each trial's fit is timed and projected to the run's final fits (budget.py). Among the settings
whose validation NDCG@10 is within the noise of the best (one standard error of the paired per-user
difference), the cheapest is chosen; then the whole remaining run is planned, and while it would
exceed `[pipeline] budget_minutes`, the source with the dearest fits falls back to its best cheaper
setting. `--tune off` (tune = false) skips the search and takes the defaults; a setting pinned in
config.ini is never searched. So does a sample with fewer than `[pipeline] min_window_users` users
to judge (thin validation data would choose on noise, or on zeros): it takes the defaults, with a
warning and the reason in tuning.json (`skipped`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import optuna

from musicrec.datasets.packed import distinct
from musicrec.pipeline import budget, scoring
from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.features import feature_names
from musicrec.pipeline.reports import RunPlan, SourceCost, SourceTuning, Trial, TuningReport
from musicrec.pipeline.reranking import RANKER_LOSSES
from musicrec.pipeline.sources import CandidateSource, SourceContext
from musicrec.pipeline.sources.base import Choice, candidate_pool
from musicrec.settings import PipelineSettings

log = logging.getLogger(__name__)
MAX_TRIALS = 40
PRUNE_EVERY = 3  # ALS iterations between intermediate reports
MIN_SAVING_SHARE = 0.02  # a fallback must save this share of the budget to be worth its loss
LOSS_FLOOR = 0.01  # a share of NDCG lost below this counts as this (so free moves rank by time saved)


class Validation:
    """The user sample and the target-window pairs every trial is judged on.

    The sample is a history of its own: its users, and the tracks they heard or play in the target
    window, renumbered. So a trial costs what the sample's size costs, and its time grows with the
    sample as a fit on every listen grows with the data (which is what the cost model measures).
    """

    def __init__(self, history: History, target: Pairs, sample_size: int, seed: int,
                 content: ItemContent) -> None:
        rng = np.random.default_rng(seed)
        active = history.active_users
        self.full_history, self.full_content, self.target = history, content, target
        self.sample = np.sort(rng.choice(active, size=min(sample_size, active.size), replace=False))
        self.history, self.content, self.relevant = self.restricted(self.sample)
        self.users = scoring.judged_users(self.history, self.relevant)
        self.listens = int(self.history.matrix.nnz)

    def restricted(self, users: np.ndarray) -> tuple[History, ItemContent, Pairs]:
        """The history, track content and unheard target pairs of these users, renumbered."""
        target = self.target.of_users(users)
        heard = self.full_history.matrix[users].indices
        items = distinct(np.concatenate([heard, target.items]))
        history = self.full_history.restricted_to(users, items)
        content = ItemContent(self.full_content.artist[items], self.full_content.album[items],
                              self.full_content.genre[items])
        relevant = Pairs(np.searchsorted(users, target.users).astype(np.int32),
                         np.searchsorted(items, target.items).astype(np.int32))
        return history, content, relevant.unheard_in(history)

    def ndcg_per_user(self, source: CandidateSource) -> np.ndarray:
        lists = source.recommend(self.users, scoring.K)
        return scoring.ndcg_per_user(lists, self.users, self.relevant, len(self.history.items))

    def ndcg(self, source: CandidateSource) -> float:
        per_user = self.ndcg_per_user(source)
        return float(per_user.mean()) if per_user.size else 0.0

    def half(self) -> tuple[History, ItemContent]:
        """Half the sample: the second size the fit-time exponent is measured on."""
        history, content, _ = self.restricted(self.sample[::2])
        return history, content

    @cached_property
    def pool_ratio(self) -> float:
        """How much larger the data's candidate pool is than the sample's: lists cost per user grows
        with the tracks each user is scored against."""
        sample_pool = candidate_pool(self.history.item_listens).size
        return candidate_pool(self.full_history.item_listens).size / max(sample_pool, 1)


@dataclass
class Search:
    """One source's search: its trials, the per-user scores of those that completed, their cost."""

    source: type[CandidateSource]
    tuning: SourceTuning
    per_user: dict[int, np.ndarray] = field(default_factory=dict)
    forward_share: dict[int, float] = field(default_factory=dict)


def trial_budget(source: type[CandidateSource], searchable: dict[str, Any]) -> int:
    """How many trials a space deserves: every combination of a small all-choice space, else a cap."""
    if not searchable:
        return 1
    if all(isinstance(space, Choice) for space in searchable.values()):
        return min(MAX_TRIALS, math.prod(len(space.values) for space in searchable.values()))
    return MAX_TRIALS


def search(source: type[CandidateSource], context: SourceContext, validation: Validation,
           seconds: float) -> Search:
    """Search one source's settings; the trials with their scores and measured times."""
    settings = context.settings
    searchable = source.searchable(settings)
    defaults = {name: getattr(source.Params(), name) for name in searchable}
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=settings.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    study.enqueue_trial(defaults)
    found = Search(source, SourceTuning(values={}, pinned=source.pinned(settings)))
    fit_seconds: dict[int, tuple[float, float]] = {}

    def objective(trial: optuna.Trial) -> float:
        values = {name: space.suggest(trial, name) for name, space in searchable.items()}
        for earlier in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if earlier.params == values:  # TPE proposes a point again: no need to fit it twice
                found.per_user[trial.number] = found.per_user[earlier.number]
                found.forward_share[trial.number] = found.forward_share[earlier.number]
                fit_seconds[trial.number] = fit_seconds[earlier.number]
                return float(earlier.value or 0.0)
        candidate = source.from_values(values, context)
        judging = [0.0]  # seconds spent judging partial fits: not part of the fit's cost

        def report(step: int, partial: CandidateSource) -> None:
            if step % PRUNE_EVERY == 0:
                judged = time.perf_counter()
                trial.report(validation.ndcg(partial), step)
                judging[0] += time.perf_counter() - judged
                if trial.should_prune():
                    raise optuna.TrialPruned()

        started = time.perf_counter()
        candidate.fit(validation.history, progress=report)
        fitted = time.perf_counter() - started - judging[0]
        per_user = validation.ndcg_per_user(candidate)
        fit_seconds[trial.number] = (fitted, time.perf_counter() - started - judging[0] - fitted)
        found.per_user[trial.number] = per_user
        found.forward_share[trial.number] = candidate.forward_cost_share()
        value = float(per_user.mean()) if per_user.size else 0.0
        log.info("tune %s trial %d: ndcg@10 %.4f in %.1f s %s", source.name, trial.number, value, fitted, values)
        return value

    study.optimize(objective, n_trials=trial_budget(source, searchable), timeout=max(seconds, 1.0),
                   catch=(MemoryError,), gc_after_trial=True)
    found.tuning.trials = [
        Trial(number=trial.number, state=trial.state.name, params=trial.params,
              ndcg_at_10=None if trial.value is None else round(trial.value, 6),
              fit_seconds=round(fit_seconds[trial.number][0], 3) if trial.number in fit_seconds else None,
              list_seconds=round(fit_seconds[trial.number][1], 3) if trial.number in fit_seconds else None)
        for trial in study.trials]
    return found


def price(found: Search, context: SourceContext, validation: Validation, listens: dict[str, int]) -> None:
    """Measure how the source's fit time grows (its default on half the sample, then on the whole,
    back to back so both see the same machine) and project every completed trial's fits over the
    run."""
    default = found.tuning.trials[0]
    if default.fit_seconds is None:
        return
    half, half_content = validation.half()
    points = []
    for history, content in ((half, half_content), (validation.history, validation.content)):
        started = time.perf_counter()
        found.source.from_values(default.params, SourceContext(context.settings, content)).fit(history)
        points.append((int(history.matrix.nnz), time.perf_counter() - started))
    half_point, full_point = points
    exponent = budget.measured_exponent(half_point, full_point, found.source.min_cost_exponent)
    for trial in found.tuning.trials:
        if trial.fit_seconds is not None:
            trial.projected_fit_seconds = round(sum(budget.fit_seconds_per_cutoff(
                trial.fit_seconds, found.forward_share[trial.number], validation.listens, listens,
                exponent).values()), 1)
    found.tuning.cost = SourceCost(exponent=round(exponent, 3), sample_listens=validation.listens,
                                   half_sample=(half_point[0], round(half_point[1], 3)),
                                   full_sample=(full_point[0], round(full_point[1], 3)), listens=listens,
                                   list_seconds_per_user=0.0)


def choose(found: Search, trial: Trial, settings: PipelineSettings, validation: Validation,
           listens: dict[str, int]) -> None:
    """Make `trial` the source's setting: its values, score, noise and projected costs."""
    tuning, best = found.tuning, completed(found)[0]
    tuning.values = dict(found.source.Params(**{**trial.params, **tuning.pinned}).__dict__)
    tuning.validation_ndcg_at_10 = trial.ndcg_at_10
    tuning.best_trial_ndcg_at_10 = best.ndcg_at_10
    tuning.noise = scoring.paired_difference(found.per_user[trial.number],
                                             found.per_user[best.number])["standard_error"]
    tuning.refused_for_cost = [other for other in completed(found)
                               if (other.ndcg_at_10 or 0.0) > (trial.ndcg_at_10 or 0.0)]
    cost = tuning.cost
    if cost is not None and trial.fit_seconds is not None:
        cost.fit_seconds = {cutoff: round(seconds, 1) for cutoff, seconds in budget.fit_seconds_per_cutoff(
            trial.fit_seconds, found.forward_share[trial.number], validation.listens, listens,
            cost.exponent).items()}
        cost.list_seconds_per_user = (trial.list_seconds or 0.0) / max(validation.users.size, 1) \
            * validation.pool_ratio


def completed(found: Search) -> list[Trial]:
    """The trials that finished, best validation NDCG@10 first (earlier trials first on ties)."""
    done = [trial for trial in found.tuning.trials if trial.state == "COMPLETE" and trial.ndcg_at_10 is not None
            and trial.number in found.per_user]
    return sorted(done, key=lambda trial: (-(trial.ndcg_at_10 or 0.0), trial.number))


def within_noise(found: Search, budget_seconds: float) -> list[Trial]:
    """The completed trials whose score is within one paired standard error of the best and whose
    projected fits fit the budget, cheapest first."""
    ranked = completed(found)
    best = found.per_user[ranked[0].number]
    close = []
    for trial in ranked:
        versus = scoring.paired_difference(found.per_user[trial.number], best)
        affordable = trial.projected_fit_seconds is None or trial.projected_fit_seconds <= budget_seconds
        if affordable and versus["difference"] >= -versus["standard_error"]:
            close.append(trial)
    return sorted(close, key=lambda trial: (trial.projected_fit_seconds or 0.0, trial.number))


def first_choice(found: Search, budget_seconds: float) -> Trial:
    """The cheapest setting within the noise of the best; if none of those fits the budget, the best
    that does; if none does, the cheapest."""
    ranked = completed(found)
    if not ranked:
        raise RuntimeError(f"tune {found.source.name}: no trial completed; see the log above")
    close = within_noise(found, budget_seconds)
    affordable = [trial for trial in ranked if (trial.projected_fit_seconds or 0.0) <= budget_seconds]
    if close:
        return close[0]
    return affordable[0] if affordable else min(ranked, key=lambda trial: trial.projected_fit_seconds or 0.0)


def cheaper_than(found: Search, trial: Trial) -> list[Trial]:
    """Completed trials whose projected fits cost less than `trial`'s, best first."""
    limit = trial.projected_fit_seconds or 0.0
    return [other for other in completed(found)
            if other.projected_fit_seconds is not None and other.projected_fit_seconds < limit]


def keep_budget(searches: dict[str, Search], chosen: dict[str, Trial], plan_for: Callable[[], RunPlan],
                settings: PipelineSettings, validation: Validation, listens: dict[str, int]) -> RunPlan:
    """Plan the run; while it would exceed the budget, take the cheaper setting that saves the most
    time for the validation NDCG@10 it gives up, among moves that save a worthwhile share of the
    budget. Every move is logged and kept in the plan."""
    plan = plan_for()
    fallbacks = []
    while not plan.fits:
        move = best_move(searches, chosen, settings.budget_minutes * 60 * MIN_SAVING_SHARE)
        if move is None:
            fallbacks.append(f"projected {plan.projected_seconds / 60:.1f} min exceeds the budget of "
                             f"{settings.budget_minutes:g} min and no cheaper setting saves enough")
            log.warning("tune: %s", fallbacks[-1])
            break
        name, after = move
        before = chosen[name]
        fallbacks.append(f"{name}: {after.params} instead of {before.params} (projected fits "
                         f"{after.projected_fit_seconds:.0f} s instead of {before.projected_fit_seconds:.0f} s, "
                         f"validation ndcg@10 {after.ndcg_at_10:.4f} instead of {before.ndcg_at_10:.4f}): "
                         f"the run was projected at {plan.projected_seconds / 60:.1f} min")
        log.warning("tune: budget of %g min: %s", settings.budget_minutes, fallbacks[-1])
        chosen[name] = after
        choose(searches[name], after, settings, validation, listens)
        plan = plan_for()
    plan.fallbacks = fallbacks
    return plan


def best_move(searches: dict[str, Search], chosen: dict[str, Trial], least_saving: float) -> tuple[str, Trial] | None:
    """The (source, cheaper setting) that saves the most seconds per share of validation NDCG@10 lost,
    among those saving at least `least_saving` seconds."""
    moves = []
    for name, trial in chosen.items():
        for other in cheaper_than(searches[name], trial):
            saved = (trial.projected_fit_seconds or 0.0) - (other.projected_fit_seconds or 0.0)
            lost = max((trial.ndcg_at_10 or 0.0) - (other.ndcg_at_10 or 0.0), 0.0) / max(trial.ndcg_at_10 or 0.0, 1e-9)
            if saved >= least_saving:
                moves.append((saved / (lost + LOSS_FLOOR), name, other))
    if not moves:
        return None
    _, name, other = max(moves, key=lambda move: move[0])
    return name, other


def spent_seconds(context: StageContext) -> float:
    """Seconds the run's earlier stages took (as the runner recorded them)."""
    return sum(entry["seconds"] for entry in context.work.load_timings() if entry["stage"] in ("prepare", "split"))


def run(context: StageContext) -> dict[str, Any]:
    work, settings = context.work, context.params
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    history = work.load_history("fit")
    sources = context.engine.sources(settings)
    content = context.item_content(history.items)
    report = TuningReport(tuned=settings.tune, budget_minutes=settings.budget_minutes, sources={})
    if not settings.tune:
        report.sources = {name: untuned(source, settings) for name, source in sources.items()}
        work.save_tuning(report)
        return report.values()
    validation = Validation(history, work.load_pairs("target"), settings.tune_users, settings.seed, content)
    source_context = SourceContext(settings, validation.content)
    report.sample_users, report.judged_users = int(validation.sample.size), int(validation.users.size)
    report.skipped = too_few_to_judge(validation, settings)
    if report.skipped:
        log.warning("tune: not searched: %s", report.skipped)
        report.tuned = False
        report.sources = {name: untuned(source, settings) for name, source in sources.items()}
        work.save_tuning(report)
        return report.values()
    log.info("tune: a sample of %d users, %d tracks, %d listens; %d judged on the target window",
             validation.sample.size, len(validation.history.items), validation.listens, validation.users.size)
    listens: dict[str, int] = {cutoff: work.history_pairs(cutoff) for cutoff in budget.CUTOFFS}
    deadline = time.monotonic() + settings.tune_minutes * 60
    weights = {name: max(len(source.searchable(settings)), 1) for name, source in sources.items()}
    searches: dict[str, Search] = {}
    for name, source in sources.items():
        share = (deadline - time.monotonic()) * weights[name] / sum(weights.values())
        del weights[name]
        searches[name] = search(source, source_context, validation, share)
        price(searches[name], source_context, validation, listens)
    chosen = {name: first_choice(found, settings.budget_minutes * 60) for name, found in searches.items()}
    for name, trial in chosen.items():
        choose(searches[name], trial, settings, validation, listens)
    ranker_speed = budget.RankerSpeed.measure(len(feature_names(tuple(sources))), RANKER_LOSSES, settings.seed,
                                              settings.ranker_iterations)
    users = budget.ListedUsers(
        ranker=min(settings.ranker_users, validation.users.size * len(history.users) // max(validation.sample.size, 1)),
        evaluate=min(settings.evaluation_users,
                     work.load_history_active_users("eval", among=work.load_pairs("test").users)),
        refit=int(work.load_history_active_users("serve")),
        candidates_per_user=settings.candidates_per_source * len(sources),
        similar_queries=int((history.item_listens > 0).sum()))
    spent = spent_seconds(context) + time.perf_counter() - started

    def plan_for() -> RunPlan:
        return budget.plan_run(settings, {name: found.tuning for name, found in searches.items()}, users,
                               ranker_speed, spent)

    report.plan = keep_budget(searches, chosen, plan_for, settings, validation, listens)
    report.sources = {name: found.tuning for name, found in searches.items()}
    for name, entry in report.sources.items():
        log.info("tune %s: chose %s (validation ndcg@10 %.4f, best %.4f; projected fits %s s)", name,
                 entry.values, entry.validation_ndcg_at_10 or 0.0, entry.best_trial_ndcg_at_10 or 0.0,
                 entry.cost.fit_seconds if entry.cost else "?")
    log_plan(report.plan)
    work.save_tuning(report)
    return report.values()


def log_plan(plan: RunPlan) -> None:
    lines = [f"  {stage.stage:<9} {stage.seconds / 60:6.1f} min  " +
             ", ".join(f"{part} {seconds:.0f} s" for part, seconds in stage.parts.items())
             for stage in plan.stages]
    log.info("tune: the run is projected at %.1f min of a %g-min budget (%.1f min spent so far):\n%s",
             plan.projected_seconds / 60, plan.budget_minutes, plan.spent_seconds / 60, "\n".join(lines))


def too_few_to_judge(validation: Validation, settings: PipelineSettings) -> str | None:
    """Why the search would choose on noise (or on zeros), if it would: too few users of the sample
    have a track to find in the target window."""
    judged = int(validation.users.size)
    if judged >= settings.min_window_users:
        return None
    return (f"{judged} users of the tuning sample have an unheard track in the target window, fewer than "
            f"[pipeline] min_window_users = {settings.min_window_users}: every source takes its defaults "
            "(and the values pinned in config.ini)")


def untuned(source: type[CandidateSource], settings: PipelineSettings) -> SourceTuning:
    params = source.Params(**source.pinned(settings))
    return SourceTuning(values=dict(params.__dict__), pinned=source.pinned(settings))
