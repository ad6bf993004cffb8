"""The lists a service can serve, written at one history: personal lists, similar tracks and the
default list. The evaluation writes them from the eval history (so the replay judges lists that
never saw the test period); the refit writes them from the serve history (so they know every listen).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.pipeline import similar
from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.lists import recommendations_table
from musicrec.pipeline.reports import SimilarReport
from musicrec.pipeline.sequential import next_listens
from musicrec.pipeline.sources import SourceContext
from musicrec.pipeline.sources.als import AlsParams, AlsSource
from musicrec.pipeline.sources.popular import PopularSource
from musicrec.pipeline.split import HISTORY_ENDS_BEFORE, TARGET, TEST
from musicrec.pipeline.top_popular import popular_table
from musicrec.pipeline.world import FittedWorld

log = logging.getLogger(__name__)


def als_of(world: FittedWorld, context: StageContext) -> AlsSource:
    """The fitted ALS source, or one fit with defaults (by the run's engine): similar tracks need item
    factors even when ALS is not among the sources."""
    als = world.sources.get("als")
    if isinstance(als, AlsSource):
        return als
    als = context.engine.registry["als"](AlsParams(), SourceContext(context.params, world.content))
    assert isinstance(als, AlsSource)
    als.fit(world.history)
    return als


def als_at_fit(context: StageContext, history: History, content: ItemContent) -> AlsSource:
    """ALS as the ranker stage fit it (from its saved state), for similar tracks judged on the target
    window; fit with defaults when ALS is not among the sources."""
    work, settings = context.work, context.params
    source_context = SourceContext(settings, content)
    source_type = context.engine.registry["als"]
    if "als" not in context.engine.sources(settings):
        als = source_type(AlsParams(), source_context)
        assert isinstance(als, AlsSource)
        als.fit(history)
        return als
    als = source_type.from_values(work.load_tuning().values()["als"], source_context)
    assert isinstance(als, AlsSource)
    als.restore(history, work.load_source_state("fit", "als", "ranker"))
    return als


def choose_similar(context: StageContext) -> SimilarReport:
    """Which similar tracks to serve, judged at the fit cutoff on the target window's next listens."""
    sequence = context.work.load_sequence()
    if sequence is None:
        return similar.without_order(f"the {context.engine.name} engine keeps the listens' order where "
                                     "they are, so only ALS neighbours are made")
    history = context.work.load_history("fit")
    content = context.item_content(history.items)
    settings = context.params.similar
    maker = similar.SimilarMaker(als_at_fit(context, history, content), history, content, sequence,
                                 HISTORY_ENDS_BEFORE["fit"], settings, context.params.similar_per_item)
    pairs = next_listens(sequence, TARGET, settings.chunk_listens)
    report = similar.choose(maker, pairs, np.random.default_rng(context.params.seed))
    log.info("similar tracks: %s chosen; next-listen HitRate@10 on the target window %s (%d pairs)",
             report.chosen, report.validation, report.validation_pairs)
    return report


def similar_maker(context: StageContext, world: FittedWorld) -> similar.SimilarMaker:
    """The similar-track candidates at the world's history: its ALS, the listens' order up to it."""
    return similar.SimilarMaker(als_of(world, context), world.history, world.content,
                                context.work.load_sequence(), HISTORY_ENDS_BEFORE[world.cutoff],
                                context.params.similar, context.params.similar_per_item)


def judge_similar_on_test(context: StageContext, maker: similar.SimilarMaker,
                          report: SimilarReport) -> SimilarReport:
    """The report with each candidate's next-listen HitRate@10 on the test period."""
    if maker.sequence is None:
        return report
    maker.prefer_full = report.chosen != similar.ALS  # evaluation/similar.parquet needs every track's
    settings, rng = context.params.similar, np.random.default_rng(context.params.seed)
    pairs = next_listens(maker.sequence, TEST, settings.chunk_listens)
    if not maker.prefer_full:  # only ALS is served: judge the others after a share of the tracks (cost)
        pairs = pairs.from_tracks(similar.judged_tracks(maker.item_listens, similar.params_of(report).window,
                                                        settings.choice_pairs, rng))
    pairs = pairs.sample(settings.validation_pairs, rng)
    test = similar.judge_each(maker, report, pairs)
    log.info("similar tracks: next-listen HitRate@10 on the test period %s (%d pairs)", test, len(pairs))
    return report.model_copy(update={"test": test, "test_pairs": len(pairs)})


def write_servable(context: StageContext, folder: str, lists: Candidates, world: FittedWorld,
                   chosen: SimilarReport, maker: similar.SimilarMaker | None = None) -> dict[str, int]:
    """Write recommendations, similar (the `chosen` candidate) and top popular parquet files into
    `folder` of the work folder ("" for the top level); returns their row counts."""
    work, params, history = context.work, context.params, world.history
    maker = maker or similar_maker(context, world)
    popular = world.sources["popular"]  # always among the sources
    assert isinstance(popular, PopularSource)
    tables = {
        schema.RECOMMENDATIONS_FILE: recommendations_table(lists, history, tuple(world.sources)),
        schema.SIMILAR_FILE: similar.similar_table(maker, chosen),
        schema.TOP_POPULAR_FILE: popular_table(popular.counts, history.items, params.top_popular,
                                               work.items_path()),
    }
    for name, table in tables.items():
        pq.write_table(table, work.output(str(Path(folder) / name)))
    return {name: table.num_rows for name, table in tables.items()}
