"""ALS fit by Spark MLlib (`implicitPrefs`) with the ALS source's settings; its factors make the lists
and similar tracks through AlsSource's own code.

Two differences from `implicit` decide how the settings carry over:

- Confidence. implicit gives a heard track confidence `alpha * w` (w: the weighting's value of its
  listens); Spark gives `1 + alpha' * r` for a rating r. Spark is handed r = alpha * w - 1 with
  alpha' = 1, so both weigh a heard track alike (never below 1, an unheard track's confidence).
- Regularization. Spark scales it by each user's and track's number of heard pairs (ALS-WR);
  implicit does not. The same value means more shrinkage on Spark, so the tune stage searches it for
  this source as it does for the local one (same space), on Spark's own fits.

Spark's ALS cannot start from given factors, so bringing a fit forward (one full fit per model) is
done here as Spark MLlib's implicit ALS iterates: `[pipeline] forward_iterations` times, each user's
factors solved against the fixed track factors, then each track's against the new user factors.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from implicit.als import AlternatingLeastSquares
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from musicrec.pipeline.data import History
from musicrec.pipeline.sources.als import BM25_B, BM25_K1, AlsParams, AlsSource
from musicrec.pipeline.sources.base import Progress, candidate_pool
from musicrec.pipeline.spark import session
from musicrec.pipeline.spark.frames import ITEM, LISTENS, USER, factors_array, one_row, ratings

RATING = "rating"
MIN_GAIN = 1e-6  # the least confidence above 1 a heard track gets (Spark drops ratings <= 0 as unheard)


def confidences(pairs: DataFrame, weighting: str, alpha: float, n_items: int) -> DataFrame:
    """(user, item, rating): Spark's rating of each heard pair for implicit's confidence alpha * w."""
    listens = F.col(LISTENS).cast("double")
    if weighting == "binary":
        weight = F.lit(1.0)
    elif weighting == "log":
        weight = F.log1p(listens)
    else:  # bm25 per track, as implicit.nearest_neighbours.bm25_weight on the tracks x users matrix
        per_user = pairs.groupBy(USER).agg(F.count(F.lit(1)).alias("user_tracks"))
        per_item = pairs.groupBy(ITEM).agg(F.sum(LISTENS).alias("item_listens"))
        average = float(one_row(pairs.agg(F.sum(LISTENS)))[0] or 0) / max(n_items, 1)
        pairs = pairs.join(per_user, USER).join(per_item, ITEM)
        idf = F.lit(float(np.log(max(n_items, 1)))) - F.log1p(F.col("user_tracks"))
        norm = F.lit(1.0 - BM25_B) + F.lit(BM25_B) * F.col("item_listens") / F.lit(max(average, 1e-12))
        weight = F.greatest(listens * (BM25_K1 + 1.0) / (F.lit(BM25_K1) * norm + listens) * idf, F.lit(0.0))
    rating = F.greatest(F.lit(alpha) * weight - F.lit(1.0), F.lit(MIN_GAIN))
    return pairs.select(USER, ITEM, rating.alias(RATING))


class SparkAlsSource(AlsSource):
    """ALS on Spark; `similar`, `_recommend_batch` and `state` are AlsSource's."""

    def _fit(self, history: History, progress: Progress | None,
             start: dict[str, np.ndarray] | None = None, iterations: int | None = None) -> None:
        """A full fit, never a partial one (Spark runs every iteration in one call, so `progress` is not
        called) nor a warm one (`start` and `iterations` are AlsSource's; `fit_forward` brings a fit
        forward here)."""
        assert start is None and iterations is None
        params: AlsParams = self.params
        run = session.current()
        rated = confidences(ratings(run, history), params.weighting, params.alpha, len(history.items))
        blocks = run.settings.als_blocks or run.parallelism
        model = ALS(rank=params.factors, maxIter=params.iterations, regParam=params.regularization,
                    implicitPrefs=True, alpha=1.0, userCol=USER, itemCol=ITEM, ratingCol=RATING,
                    numUserBlocks=blocks, numItemBlocks=blocks, seed=self.settings.seed).fit(rated)
        self._hold(history, factors_array(model.userFactors, len(history.users), params.factors),
                   factors_array(model.itemFactors, len(history.items), params.factors))

    def fit_forward(self, history: History, state: dict[str, np.ndarray]) -> None:
        params: AlsParams = self.params
        self.history = history
        run = session.current()
        rated = confidences(ratings(run, history), params.weighting, params.alpha, len(history.items)).persist()
        users, items = state["user_factors"], state["item_factors"]
        for _ in range(self.settings.forward_iterations):
            users = solve_side(rated, USER, ITEM, items, len(history.users), params.regularization)
            items = solve_side(rated, ITEM, USER, users, len(history.items), params.regularization)
        rated.unpersist()
        self._hold(history, users, items)

    def _hold(self, history: History, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        """Keep the factors in an implicit model (never fit by it) for AlsSource's list code."""
        self.model = AlternatingLeastSquares(factors=self.params.factors, dtype=np.float32,
                                             random_state=self.settings.seed)
        self.model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.pool = candidate_pool(history.item_listens)


def solve_side(rated: DataFrame, key: str, other: str, fixed: np.ndarray, size: int,
               regularization: float) -> np.ndarray:
    """Half an ALS iteration, Spark MLlib's implicit one: for each `key` entity with ratings r of
    `other` entities with fixed factors Y, solve (YtY + Y' diag(r) Y + regularization * n * I) x =
    Y' (1 + r), n its number of ratings. Returns the new factors of every `key` entity (zeros for
    one without ratings). The fixed factors reach the executors as a broadcast."""
    factors = fixed.shape[1]
    gram = fixed.astype(np.float64).T @ fixed.astype(np.float64)
    shared = rated.sparkSession.sparkContext.broadcast(np.ascontiguousarray(fixed, dtype=np.float32))
    grouped = rated.groupBy(key).agg(F.collect_list(F.struct(other, RATING)).alias("rated"))

    def solve(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        other_factors = shared.value
        eye = np.eye(factors)
        for batch in batches:
            ids = batch.column(0).to_numpy(zero_copy_only=False)
            lists = batch.column(1)
            offsets = lists.offsets.to_numpy()
            others = lists.values.field(0).to_numpy(zero_copy_only=False)
            gains = lists.values.field(1).to_numpy(zero_copy_only=False)
            out = np.empty((ids.size, factors), dtype=np.float32)
            for row in range(ids.size):
                start, end = offsets[row], offsets[row + 1]
                y = other_factors[others[start:end]].astype(np.float64)
                gain = gains[start:end]
                a = gram + (y.T * gain) @ y + regularization * (end - start) * eye
                out[row] = np.linalg.solve(a, (1.0 + gain) @ y)
            features = pa.ListArray.from_arrays(pa.array(np.arange(0, out.size + 1, factors, dtype=np.int32)),
                                                pa.array(out.ravel()))
            yield pa.RecordBatch.from_arrays([pa.array(ids, pa.int32()), features], names=["id", "features"])

    solved = grouped.mapInArrow(solve, "id int, features array<float>")
    result = factors_array(solved, size, factors)
    shared.destroy()
    return result
