"""Item-kNN with its similarities made by Spark: a self-join of the history's pairs on the user.

The item x item work grows with the listens (each user's pool tracks taken two by two), so it runs on
the executors: each pair of pool tracks a user heard adds the product of their weights, the sums are
the similarities (the dot products of ItemKnnSource's weighted columns), and each track keeps its
`neighbours` most similar (itself among them, as implicit's all_pairs_knn keeps it). The driver
collects at most pool size x neighbours similarities and scores users with implicit's own scorer, so
the lists are made by ItemKnnSource's code. Ties at the last neighbour kept may be broken otherwise
than by implicit.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender, NearestNeighboursScorer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from musicrec.pipeline.data import History
from musicrec.pipeline.sources.base import Progress, candidate_pool
from musicrec.pipeline.sources.itemknn import ItemKnnParams, ItemKnnSource
from musicrec.pipeline.spark import session
from musicrec.pipeline.spark.frames import ITEM, USER, column, ratings

# implicit.nearest_neighbours.bm25_weight's defaults, which ItemKnnSource's weighting uses
BM25_K1, BM25_B = 100.0, 0.8
COLUMN, WEIGHT, OTHER, SCORE = "column", "weight", "other", "score"


def pool_weights(pairs: DataFrame, pool: np.ndarray, weighting: str) -> DataFrame:
    """(user, column, weight) for each pair of a pool track: `column` its place in the pool, `weight`
    its entry of `item_weights` on the users x pool matrix of who heard what."""
    places = pairs.sparkSession.createDataFrame(pa.table({ITEM: pool.astype(np.int32),
                                                          COLUMN: np.arange(pool.size, dtype=np.int32)}))
    heard = pairs.join(F.broadcast(places), ITEM).select(USER, COLUMN)
    listeners = heard.groupBy(COLUMN).agg(F.count(F.lit(1)).alias("listeners"))
    if weighting == "cosine":  # unit columns: 1 / sqrt(listeners) for each listener
        return (heard.join(listeners, COLUMN)
                .select(USER, COLUMN, (1.0 / F.sqrt(F.col("listeners").cast("double"))).alias(WEIGHT)))
    # bm25 on the pool x users matrix of ones: idf per user, length per track
    per_user = heard.groupBy(USER).agg(F.count(F.lit(1)).alias("tracks"))
    average = heard.count() / max(pool.size, 1)
    idf = F.lit(float(np.log(max(pool.size, 1)))) - F.log1p(F.col("tracks").cast("double"))
    norm = F.lit(1.0 - BM25_B) + F.lit(BM25_B) * F.col("listeners") / F.lit(max(average, 1e-12))
    weight = F.lit(BM25_K1 + 1.0) / (F.lit(BM25_K1) * norm + F.lit(1.0)) * idf
    return heard.join(listeners, COLUMN).join(per_user, USER).select(USER, COLUMN, weight.alias(WEIGHT))


def knn_similarity(weights: DataFrame, size: int, neighbours: int) -> sp.csr_matrix:
    """The `neighbours` largest dot products of each pool column with every column (itself too), as
    a size x size float64 CSR matrix: the join on the user, summed per pair of columns."""
    other = weights.select(F.col(USER), F.col(COLUMN).alias(OTHER), F.col(WEIGHT).alias("other_weight"))
    sums = (weights.join(other, USER).groupBy(COLUMN, OTHER)
            .agg(F.sum(F.col(WEIGHT) * F.col("other_weight")).alias(SCORE)))
    best = Window.partitionBy(COLUMN).orderBy(F.col(SCORE).desc(), F.col(OTHER))
    kept = (sums.withColumn("place", F.row_number().over(best)).filter(F.col("place") <= neighbours)
            .select(COLUMN, OTHER, SCORE).toArrow())
    matrix = sp.csr_matrix((column(kept, SCORE, np.float64),
                            (column(kept, COLUMN, np.int64), column(kept, OTHER, np.int64))),
                           shape=(size, size))
    matrix.sort_indices()
    return matrix


class SparkItemKnnSource(ItemKnnSource):
    """Item-kNN whose similarities Spark makes; `_recommend_batch` is ItemKnnSource's."""

    def _fit(self, history: History, progress: Progress | None) -> None:
        params: ItemKnnParams = self.params
        self.pool = candidate_pool(history.item_listens)
        self.pool_matrix = history.matrix[:, self.pool].tocsr()
        self.pool_matrix.data = np.ones_like(self.pool_matrix.data)  # who heard it, not how often
        weights = pool_weights(ratings(session.current(), history), self.pool, params.weighting)
        similarity = knn_similarity(weights, self.pool.size, params.neighbours)
        self.model = ItemItemRecommender(K=params.neighbours)
        self.model.similarity = similarity
        self.model.scorer = NearestNeighboursScorer(similarity)
