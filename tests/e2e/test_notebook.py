"""tests.ipynb runs the course scenario against the real trio, and its answers are the expected ones."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from musicrec.settings import PROJECT_ROOT
from tests.e2e.conftest import Trio

pytestmark = pytest.mark.slow
NOTEBOOK = PROJECT_ROOT / "tests.ipynb"


def _results_by_tag(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The value each tagged cell ended with (its `Out[...]`), as text."""
    results = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "execute_result":
                for tag in cell.metadata.get("tags", []):
                    results[tag] = output.data["text/plain"]
    return results


def test_notebook_runs_the_course_scenario(shared_trio: Trio, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in shared_trio.env.items():  # the kernel inherits them: it talks to this trio
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOTEBOOK_USER_ID", "1")  # no other test adds listens for user 1 here
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    # Worked out from tests/artifact_factory.py: user 1 listens to 10, 11, 12 (newest last);
    # similar: 11 -> 10 (.75) 41 (.5); 10 -> 11 (.9) 12 (.5) 40 (.25); 12 has no learned list, so by
    # content: its Artist B's 11 (.4), then pop tracks by popularity 10, 11, 20 (.198); listens dropped.
    assert _results_by_tag(notebook) == {
        "default": "[30, 10, 20, 40, 41]",
        "offline": "[10, 11, 12, 13]",
        "add_online": "[12, 11, 10]",
        "online": "[41, 40, 20]",
        "blended": "[10, 41, 11, 40, 12, 20, 13]",
    }
