"""The pipeline's Spark engine (`[pipeline] engine = spark`): the same stages, their per-listen work
on Apache Spark.

- `session`: the Spark session of a run, from `[spark]`, and the run's Spark state;
- `prepare`, `split`: the first two stages, leaving the same work-folder files as the local ones;
- `frames`: histories as Spark frames and Spark results as numpy arrays;
- `als`, `popular`: the ALS and popular candidate sources fit on Spark;
- `engine`: the `SparkEngine` that ties them to the pipeline (musicrec/pipeline/engine.py).

Only this package imports pyspark.
"""
