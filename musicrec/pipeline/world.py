"""The fitted world at one cutoff: the history, what each track is made of, every candidate source
fit with its tuned settings, the ranker's features, and the lists they make.

Each source is fit once, at the first cutoff (`fit`, for the ranker stage), and brought forward to
the later ones (`eval` for the evaluation, `serve` for the published lists) from the state the
previous stage saved: ALS by a warm start, the cheap sources by a fit on the longer history
(`CandidateSource.fit_forward`). The ranker, evaluate and refit stages only say which cutoff they
need; none of them imports another.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from catboost import CatBoost

from musicrec.pipeline import scoring
from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.features import FeatureBuilder
from musicrec.pipeline.lists import CandidateTable, ListMaker
from musicrec.pipeline.sources import CandidateSource, SourceContext, chosen_sources
from musicrec.pipeline.workspace import Cutoff

log = logging.getLogger(__name__)
FIRST_CUTOFF: Cutoff = "fit"
MADE_BY: dict[Cutoff, str] = {"fit": "ranker", "eval": "evaluate", "serve": "refit"}


@dataclass
class FittedWorld:
    cutoff: Cutoff
    history: History
    content: ItemContent
    sources: dict[str, CandidateSource]
    maker: ListMaker
    seconds: dict[str, float] = field(default_factory=dict)  # each source's fit or bringing forward

    @classmethod
    def at(cls, context: StageContext, cutoff: Cutoff, earlier: Cutoff | None = None) -> FittedWorld:
        """Every chosen source at `cutoff`: fit there (no `earlier`), or brought forward from the
        fit the stage of `earlier` saved. The new fits' states are saved for the next stage."""
        work, settings = context.work, context.params
        history = work.load_history(cutoff)
        content = context.item_content(history.items)
        tuned = work.load_tuning().values()
        source_context = SourceContext(settings, content)
        sources: dict[str, CandidateSource] = {}
        seconds: dict[str, float] = {}
        for name, source_type in chosen_sources(settings).items():
            started = time.perf_counter()
            source = source_type.from_values(tuned[name], source_context)
            if earlier is None:
                source.fit(history)
            else:
                source.fit_forward(history, work.load_source_state(earlier, name, MADE_BY[earlier]))
            work.save_source_state(cutoff, name, source.state())
            sources[name] = source
            seconds[name] = round(time.perf_counter() - started, 1)
            log.info("%s %s at the %s cutoff in %.1f s", "fit" if earlier is None else "brought forward",
                     name, cutoff, seconds[name])
        maker = ListMaker(sources, history, FeatureBuilder(history, content), settings.candidates_per_source)
        return cls(cutoff, history, content, sources, maker, seconds)

    def with_ranker(self, model: CatBoost | None) -> FittedWorld:
        self.maker.ranker = model
        return self

    def table(self, users: np.ndarray) -> CandidateTable:
        """Every source's candidates for the users, side by side."""
        return self.maker.table(users)

    def lists(self, users: np.ndarray, k: int, models: tuple[str, ...], desc: str) -> dict[str, Candidates]:
        """Top k of each named model (the ranker or a source) for the users."""
        return self.maker.lists(users, k, models, desc=desc)


def load_ranker(context: StageContext) -> CatBoost:
    """The ranker the ranker stage fit (whether or not its lists are published)."""
    model = CatBoost()
    model.load_model(str(context.work.ranker_model_path(existing=True)))
    return model


@dataclass(frozen=True)
class ForwardCheck:
    """One source on the test period, brought forward from the fit cutoff against a full fit."""

    source: str
    users: int
    forward_ndcg: float
    refit_ndcg: float
    difference: float  # forward minus refit, mean over users
    standard_error: float  # of the paired per-user difference
    forward_seconds: float
    refit_seconds: float


def compare_forward(context: StageContext, name: str) -> ForwardCheck:
    """Is bringing `name` forward as good as fitting it again? Both at the eval cutoff, with the tuned
    settings, judged on the test period (a check for the tests and bench/forward.py)."""
    work, settings = context.work, context.params
    fit_history, history = work.load_history("fit"), work.load_history("eval")
    source_context = SourceContext(settings, context.item_content(history.items))
    values = work.load_tuning().values()[name]
    source_type = chosen_sources(settings)[name]
    earlier = source_type.from_values(values, source_context)
    earlier.fit(fit_history)
    state = earlier.state()
    del earlier, fit_history
    timed: dict[str, tuple[CandidateSource, float]] = {}
    for how in ("forward", "refit"):
        source, started = source_type.from_values(values, source_context), time.perf_counter()
        source.fit_forward(history, state) if how == "forward" else source.fit(history)
        timed[how] = (source, time.perf_counter() - started)
    relevant = work.load_pairs("test").unheard_in(history)
    users = scoring.judged_users(history, relevant)
    users = np.sort(np.random.default_rng(settings.seed).choice(
        users, size=min(settings.evaluation_users, users.size), replace=False))
    per_user = {how: scoring.ndcg_per_user(source.recommend(users, scoring.K), users, relevant,
                                           len(history.items)) for how, (source, _) in timed.items()}
    versus = scoring.paired_difference(per_user["forward"], per_user["refit"])
    return ForwardCheck(name, int(users.size), float(per_user["forward"].mean()), float(per_user["refit"].mean()),
                        versus["difference"], versus["standard_error"], round(timed["forward"][1], 2),
                        round(timed["refit"][1], 2))
