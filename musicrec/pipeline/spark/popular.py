"""The popular source with its counts made by Spark: one aggregation over the history's pairs."""

from __future__ import annotations

from pyspark.sql import functions as F

from musicrec.pipeline.data import History
from musicrec.pipeline.sources.popular import PopularSource
from musicrec.pipeline.spark import session
from musicrec.pipeline.spark.frames import ITEM, LISTENS, RECENT, ratings, scattered
from musicrec.pipeline.top_popular import ItemCounts


class SparkPopularSource(PopularSource):
    def count(self, history: History) -> ItemCounts:
        table = (ratings(session.current(), history).groupBy(ITEM)
                 .agg(F.sum(LISTENS).alias(LISTENS), F.count(F.lit(1)).alias("listeners"),
                      F.sum(RECENT).alias(RECENT)).toArrow())
        size = len(history.items)
        return ItemCounts(scattered(table, ITEM, LISTENS, size), scattered(table, ITEM, "listeners", size),
                          scattered(table, ITEM, RECENT, size))
