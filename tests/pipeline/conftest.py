"""The whole pipeline run once per generated data shape, shared by the tests that read its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.pipeline.runner import STAGES, run_pipeline
from musicrec.settings import PipelineSettings

# The real defaults except for time: a short search and fewer CatBoost iterations.
PARAMS = PipelineSettings(seed=42, tune_minutes=0.75, ranker_iterations=150)


@pytest.fixture(scope="session", params=SHAPE_NAMES)
def pipeline_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 generated_raw) -> Path:
    """The root folder of a finished run on tiny data of each shape: raw/, work/ and artifacts/."""
    root = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    raw = generated_raw(request.param)
    (root / "raw").symlink_to(raw)
    timings = run_pipeline(raw, root / "artifacts", root / "work", PARAMS)
    assert [timing["stage"] for timing in timings] == list(STAGES)
    return root
