"""Offline ranking metrics over a whole user set at once, without Python loops over users.

Recommendations are a matrix `recs` (users x k, dense item indexes, -1 where a user got fewer than
k). `hits` is the boolean matrix "recs[u, j] is relevant to u"; `n_relevant[u]` counts the user's
relevant items. Every metric is the mean over users, so each user weighs the same however active.
"""

from __future__ import annotations

import numpy as np

from musicrec.datasets.packed import is_member

NO_ITEM = -1
EVALUATION_K = 10  # the largest k reported; lists are cut to it


def hit_matrix(recs: np.ndarray, users: np.ndarray, relevant_keys: np.ndarray, n_items: int) -> np.ndarray:
    """hits[r, j]: is recs[r, j] among the relevant items of users[r]?

    `relevant_keys` holds user * n_items + item for every relevant (user, item) pair.
    """
    keys = users.astype(np.int64)[:, None] * n_items + recs
    return is_member(keys, relevant_keys) & (recs != NO_ITEM)


def precision_at_k(hits: np.ndarray, k: int) -> float:
    """Mean over users of (relevant items among the first k) / k."""
    return float(hits[:, :k].sum(axis=1).mean() / k) if hits.shape[0] else 0.0


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean over users of (relevant items among the first k) / (all relevant items of the user)."""
    if not hits.shape[0]:
        return 0.0
    return float((hits[:, :k].sum(axis=1) / np.maximum(n_relevant, 1)).mean())


def ndcg_per_user(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG@k / ideal DCG@k of each user, with binary gains.

    DCG@k = sum over positions i = 1..k of hit_i / log2(i + 1); the ideal DCG puts all the user's
    relevant items first: sum over i = 1..min(n_relevant, k) of 1 / log2(i + 1).
    """
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits[:, :k] * discount[: hits[:, :k].shape[1]]).sum(axis=1)
    ideal = np.r_[0.0, np.cumsum(discount)][np.minimum(n_relevant, k)]
    return dcg / np.maximum(ideal, 1e-12)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean over users of their NDCG@k (see ndcg_per_user)."""
    return float(ndcg_per_user(hits, n_relevant, k).mean()) if hits.shape[0] else 0.0


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean over users of average precision at k.

    AP@k = (1 / min(n_relevant, k)) * sum over positions i = 1..k with a hit of precision@i.
    """
    if not hits.shape[0]:
        return 0.0
    top = hits[:, :k]
    precision_at_i = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    average = (precision_at_i * top).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1)
    return float(average.mean())


def item_coverage(recs: np.ndarray, k: int, n_catalog: int) -> float:
    """Share of catalog items that appear in at least one user's first k recommendations."""
    shown = np.unique(recs[:, :k])
    return float((shown != NO_ITEM).sum() / n_catalog) if n_catalog else 0.0


def user_coverage(recs: np.ndarray) -> float:
    """Share of users who get at least one recommendation."""
    return float((recs[:, 0] != NO_ITEM).mean()) if recs.shape[0] else 0.0


def novelty_at_k(recs: np.ndarray, k: int, item_listeners: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p(i)) of recommended items, p(i) = share of train users who
    listened to i (at least 1 listener assumed, so unheard tracks count as the rarest).

    Averaged over the recommended items of each user, then over users; higher means less obvious.
    """
    top = recs[:, :k]
    shown = top != NO_ITEM
    if not shown.any():
        return 0.0
    p = np.maximum(item_listeners[np.where(shown, top, 0)], 1) / max(n_users, 1)
    info = np.where(shown, -np.log2(p), 0.0)
    per_user = info.sum(axis=1) / np.maximum(shown.sum(axis=1), 1)
    return float(per_user[shown.any(axis=1)].mean())


def all_metrics(recs: np.ndarray, hits: np.ndarray, n_relevant: np.ndarray, item_listeners: np.ndarray,
                n_train_users: int, n_catalog: int, ks: tuple[int, ...] = (5, 10)) -> dict[str, float]:
    """Every metric at every k, as the flat dict written to metrics.json."""
    result: dict[str, float] = {}
    for k in ks:
        result[f"precision@{k}"] = precision_at_k(hits, k)
        result[f"recall@{k}"] = recall_at_k(hits, n_relevant, k)
        result[f"ndcg@{k}"] = ndcg_at_k(hits, n_relevant, k)
        result[f"map@{k}"] = map_at_k(hits, n_relevant, k)
    top_k = max(ks)
    result[f"item_coverage@{top_k}"] = item_coverage(recs, top_k, n_catalog)
    result["user_coverage"] = user_coverage(recs)
    result[f"novelty@{top_k}"] = novelty_at_k(recs, top_k, item_listeners, n_train_users)
    return {name: round(value, 6) for name, value in result.items()}
