"""Stage `als`: implicit ALS on the train matrix -> personal candidates and similar tracks.

Candidates: ~`candidates_per_user` tracks per user with train listens, without tracks the user
already heard, from batched `recommend()` calls. Similar tracks: `similar_per_item` per trained
track by cosine of item factors; tracks with no train listens get neighbours by content.

Both scoring passes rank only a *candidate pool*: the most listened tracks that together hold
POOL_LISTEN_SHARE of train listens. At full size this cuts the users x tracks product several-fold,
and the tracks left out have too few listens for ALS to place them well anyway (measured: see
bench/results/pipeline.md).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.nearest_neighbours import bm25_weight
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from musicrec import schema
from musicrec.pipeline.content import content_neighbours, read_item_content
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.workspace import TrainData
from musicrec.settings import PipelineSettings

log = logging.getLogger(__name__)
POOL_LISTEN_SHARE = 0.99
POOL_MAX_ITEMS = 50_000
USER_BATCH = 20_000
ITEM_BATCH = 20_000
CANDIDATES_FILE = "candidates.npz"
FACTORS_FILE = "als_factors.npz"


def confidence(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Listen counts -> ALS confidences: bm25 (per item, as implicit's examples do), log or none."""
    if weighting == "bm25":
        weighted = bm25_weight(matrix.T.tocsr(), K1=100, B=0.8).T.tocsr()
        weighted.data = np.maximum(weighted.data, 0.0)  # idf < 0 only for near-universal tracks
    elif weighting == "log":
        weighted = matrix.copy()
        weighted.data = np.log1p(weighted.data)
    else:
        weighted = matrix.copy()
    return weighted.astype(np.float32)


def fit_als(matrix: sp.csr_matrix, params: PipelineSettings) -> AlternatingLeastSquares:
    model = AlternatingLeastSquares(
        factors=params.als_factors,
        regularization=params.als_regularization,
        alpha=params.als_alpha,
        iterations=params.als_iterations,
        dtype=np.float32,
        random_state=params.seed,
    )
    with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads would fight it
        model.fit(confidence(matrix, params.als_weighting), show_progress=True)
    return model


def candidate_pool(item_listens: np.ndarray, share: float = POOL_LISTEN_SHARE,
                   max_items: int = POOL_MAX_ITEMS) -> np.ndarray:
    """Sorted dense indexes of the most listened items holding `share` of all listens (at most
    `max_items` of them)."""
    order = np.argsort(-item_listens, kind="stable")
    cumulative = np.cumsum(item_listens[order])
    if not cumulative.size or cumulative[-1] == 0:
        return np.zeros(0, dtype=np.int64)
    size = min(int(np.searchsorted(cumulative, share * cumulative[-1])) + 1, max_items)
    return np.sort(order[:size])


def recommend_candidates(model: AlternatingLeastSquares, matrix: sp.csr_matrix, users: np.ndarray,
                         pool: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Top-n unheard pool items for each user, in batches; flat arrays sorted by user then rank."""
    n = min(n, pool.size)
    parts: dict[str, list[np.ndarray]] = {"users": [], "items": [], "scores": []}
    for start in tqdm(range(0, users.size, USER_BATCH), desc="als candidates", unit="batch"):
        batch = users[start:start + USER_BATCH]
        ids, scores = model.recommend(batch, matrix[batch], N=n, filter_already_liked_items=True,
                                      items=pool)
        valid = np.isfinite(scores) & (scores > -np.finfo(np.float32).max)
        parts["users"].append(np.repeat(batch, n).reshape(-1, n)[valid])
        parts["items"].append(ids[valid])
        parts["scores"].append(scores[valid])
    users_flat = np.concatenate(parts["users"]).astype(np.int32)
    rank = _rank_within_user(users_flat)
    return {"users": users_flat, "items": np.concatenate(parts["items"]).astype(np.int32),
            "scores": np.concatenate(parts["scores"]).astype(np.float32), "ranks": rank}


def _rank_within_user(users: np.ndarray) -> np.ndarray:
    """1-based position within each run of equal user values."""
    if not users.size:
        return np.zeros(0, dtype=np.int16)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, users.size])
    return (np.arange(users.size) - np.repeat(starts, sizes) + 1).astype(np.int16)


def als_similar(model: AlternatingLeastSquares, queries: np.ndarray, pool: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k most similar pool items (cosine of factors) per query item, without the item itself."""
    n = min(k + 1, pool.size)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in tqdm(range(0, queries.size, ITEM_BATCH), desc="als similar", unit="batch"):
        batch = queries[start:start + ITEM_BATCH]
        ids, scores = model.similar_items(batch, N=n, items=pool)
        keep = ids != batch[:, None]
        order = np.argsort(~keep, axis=1, kind="stable")[:, :min(k, n)]  # drop self, keep rank
        ids = np.take_along_axis(ids, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        valid = np.take_along_axis(keep, order, axis=1) & np.isfinite(scores)
        parts.append((np.repeat(batch, order.shape[1]).reshape(order.shape)[valid], ids[valid],
                      scores[valid]))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def similar_table(model: AlternatingLeastSquares, data: TrainData, context: StageContext,
                  pool: np.ndarray) -> pa.Table:
    """similar.parquet for every catalog track: ALS neighbours if trained, else content ones."""
    k = context.params.similar_per_item
    listens = data.item_listens
    trained = np.flatnonzero(listens > 0)
    first, second, score = als_similar(model, trained, pool, k)
    untrained = np.flatnonzero(listens == 0)
    content = read_item_content(context.raw_dir / schema.TRACKS_FILE, data.items)
    c_first, c_second, c_score = content_neighbours(untrained, trained, content, listens, k)
    first = np.concatenate([first, c_first])
    second = np.concatenate([second, c_second])
    score = np.concatenate([score, c_score]).astype(np.float32)
    order = np.lexsort((-score, first))
    return pa.table(
        {
            schema.ITEM_ID_1: data.items.decode(first[order]).astype(np.int32),
            schema.ITEM_ID_2: data.items.decode(second[order]).astype(np.int32),
            schema.SCORE: score[order],
        },
        schema=schema.SIMILAR_SCHEMA,
    )


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    data = work.load_train()
    model = fit_als(data.matrix, params)
    np.savez(work.path(FACTORS_FILE), users=model.user_factors, items=model.item_factors)
    pool = candidate_pool(data.item_listens)
    users_with_history = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
    log.info("als: candidate pool %d of %d tracks, %d users", pool.size, len(data.items),
             users_with_history.size)
    with threadpool_limits(1, "blas"):
        candidates = recommend_candidates(model, data.matrix, users_with_history, pool,
                                          params.candidates_per_user)
        np.savez(work.path(CANDIDATES_FILE), **candidates)
        similar = similar_table(model, data, context, pool)
    pq.write_table(similar, work.path(schema.SIMILAR_FILE))
    return {"pool_items": int(pool.size), "candidate_rows": int(candidates["users"].size),
            "similar_rows": similar.num_rows}
