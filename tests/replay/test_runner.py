"""An exact replay on the tiny artifact set: every rank worked out by hand, then the metrics.

Artifacts (tests/artifact_factory.py): user 1's offline list is 10, 11, 12, 13; user 3 is unknown
(top popular 30, 10, 20, 40, 41); similar: 11 -> 10 (0.75), 41 (0.5); 20 -> 21, 42. 41 has no learned
list, so it is a new track: by content it gets 40 (its Artist E, 0.4), then the pop tracks by
popularity 10, 11, 20 (0.2 and just below).
Course rule: online_history 3, merge by max, alternate blend, no extra filtering.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.runner import STRATEGIES, rank_of, replay
from musicrec.replay.scores import score
from musicrec.settings import Settings, load_settings
from tests.artifact_factory import COURSE_RULE_ENV
from tests.replay.conftest import make_sample

LISTENS = {1: [11, 41, 12], 3: [20, 21]}
# rows: user 1's three listens, then user 3's two; columns: default, offline, online, blended
EXPECTED_RANKS = [
    [0, 2, 0, 2],  # 11: no history yet, so blended is offline
    [5, 0, 2, 3],  # 41: online [10, 41]; blended 10 11 41 12 13
    [0, 3, 0, 4],  # 12: online [10, 40, 20] (41 and 11 heard); blended 10 11 40 12 20 13
    [3, 3, 0, 3],  # 20: cold user, offline falls back to top popular
    [0, 0, 1, 2],  # 21: online [21, 42]; blended 30 21 10 42 20 40 41
]


def course_settings() -> Settings:
    return load_settings(environ=COURSE_RULE_ENV)


def test_rank_of() -> None:
    assert rank_of(7, [3, 7, 9]) == 2
    assert rank_of(8, [3, 7, 9]) == 0
    assert rank_of(8, []) == 0


def test_exact_replay_ranks_and_metrics(tiny_artifacts: Path) -> None:
    sample = make_sample(LISTENS, offline_users={1})
    target = LoadedArtifacts(tiny_artifacts).target(course_settings())
    result = asyncio.run(replay(sample, target, "inprocess", progress=False))
    assert result.strategies == STRATEGIES
    assert result.ranks.tolist() == EXPECTED_RANKS
    assert result.degraded.tolist() == [0, 0, 0, 0]

    everyone, with_offline, cold = score(result, ks=(2, 5), resamples=50)
    values = {key: estimate.value for key, estimate in everyone.values.items()}
    assert values[("blended", "HitRate", 2)] == pytest.approx(2 / 5)
    assert values[("blended", "HitRate", 5)] == pytest.approx(1.0)
    assert values[("blended", "MRR", 5)] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4 + 1 / 3 + 1 / 2) / 5)
    assert values[("blended", "NDCG", 5)] == pytest.approx((2 / math.log2(3) + 2 / math.log2(4) + 1 / math.log2(5)) / 5)
    assert values[("online", "MRR", 5)] == pytest.approx((1 / 2 + 1) / 5)
    assert values[("default", "MRR", 5)] == pytest.approx((1 / 5 + 1 / 3) / 5)
    assert values[("default", "HitRate", 2)] == 0.0
    assert values[("offline", "HitRate", 5)] == pytest.approx(3 / 5)
    assert everyone.lift is not None and everyone.lift.value == pytest.approx(1.0 - 3 / 5)  # HitRate@10
    assert (everyone.users, everyone.listens) == (2, 5)
    assert (with_offline.users, with_offline.listens, cold.users, cold.listens) == (1, 3, 1, 2)
    assert with_offline.values[("blended", "HitRate", 2)].value == pytest.approx(1 / 3)
    assert cold.values[("online", "HitRate", 2)].value == pytest.approx(1 / 2)


def test_replay_starts_from_an_empty_store_every_time(tiny_artifacts: Path) -> None:
    """Two targets from one LoadedArtifacts do not share listens: the same replay gives the same ranks."""
    loaded = LoadedArtifacts(tiny_artifacts)
    sample = make_sample(LISTENS, offline_users={1})
    first = asyncio.run(replay(sample, loaded.target(course_settings()), "inprocess", progress=False))
    again = asyncio.run(replay(sample, loaded.target(course_settings()), "inprocess", concurrency=2,
                               progress=False))
    assert np.array_equal(first.ranks, again.ranks)
