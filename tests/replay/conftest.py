"""Shared replay fixtures: the tiny artifact set and a hand-made replay sample over it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from musicrec.replay.sample import ReplaySample
from tests.artifact_factory import write_artifact_set


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("replay_artifacts"))


def make_sample(listens: dict[int, list[int]], offline_users: set[int]) -> ReplaySample:
    """A ReplaySample of the given users' listens (already in time order)."""
    users = sorted(listens)
    counts = [len(listens[user]) for user in users]
    return ReplaySample(
        users=np.array(users, dtype=np.int32),
        has_offline=np.array([user in offline_users for user in users]),
        offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        items=np.array([item for user in users for item in listens[user]], dtype=np.int32),
        test_start=date(2022, 12, 18),
    )
