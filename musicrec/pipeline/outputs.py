"""The lists a service can serve, written at one history: personal lists, similar tracks and the
default list. The evaluation writes them from the eval history (so the replay judges lists that
never saw the test period); the refit writes them from the serve history (so they know every listen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.pipeline.content import ItemContent, content_neighbours
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.lists import recommendations_table
from musicrec.pipeline.sources import SourceContext
from musicrec.pipeline.sources.als import AlsParams, AlsSource
from musicrec.pipeline.sources.popular import PopularSource
from musicrec.pipeline.top_popular import popular_table
from musicrec.pipeline.world import FittedWorld


def similar_table(als: AlsSource, history: History, content: ItemContent, k: int) -> pa.Table:
    """similar.parquet for every catalog track: ALS neighbours if played, else content ones."""
    listens = history.item_listens
    played, unplayed = np.flatnonzero(listens > 0), np.flatnonzero(listens == 0)
    first, second, score = als.similar(played, k)
    c_first, c_second, c_score = content_neighbours(unplayed, played, content, listens, k)
    first, second = np.concatenate([first, c_first]), np.concatenate([second, c_second])
    score = np.concatenate([score, c_score]).astype(np.float32)
    order = np.lexsort((-score, first))
    return pa.table({schema.ITEM_ID_1: history.items.decode(first[order]).astype(np.int32),
                     schema.ITEM_ID_2: history.items.decode(second[order]).astype(np.int32),
                     schema.SCORE: score[order]}, schema=schema.SIMILAR_SCHEMA)


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


def write_servable(context: StageContext, folder: str, lists: Candidates, world: FittedWorld) -> dict[str, int]:
    """Write recommendations, similar and top popular parquet files into `folder` of the work folder
    ("" for the top level); returns their row counts."""
    work, params, history = context.work, context.params, world.history
    popular = world.sources["popular"]  # always among the sources
    assert isinstance(popular, PopularSource)
    tables = {
        schema.RECOMMENDATIONS_FILE: recommendations_table(lists, history, tuple(world.sources)),
        schema.SIMILAR_FILE: similar_table(als_of(world, context), history, world.content,
                                           params.similar_per_item),
        schema.TOP_POPULAR_FILE: popular_table(popular.counts, history.items, params.top_popular,
                                               work.items_path()),
    }
    for name, table in tables.items():
        pq.write_table(table, work.output(str(Path(folder) / name)))
    return {name: table.num_rows for name, table in tables.items()}
