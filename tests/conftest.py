"""Test-wide set-up: tests never read the developer's config.ini values for paths or ports."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# A real redis-server, started only for tests that ask for the `redis_url` fixture.
pytest_plugins = ["tests.redis_server"]

GENERATED_SEED = 7


@pytest.fixture(scope="session")
def generated_raw(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`generated_raw(shape, scale="tiny")`: a folder with the three raw course files of that shape
    and scale (seed 7), generated the first time a test asks for it and shared for the session.

    Tests that must hold for every shape take `musicrec.datasets.shapes.SHAPE_NAMES` as parameters.
    """
    from musicrec.datasets.scales import get_scale
    from musicrec.datasets.synthetic import generate

    made: dict[tuple[str, str], Path] = {}

    def raw_dir(shape: str, scale: str = "tiny") -> Path:
        if (shape, scale) not in made:
            out_dir = tmp_path_factory.mktemp(f"{scale}_{shape}_raw")
            generate(out_dir, get_scale(scale, shape), seed=GENERATED_SEED)
            made[shape, scale] = out_dir
        return made[shape, scale]

    return raw_dir


@pytest.fixture(scope="session")
def tiny_raw_dir(generated_raw: Callable[..., Path]) -> Path:
    """The three raw course files at scale tiny of the default (course) shape."""
    return generated_raw("course")
