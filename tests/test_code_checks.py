"""Lint and types are part of the suite: `ruff check` and `mypy` over the whole checkout, both clean.

Their settings (the rule set, which modules mypy checks strictly) live in pyproject.toml; these
tests only run the two tools from the project root, as `make test` does, and fail with what they
printed. mypy keeps its cache in `.mypy_cache`, so a second run checks only what changed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from musicrec.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert done.returncode == 0, f"ruff check found problems:\n{done.stdout}{done.stderr}"


def test_mypy_finds_nothing() -> None:
    done = _run("mypy")
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
