"""The engine `[pipeline] engine` names: this process, or Spark (imported only when asked for)."""

from __future__ import annotations

from musicrec.pipeline.engine import LOCAL, Engine
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings, SparkSettings


def open_engine(params: PipelineSettings, spark: SparkSettings, work: Workspace) -> Engine:
    """The engine `[pipeline] engine` names; a Spark engine starts (or joins) its Spark session."""
    if params.engine == "spark":
        from musicrec.pipeline.spark.engine import SparkEngine  # pyspark only when asked for

        return SparkEngine(spark, work)
    return LOCAL
