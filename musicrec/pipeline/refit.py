"""Stage `refit`: the chosen models fit again on every listen, for the lists the services serve.

The evaluation's lists never saw the test period, which is right for judging but wrong for serving:
a user's latest weeks must shape their recommendations. So the sources are fit on the serve
history (everything) with the tuned settings, the published model (the ranker or the best source)
makes every known user's list, and similar tracks and the default list come from the same
history (see outputs.py).
"""

from __future__ import annotations

import logging
from typing import Any

from musicrec.pipeline.context import StageContext
from musicrec.pipeline.features import FeatureBuilder
from musicrec.pipeline.lists import ListMaker
from musicrec.pipeline.outputs import write_servable
from musicrec.pipeline.ranker import load_ranker
from musicrec.pipeline.tune import tuned_sources

log = logging.getLogger(__name__)


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    history = work.load_history("serve")
    content = context.item_content(history.items)
    sources = tuned_sources(context, history, content)
    published = work.load_ranker_report()["published"]
    ranker = load_ranker(context) if published == "ranker" else None
    maker = ListMaker(sources, history, FeatureBuilder(history, content), params.candidates_per_source, ranker)
    lists = maker.lists(history.active_users, params.recommendations_per_user, (published,),
                        desc="published lists")[published]
    rows = write_servable(context, "", lists, sources, history, content)
    log.info("refit: lists from %s, rows %s", published, rows)
    return {"published": published, "rows": rows}
