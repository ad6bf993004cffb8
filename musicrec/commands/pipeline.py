"""`python -m musicrec pipeline`: raw course files -> a published artifact set and a quality report."""

from __future__ import annotations

import argparse
from pathlib import Path

from musicrec.pipeline.runner import STAGES, metrics_table, run_pipeline
from musicrec.settings import Settings

WORK_FOLDER = "work"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", type=Path, default=None,
                        help="folder of the raw course files (default: [paths] raw)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="artifact set path to publish to (default: [paths] artifacts)")
    parser.add_argument("--work", type=Path, default=None,
                        help=f"folder for intermediate files (default: '{WORK_FOLDER}' next to the "
                             "artifacts path)")
    parser.add_argument("--stages", nargs="+", choices=list(STAGES), default=list(STAGES), metavar="STAGE",
                        help=f"stages to run, in pipeline order (default: all of {' '.join(STAGES)})")
    parser.add_argument("--tune", choices=("on", "off"), default=None,
                        help="learn the models' settings on a validation split (on, the default: "
                             "[pipeline] tune) or use config.ini's values and the defaults as they are (off)")
    parser.add_argument("--engine", choices=("local", "spark"), default=None,
                        help="where the heavy steps run: this process (local) or Apache Spark (spark); "
                             "default: [pipeline] engine (local)")
    parser.add_argument("--spark-master", default=None, metavar="URL",
                        help="Spark master with --engine spark: local[*] (the default: [spark] master), "
                             "local[2], spark://host:7077, yarn, ...")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raw = (args.raw or settings.paths.raw).absolute()
    artifacts = (args.artifacts or settings.paths.artifacts).absolute()
    work = (args.work or artifacts.parent / WORK_FOLDER).absolute()
    params = settings.pipeline
    if args.tune is not None:
        params = params.model_copy(update={"tune": args.tune == "on"})
    if args.engine is not None:
        params = params.model_copy(update={"engine": args.engine})
    spark = settings.spark
    if args.spark_master is not None:
        spark = spark.model_copy(update={"master": args.spark_master})
    timings = run_pipeline(raw, artifacts, work, params, args.stages, spark)
    print("\nstage            seconds   CPU seconds   peak RSS GiB")
    for timing in timings:
        print(f"{timing['stage']:<16}{timing['seconds']:>8.1f}{timing['cpu_seconds']:>14.1f}"
              f"{timing['peak_rss_gib']:>15.2f}")
    table = metrics_table(work)
    if table:
        print("\nquality on the test period:\n" + table)
    if "publish" in args.stages:
        print(f"\nartifacts: {artifacts}")
    return 0
