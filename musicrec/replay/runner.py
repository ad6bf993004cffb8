"""The replay loop: before each test listen, ask every strategy; then record the listen.

It talks to a `ReplayTarget`, which is either the live trio over HTTP (`replay.http`) or the same
`Recommender` code in this process (`replay.inprocess`). The loop, and so the hit lists, are the
same for both, which is what makes the fast in-process mode a faithful stand-in for large samples.
Users are replayed concurrently (each user's own listens strictly in order): a user's answers
depend only on that user's listens, so the interleaving of users cannot change any hit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm import tqdm

from musicrec.api.strategies import STRATEGIES as STRATEGY_TABLE
from musicrec.replay.sample import ReplaySample

logger = logging.getLogger(__name__)

STRATEGIES: tuple[str, ...] = tuple(STRATEGY_TABLE)  # every answer of the service, in the table's order
LIST_DEPTH = 20  # every strategy is asked for its top 20; metrics at smaller k cut this list


@dataclass(frozen=True)
class Reply:
    recs: list[int]
    degraded: bool = False


class ReplayTarget(Protocol):
    """Where recommendations are asked for and listens are sent."""

    async def recommend(self, strategy: str, user_id: int, k: int) -> Reply:
        """The top `k` of one strategy (a name in STRATEGIES) for the user, as of now."""
        ...

    async def put(self, user_id: int, item_id: int) -> None:
        """Record that the user listened to the track."""
        ...


@dataclass(frozen=True)
class ReplayResult:
    """What the replay saw, one row per replayed listen (in the sample's order).

    Attributes
    ----------
    ranks : int16 (listens, strategies): 1-based place of the listened track in the strategy's
        list asked just before, 0 when it was not in the list.
    latency : float32 (listens, strategies): seconds each call took, as the caller saw it.
    degraded : int64 per strategy: answers that said a dependency had failed.
    """

    sample: ReplaySample
    strategies: tuple[str, ...]
    ranks: np.ndarray
    latency: np.ndarray
    degraded: np.ndarray
    mode: str
    seconds: float


def rank_of(item: int, recs: Sequence[int]) -> int:
    """1-based place of `item` in `recs`, 0 if absent."""
    for place, rec in enumerate(recs, start=1):
        if rec == item:
            return place
    return 0


async def _replay_user(
    target: ReplayTarget, sample: ReplaySample, position: int, strategies: Sequence[str], depth: int,
    ranks: np.ndarray, latency: np.ndarray, degraded: np.ndarray,
) -> None:
    """One user's listens in order: ask every strategy, note where the real next track was, put it."""
    user_id = int(sample.users[position])
    first = int(sample.offsets[position])
    for row, item in enumerate(sample.listens_of(position).tolist(), start=first):
        for column, strategy in enumerate(strategies):
            started = time.perf_counter()
            reply = await target.recommend(strategy, user_id, depth)
            latency[row, column] = time.perf_counter() - started
            ranks[row, column] = rank_of(item, reply.recs[:depth])
            degraded[column] += reply.degraded
        await target.put(user_id, item)


async def replay(
    sample: ReplaySample, target: ReplayTarget, mode: str, strategies: Sequence[str] = STRATEGIES,
    depth: int = LIST_DEPTH, concurrency: int = 1, progress: bool = True,
) -> ReplayResult:
    """Replay every sampled user's test listens through `target`, `concurrency` users at a time."""
    ranks = np.zeros((sample.listens, len(strategies)), dtype=np.int16)
    latency = np.zeros((sample.listens, len(strategies)), dtype=np.float32)
    degraded = np.zeros(len(strategies), dtype=np.int64)
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    with tqdm(total=sample.listens, desc=f"replay ({mode})", unit="listen", disable=not progress) as bar:
        async def one_user(position: int) -> None:
            async with gate:
                await _replay_user(target, sample, position, strategies, depth, ranks, latency, degraded)
                bar.update(len(sample.listens_of(position)))

        await asyncio.gather(*(one_user(position) for position in range(len(sample))))
    seconds = time.perf_counter() - started
    logger.info("replayed %d listens of %d users (%s) in %.1f s", sample.listens, len(sample), mode, seconds)
    return ReplayResult(sample, tuple(strategies), ranks, latency, degraded, mode, seconds)
