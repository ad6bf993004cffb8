"""The real trio for end-to-end tests: three uvicorn processes on free ports, tiny artifacts, temp SQLite.

Everything a process needs is passed as `MUSICREC_*` environment overrides, exactly as a deployment
would configure it; the same environment is given to `test_service.py` and to the notebook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from musicrec.runtime.launcher import RunningService, private_trio_environment, running, trio
from musicrec.settings import Settings, load_settings
from tests.artifact_factory import COURSE_RULE_ENV, write_artifact_set


@dataclass
class Trio:
    """A running trio: the overrides that configure it, its settings, and its processes by name."""

    env: dict[str, str]
    settings: Settings
    services: dict[str, RunningService]
    log_dir: Path

    def url(self, name: str) -> str:
        return self.services[name].url


def trio_environment(folder: Path) -> dict[str, str]:
    """Free ports, the tiny artifact set, a fresh SQLite file under `folder`, the course blending rule."""
    artifacts = write_artifact_set(folder / "artifacts")
    return {**COURSE_RULE_ENV, **private_trio_environment(artifacts, folder / "events.sqlite3")}


@contextlib.contextmanager
def started_trio(folder: Path, **overrides: str) -> Iterator[Trio]:
    """The trio on the tiny set, with `overrides` (MUSICREC_* names) on top of its environment."""
    env = {**trio_environment(folder), **overrides}
    settings = load_settings(environ={**os.environ, **env})
    with running(trio(settings), "127.0.0.1", env, log_dir=folder) as services:
        yield Trio(env, settings, {service.spec.name: service for service in services}, folder)


@pytest.fixture(scope="session")
def shared_trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    """One trio for the tests that only read or add listens of their own users."""
    with started_trio(tmp_path_factory.mktemp("trio")) as running_trio:
        yield running_trio


@pytest.fixture()
def own_trio(tmp_path: Path) -> Iterator[Trio]:
    """A trio of the test's own, for tests that stop one of its services."""
    with started_trio(tmp_path) as running_trio:
        yield running_trio
