"""The Spark session of a pipeline run, built from `[spark]`, and the state the Spark sources share.

Spark allows one active session per process, so the run's Spark state is one object too
(`SparkRun`): the engine starts it, the Spark sources find it with `current()`, and the engine stops
it when the run ends.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from musicrec.pipeline.workspace import Workspace
from musicrec.settings import SettingsError, SparkSettings

# Settings every run needs whatever [spark] conf says: days are counted in UTC, as pyarrow counts
# them in the local engine, so both engines split on the same dates.
FIXED_CONF = {"spark.sql.session.timeZone": "UTC"}
# Defaults [spark] conf may change: the driver collects every history (16 bytes a pair), far more
# than Spark's 1 GiB default limit on what a job may send it at full size.
DEFAULT_CONF = {"spark.driver.maxResultSize": "0"}
LOCAL_PARTITIONS_PER_CORE = 4
CHECKPOINTS = "spark/checkpoints"
# pyspark warns on each Arrow conversion that it does not test pandas 3; the engine hands Spark
# Arrow tables only, never pandas frames.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


@dataclass
class SparkRun:
    """A run's Spark session, its settings and work folder, and a cache of the frames made from the
    driver's histories (a tuning search fits many settings on one sample)."""

    session: SparkSession
    settings: SparkSettings
    work: Workspace
    cached: list[Any] = field(default_factory=list)  # [matrix, frame] of the last history sent

    @property
    def parallelism(self) -> int:
        return int(self.session.sparkContext.defaultParallelism)


_current: SparkRun | None = None


def start(settings: SparkSettings, work: Workspace) -> SparkRun:
    """Start (or join) the Spark session and make it the run's."""
    global _current
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SettingsError("[pipeline] engine = spark needs a Java runtime: `make system` installs "
                            "openjdk-17-jre-headless (or set JAVA_HOME)")
    builder = SparkSession.builder.appName(settings.app_name)
    # spark-submit starts the JVM itself and tells PySpark its port: then its --master and --conf win.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if not submitted:
        builder = builder.master(settings.master)
        if settings.master.startswith("local"):
            # Python workers on this machine run this interpreter, so they see the same packages;
            # and a Spark on one machine listens on loopback only.
            # (PySpark reads both from the environment when it starts.)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for key, value in {**DEFAULT_CONF, **settings.conf, **FIXED_CONF}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    partitions = "spark.sql.shuffle.partitions"
    master = session.sparkContext.master or ""  # typed optional; a running context has one
    if master.startswith("local") and not session.sparkContext.getConf().contains(partitions):
        # Spark's default of 200 is sized for clusters; on one machine it makes every shuffle much
        # slower (bench/results/pipeline-spark.md). On a cluster, set it for the cluster.
        session.conf.set(partitions, str(LOCAL_PARTITIONS_PER_CORE * session.sparkContext.defaultParallelism))
    session.sparkContext.setCheckpointDir(settings.checkpoint_dir or str(work.output(CHECKPOINTS)))
    _current = SparkRun(session, settings, work)
    return _current


def current() -> SparkRun:
    """The run's Spark state; the Spark sources exist only under the Spark engine."""
    if _current is None:
        raise RuntimeError("the Spark sources run under [pipeline] engine = spark, which starts Spark first")
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.session.stop()
        _current = None
