"""From a replay's ranks to the report's numbers: every metric per strategy and per user group.

Groups: all sampled users, users with offline recommendations, and cold users (no offline list:
offline and blended start from top popular). Every figure carries a bootstrap interval, and the
lift of blended over offline is bootstrapped paired (same user resamples for both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.api.strategies import BLENDED, OFFLINE
from musicrec.replay.listen_metrics import DEFAULT_KS, METRICS, Estimate, estimates, listen_gains, per_user_sums
from musicrec.replay.runner import ReplayResult

GROUPS: tuple[str, ...] = ("all users", "with offline recommendations", "cold (no offline list)")
LIFT_K = 10  # the bar: blended must beat offline on HitRate@10
Key = tuple[str, str, int]  # (strategy, metric, k)


@dataclass(frozen=True)
class GroupScores:
    group: str
    users: int
    listens: int
    values: dict[Key, Estimate]
    lift: Estimate | None  # blended minus offline HitRate@LIFT_K, when both were replayed


def _columns(result: ReplayResult, ks: tuple[int, ...]) -> tuple[list[Key], np.ndarray]:
    keys: list[Key] = []
    gains: list[np.ndarray] = []
    for column, strategy in enumerate(result.strategies):
        for metric in METRICS:
            for k in ks:
                keys.append((strategy, metric, k))
                gains.append(listen_gains(result.ranks[:, column], metric, k))
    return keys, np.stack(gains, axis=1) if gains else np.zeros((len(result.ranks), 0))


def score(
    result: ReplayResult, ks: tuple[int, ...] = DEFAULT_KS, resamples: int = 1000, seed: int = 0
) -> list[GroupScores]:
    """Every (strategy, metric, k) per group, plus the paired blended-minus-offline lift."""
    keys, gains = _columns(result, ks)
    has_lift = {OFFLINE.name, BLENDED.name} <= set(result.strategies)
    if has_lift:
        offline = listen_gains(result.ranks[:, result.strategies.index(OFFLINE.name)], "HitRate", LIFT_K)
        blended = listen_gains(result.ranks[:, result.strategies.index(BLENDED.name)], "HitRate", LIFT_K)
        gains = np.column_stack([gains, blended - offline])
    sample = result.sample
    sums = per_user_sums(gains, sample.offsets)
    counts = sample.listen_counts().astype(np.float64)
    masks = (np.ones(len(sample), dtype=bool), sample.has_offline, ~sample.has_offline)
    groups = []
    for name, mask in zip(GROUPS, masks):
        found = estimates(sums[mask], counts[mask], resamples, seed)
        groups.append(GroupScores(
            group=name, users=int(mask.sum()), listens=int(counts[mask].sum()),
            values=dict(zip(keys, found)), lift=found[-1] if has_lift else None,
        ))
    return groups


def latency_ms(result: ReplayResult) -> dict[str, dict[str, float]]:
    """Per strategy: mean, p50, p95 and p99 of call latency in milliseconds."""
    table = {}
    for column, strategy in enumerate(result.strategies):
        seconds = result.latency[:, column].astype(np.float64) * 1000.0
        if len(seconds) == 0:
            continue
        p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
        table[strategy] = {"mean": float(seconds.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99)}
    return table
