"""HitRate@k, MRR@k and NDCG@k of replayed listens, with bootstrap confidence intervals over users.

Each replayed listen has one relevant item (the track actually played next), so per listen:
HitRate@k = 1 if it was in the top k; MRR@k = 1/rank; NDCG@k = 1/log2(rank + 1) (the ideal DCG
of one relevant item is 1); all 0 when the track was not in the top k. A metric is the mean over
listens (what share of plays the list foresaw), so users who listen more weigh more.

The listens of one user are not independent, so the confidence intervals resample USERS (a
cluster bootstrap): each resample draws users with replacement and recomputes the pooled mean.
A difference between two strategies is bootstrapped on the same resamples (paired), which is
much tighter than comparing two separate intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS: tuple[str, ...] = ("HitRate", "MRR", "NDCG")
DEFAULT_KS: tuple[int, ...] = (5, 10, 20)
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
_RESAMPLES_PER_BATCH = 50  # bounds the (resamples x users) weight matrix held at once


def listen_gains(ranks: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Per-listen value of `metric`@`k` from 1-based ranks (0 = not in the list); float64, same shape."""
    hit = (ranks > 0) & (ranks <= k)
    safe = np.where(hit, ranks, 1).astype(np.float64)
    if metric == "HitRate":
        return hit.astype(np.float64)
    if metric == "MRR":
        return np.where(hit, 1.0 / safe, 0.0)
    if metric == "NDCG":
        return np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0)
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def per_user_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of `values` (listens, columns) over each user's rows -> (users, columns)."""
    counts = np.diff(offsets)
    sums = np.zeros((len(counts), values.shape[1]), dtype=np.float64)
    nonempty = counts > 0
    sums[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty], axis=0)
    return sums


@dataclass(frozen=True)
class Estimate:
    """A pooled mean and its bootstrap confidence interval."""

    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def bootstrap_means(
    sums: np.ndarray, counts: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Pooled means sum(sums)/sum(counts) over `resamples` user resamples -> (resamples, columns).

    A resample is a vector of how often each user was drawn (multinomial), so every resample is
    two matrix products instead of a Python loop over users.
    """
    users = len(counts)
    rng = np.random.default_rng(seed)
    means = np.empty((resamples, sums.shape[1]), dtype=np.float64)
    for start in range(0, resamples, _RESAMPLES_PER_BATCH):
        size = min(_RESAMPLES_PER_BATCH, resamples - start)
        draws = rng.multinomial(users, np.full(users, 1.0 / users), size=size).astype(np.float64)
        listens = draws @ counts
        means[start : start + size] = (draws @ sums) / np.maximum(listens, 1.0)[:, None]
    return means


def estimates(
    sums: np.ndarray, counts: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> list[Estimate]:
    """Pooled mean of every column of `sums`, each with its percentile bootstrap interval."""
    total = max(float(counts.sum()), 1.0)
    values = sums.sum(axis=0) / total
    if len(counts) == 0:
        return [Estimate(float("nan"), float("nan"), float("nan")) for _ in values]
    means = bootstrap_means(sums, counts, resamples, seed)
    tail = (1.0 - confidence) / 2 * 100
    lows, highs = np.percentile(means, [tail, 100 - tail], axis=0)
    return [Estimate(float(v), float(lo), float(hi)) for v, lo, hi in zip(values, lows, highs)]


def paired_difference(gains: np.ndarray, baseline: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
                      resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Estimate:
    """Pooled mean of `gains - baseline` (per listen, same listens) with its bootstrap interval: the
    users are resampled once for both, so what the two share cancels (the replay's one paired statistic)."""
    return estimates(per_user_sums((gains - baseline)[:, None], offsets), counts, resamples, seed)[0]
