"""The whole pipeline run once per generated data shape, shared by the tests that read its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicrec.datasets.scales import get_scale
from musicrec.datasets.synthetic import generate
from musicrec.pipeline.runner import STAGES, run_pipeline
from musicrec.settings import PipelineSettings

# The real defaults except for time: a short search and fewer CatBoost iterations.
PARAMS = PipelineSettings(seed=42, tune_minutes=0.75, ranker_iterations=150)
SHAPES = ("course",)


def generate_shape(out: Path, shape: str) -> None:
    generate(out, get_scale("tiny"), seed=42)


@pytest.fixture(scope="session", params=SHAPES)
def pipeline_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root folder of a finished run: raw/, work/ and artifacts/."""
    root = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    generate_shape(root / "raw", request.param)
    timings = run_pipeline(root / "raw", root / "artifacts", root / "work", PARAMS)
    assert [timing["stage"] for timing in timings] == list(STAGES)
    return root
