"""Stage `refit`: the chosen models brought forward to every listen, for the lists the services serve.

The evaluation's lists never saw the test period, which is right for judging but wrong for serving:
a user's latest weeks must shape their recommendations. So the sources of the evaluation are
brought forward to the serve history (everything; world.py), the published model (the ranker, the
fusion or the best source) makes every known user's list, and similar tracks and the default list come from
the same history (see outputs.py).
"""

from __future__ import annotations

import logging
from typing import Any

from musicrec.pipeline.context import StageContext
from musicrec.pipeline.fusion import RankFusion
from musicrec.pipeline.outputs import write_servable
from musicrec.pipeline.world import FittedWorld, load_ranker

log = logging.getLogger(__name__)


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    report = work.load_ranker_report()
    world = FittedWorld.at(context, "serve", earlier="eval")
    if report.publishes_ranker:
        world.with_ranker(load_ranker(context))
    if report.publishes_fusion:
        assert report.fusion is not None
        world.with_fusion(RankFusion.of(report.fusion))
    lists = world.lists(world.history.active_users, params.recommendations_per_user, (report.published,),
                        desc="published lists")[report.published]
    rows = write_servable(context, "", lists, world, work.load_similar())
    log.info("refit: lists from %s, rows %s", report.published, rows)
    return {"published": report.published, "rows": rows, "forward_seconds": world.seconds}
