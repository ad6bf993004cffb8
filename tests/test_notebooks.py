"""recommendations.ipynb runs headless top to bottom on tiny data it generates itself.

The kernel inherits this process's environment, so the MUSICREC_* overrides point the notebook's
settings at an empty temporary folder: the run covers the "no raw files yet" path, every pipeline
stage, the plots and the published artifact set the notebook reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from musicrec import schema
from musicrec.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow
NOTEBOOK = PROJECT_ROOT / "recommendations.ipynb"


def _tagged(notebook: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as plain text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    root = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MUSICREC_PATHS__RAW", str(root / "raw"))
        env.setenv("MUSICREC_PATHS__ARTIFACTS", str(root / "artifacts"))
        env.setenv("MUSICREC_DATA__SCALE", "tiny")
        env.setenv("MUSICREC_PIPELINE__TUNE_MINUTES", "0.5")  # a short search: the notebook, not the tuning, is tested
        env.setenv("OPENBLAS_NUM_THREADS", "1")
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    return notebook, root


def test_generates_missing_raw_data_and_publishes_a_set(executed) -> None:
    _, root = executed
    for name in schema.RAW_FILES:
        assert (root / "raw" / name).is_file()
    assert (root / "artifacts" / schema.MANIFEST_FILE).is_file()


def test_every_figure_cell_draws_a_png(executed) -> None:
    notebook, _ = executed
    figures = _tagged(notebook, "figure")
    assert len(figures) >= 7
    for cell in figures:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell.source[:80]


def test_metrics_cell_shows_the_published_metrics(executed) -> None:
    notebook, root = executed
    report = json.loads((root / "artifacts" / schema.METRICS_FILE).read_text())
    (cell,) = _tagged(notebook, "metrics")
    shown = _text(cell)
    assert f"{report['split']['evaluated_users']:,} users evaluated" in shown
    assert f"{report['cold_users']['users']:,} cold users" in shown
    for model in report["models"]:
        assert model in shown
    assert f"{report['models']['ranker']['recall@10']:.4f}" in shown
