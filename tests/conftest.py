"""Test-wide set-up: tests never read the developer's config.ini values for paths or ports."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# A real redis-server, started only for tests that ask for the `redis_url` fixture.
pytest_plugins = ["tests.redis_server"]


@pytest.fixture(scope="session")
def tiny_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three raw course files at scale tiny, seed 7, generated once per test session."""
    from musicrec.datasets.scales import get_scale
    from musicrec.datasets.synthetic import generate

    out_dir = tmp_path_factory.mktemp("tiny_raw")
    generate(out_dir, get_scale("tiny"), seed=7)
    return out_dir
