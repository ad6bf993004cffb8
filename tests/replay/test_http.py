"""HTTP mode against a real trio (uvicorn processes) gives exactly the in-process mode's hit lists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from musicrec.replay.evaluate import replay_http
from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.runner import replay
from musicrec.settings import load_settings
from tests.replay.conftest import make_sample

TRACKS = [10, 11, 12, 13, 20, 21, 30, 31, 40, 41, 42, 99]


@pytest.mark.slow
def test_http_and_inprocess_give_identical_hit_lists(tiny_artifacts: Path) -> None:
    rng = np.random.default_rng(11)
    listens = {user: rng.choice(TRACKS, size=6, replace=False).tolist() for user in (1, 2, 3, 5, 7, 8)}
    sample = make_sample(listens, offline_users={1, 2, 5})
    settings = load_settings()  # config.ini as the private trio reads it; a private events store
    in_process = asyncio.run(replay(sample, LoadedArtifacts(tiny_artifacts).target(settings), "inprocess",
                                    progress=False))
    store = settings.events.sqlite_path
    store_before = store.stat().st_mtime_ns if store.exists() else None
    over_http = replay_http(sample, settings, tiny_artifacts, concurrency=3, depth=20)
    assert (store.stat().st_mtime_ns if store.exists() else None) == store_before  # the user's store untouched
    assert over_http.mode == "http"
    assert over_http.degraded.tolist() == [0, 0, 0, 0]
    assert np.array_equal(over_http.ranks, in_process.ranks)
    assert (over_http.ranks[:, 2:] > 0).sum() >= 5  # the online part really hit something
    assert np.all(over_http.latency > 0)
