"""`SparkEngine`: the pipeline's per-listen work on Apache Spark (see musicrec/pipeline/engine.py).

Spark prepares and splits the listens, fits the ALS and popular sources and makes item-kNN's
similarities (a self-join on the user); the driver keeps everything bounded by design (the catalog,
EASE and artist on the driver's histories, item-kNN's scoring from its collected neighbours,
CatBoost on its sample of users, the tuning loop) and makes the lists from what Spark fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicrec.pipeline.engine import Engine
from musicrec.pipeline.prepare import PrepareReport
from musicrec.pipeline.sources import SOURCES
from musicrec.pipeline.spark import prepare, session, split
from musicrec.pipeline.spark.als import SparkAlsSource
from musicrec.pipeline.spark.itemknn import SparkItemKnnSource
from musicrec.pipeline.spark.popular import SparkPopularSource
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import SparkSettings

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext


class SparkEngine(Engine):
    name = "spark"
    registry = {**SOURCES, **{source.name: source for source in (SparkAlsSource, SparkItemKnnSource,
                                                                 SparkPopularSource)}}

    def __init__(self, settings: SparkSettings, work: Workspace) -> None:
        self.run = session.start(settings, work)

    def prepare(self, raw_dir: Path, work: Workspace) -> PrepareReport:
        return prepare.prepare(self.run.session, raw_dir, work)

    def split(self, context: StageContext) -> dict[str, Any]:
        return split.split(self.run.session, context)

    def close(self) -> None:
        session.stop()
