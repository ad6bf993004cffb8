"""The whole pipeline run once per generated data shape (and engine), shared by the tests that read
its output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.pipeline.runner import STAGES, run_pipeline
from musicrec.settings import PipelineSettings, SparkSettings

# The real defaults except for time: a short search and fewer CatBoost iterations.
PARAMS = PipelineSettings(seed=42, tune_minutes=0.75, ranker_iterations=150)
# Spark for tests: two cores as in CI, few shuffle partitions for tiny data, no web UI.
SPARK = SparkSettings(master="local[2]", conf={"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "4",
                                               "spark.ui.enabled": "false"})


@pytest.fixture(scope="session")
def pipeline_runs(tmp_path_factory: pytest.TempPathFactory, generated_raw) -> Callable[..., Path]:
    """`pipeline_runs(shape, engine="local")`: the root folder of a finished run on tiny data of that
    shape (raw/, work/ and artifacts/), made the first time a test asks for it and shared."""
    made: dict[tuple[str, str], Path] = {}

    def finished(shape: str, engine: str = "local") -> Path:
        if (shape, engine) not in made:
            root = tmp_path_factory.mktemp(f"pipeline-{shape}-{engine}")
            raw = generated_raw(shape)
            (root / "raw").symlink_to(raw)
            params = PARAMS.model_copy(update={"engine": engine})
            timings = run_pipeline(raw, root / "artifacts", root / "work", params, spark=SPARK)
            assert [timing["stage"] for timing in timings] == list(STAGES)
            made[shape, engine] = root
        return made[shape, engine]

    return finished


@pytest.fixture(scope="session", params=SHAPE_NAMES)
def pipeline_run(request: pytest.FixtureRequest, pipeline_runs: Callable[..., Path]) -> Path:
    """The root folder of a finished local run on tiny data of each shape."""
    return pipeline_runs(request.param)
