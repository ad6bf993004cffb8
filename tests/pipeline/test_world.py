"""One fit per model: a source brought forward to a later cutoff scores like one fit there again."""

from pathlib import Path

import pytest

from musicrec.pipeline.context import StageContext
from musicrec.pipeline.workspace import Workspace
from musicrec.pipeline.world import compare_forward
from tests.pipeline.conftest import PARAMS

pytestmark = pytest.mark.slow


def test_als_brought_forward_scores_within_noise_of_a_full_refit(pipeline_run: Path):
    context = StageContext(pipeline_run / "raw", Workspace(pipeline_run / "work"), PARAMS,
                           pipeline_run / "artifacts")
    check = compare_forward(context, "als")
    assert check.users > 100
    assert check.difference >= -2 * check.standard_error, check
    assert check.forward_ndcg > 0.05


def test_every_stage_after_the_first_brings_the_sources_forward(pipeline_run: Path):
    timings = (pipeline_run / "work" / "timings.json").read_text()
    assert '"stage": "refit"' in timings
    fitted = pipeline_run / "work" / "fitted"
    assert {path.name for path in (fitted / "fit").iterdir()} >= {f"{name}.npz" for name in PARAMS.sources}
    assert (fitted / "eval" / "als.npz").exists() and (fitted / "serve" / "als.npz").exists()
