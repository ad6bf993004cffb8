"""The engine setting: the local engine is the default and never loads Spark."""

import subprocess
import sys

from musicrec.pipeline.engine import LOCAL
from musicrec.pipeline.engine_choice import open_engine
from musicrec.pipeline.sources import chosen_sources
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings, SparkSettings

# Everything a local run imports, then the check that pyspark is not among it.
LOCAL_RUN = """
import sys
from pathlib import Path
import musicrec.cli, musicrec.commands.pipeline
from musicrec.pipeline import evaluate, ranker, refit, split, tune, world
from musicrec.pipeline.engine_choice import open_engine
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings, SparkSettings
open_engine(PipelineSettings(), SparkSettings(), Workspace(Path("unused")))
sys.exit(int("pyspark" in sys.modules))
"""


def test_the_local_engine_is_the_default_and_uses_the_registered_sources(tmp_path):
    engine = open_engine(PipelineSettings(), SparkSettings(), Workspace(tmp_path))
    assert engine is LOCAL and engine.name == "local"
    assert engine.sources(PipelineSettings()) == chosen_sources(PipelineSettings())


def test_a_local_run_never_imports_pyspark():
    assert subprocess.run([sys.executable, "-c", LOCAL_RUN], timeout=120).returncode == 0
