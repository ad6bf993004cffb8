"""The local engine against the Spark engine on this machine -> bench/results/pipeline-spark.md

    python -m bench.pipeline_spark [--full-scales small] [--scales small medium] [--master local[2]]
        [--work DIR] [--out bench/results/pipeline-spark.md]

Two measurements, each engine in a process of its own, course-shaped built-in data (seed 42):

- the whole pipeline with config.ini's settings at each of `--full-scales`: wall, CPU and peak memory
  per stage (the runner's record) and in all, and NDCG@10 on the test period;
- the steps Spark takes over at each of `--scales`: prepare and split, then one ALS fit with fixed
  settings at the fit cutoff and brought forward to the eval cutoff (`ALS_VALUES`), and one item-kNN
  fit (`ITEMKNN_VALUES`), each in a process of its own, for how each grows with the listens
  (docs/operations.md sizes a cluster from it).

CPU and memory count the pipeline's process and its children (the Spark JVM and its Python workers),
sampled every quarter second: CPU is the largest sum seen, peak memory the largest sum of resident
memory at one moment. Run it through `../shared/quiet`. The results page's tables are rewritten; its
"## Reading" section (written by hand from the figures) is kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from musicrec.datasets.scales import get_scale
from musicrec.datasets.synthetic import generate
from musicrec.pipeline.content import NONE, ItemContent
from musicrec.pipeline.engine_choice import open_engine
from musicrec.pipeline.sources import SourceContext
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import load_settings

SEED = 42
ENGINES = ("local", "spark")
ALS_VALUES = {"factors": 64, "iterations": 10, "regularization": 0.05, "weighting": "binary", "alpha": 10.0}
ITEMKNN_VALUES = {"neighbours": 100, "weighting": "cosine"}
STEP_VALUES = {"als": ALS_VALUES, "itemknn": ITEMKNN_VALUES}
_GIB = 1024**3
READING = "## Reading"  # the page's hand-written reading of the figures, kept when they are measured again


@dataclass
class Measured:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_gib: float


def measured(command: list[str]) -> Measured:
    """Run `command`, sampling CPU and memory of it and its children until it ends."""
    started = time.perf_counter()
    root = psutil.Popen(command)
    cpu, peak = 0.0, 0
    while root.poll() is None:
        tree_cpu, tree_rss = 0.0, 0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                tree_cpu += times.user + times.system + times.children_user + times.children_system
                tree_rss += process.memory_info().rss
            except psutil.Error:
                continue
        cpu, peak = max(cpu, tree_cpu), max(peak, tree_rss)
        time.sleep(0.25)
    if root.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {root.returncode}")
    return Measured(round(time.perf_counter() - started, 1), round(cpu, 1), round(peak / _GIB, 2))


def raw_data(root: Path, scale: str) -> Path:
    raw = root / scale / "raw"
    if not (raw / "interactions.parquet").exists():
        generate(raw, get_scale(scale), SEED)
    return raw


def pipeline(engine: str, master: str, raw: Path, out: Path, stages: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "musicrec", "pipeline", "--engine", engine, "--spark-master", master,
               "--raw", str(raw), "--artifacts", str(out / "artifacts"), "--work", str(out / "work")]
    return command + (["--stages", *stages] if stages else [])


def full_run(root: Path, scale: str, engine: str, master: str) -> dict:
    out = root / scale / f"full-{engine}"
    whole = measured(pipeline(engine, master, raw_data(root, scale), out))
    work = Workspace(out / "work")
    metrics = work.load_metrics()
    return {"whole": asdict(whole), "stages": work.load_timings(),
            "ndcg@10": {name: metrics.models[name]["ndcg@10"] for name in ("published", "als", "ease", "popular")},
            "published": metrics.published, "als": work.load_tuning().values()["als"],
            "als_trials": len(work.load_tuning().sources["als"].trials)}


def heavy_steps(root: Path, scale: str, engine: str, master: str) -> dict:
    out = root / scale / f"steps-{engine}"
    split = measured(pipeline(engine, master, raw_data(root, scale), out, ("prepare", "split")))
    work = Workspace(out / "work")
    result = {"prepare_split": asdict(split), "stages": work.load_timings(), "listens": work.load_split().listens,
              "pairs": {cutoff: work.history_pairs(cutoff) for cutoff in ("fit", "eval")}}
    for name in STEP_VALUES:
        report = out / f"{name}.json"
        result[name] = asdict(measured([sys.executable, "-m", "bench.pipeline_spark", "--step", name,
                                        "--engines", engine, "--master", master, "--work", str(out / "work"),
                                        "--report", str(report)]))
        result[f"{name}_seconds"] = json.loads(report.read_text())
    return result


def one_step(name: str, engine: str, master: str, work_dir: Path, report: Path) -> None:
    """One fit of source `name` at the fit cutoff with its STEP_VALUES; ALS also brought forward to the
    eval cutoff."""
    settings = load_settings()
    params = settings.pipeline.model_copy(update={"engine": engine})
    work = Workspace(work_dir)
    engine_in_use = open_engine(params, settings.spark.model_copy(update={"master": master}), work)
    try:
        seconds = {}
        history = work.load_history("fit")
        nothing = ItemContent(*(np.full(len(history.items), NONE) for _ in range(3)))  # neither reads content
        source = engine_in_use.registry[name].from_values(STEP_VALUES[name], SourceContext(params, nothing))
        started = time.perf_counter()
        source.fit(history)
        seconds["fit"] = round(time.perf_counter() - started, 1)
        if name == "als":
            state = source.state()
            later = work.load_history("eval")
            started = time.perf_counter()
            source.fit_forward(later, state)
            seconds["forward"] = round(time.perf_counter() - started, 1)
    finally:
        engine_in_use.close()
    report.write_text(json.dumps(seconds))


def render(full: dict, steps: dict, master: str, command: str) -> str:
    lines = ["# Pipeline: the local engine against Spark on one machine", "",
             f"Command: `{command}` through `../shared/quiet`, on {platform.node()} ({os.cpu_count()} cores, "
             f"{psutil.virtual_memory().total / _GIB:.0f} GiB), Spark master `{master}`; config.ini's settings "
             "otherwise. CPU and peak memory count the pipeline's process and its children (Spark's JVM and "
             "Python workers).", ""]
    for scale, engines in full.items():
        columns = " | ".join(f"{engine} wall s | {engine} CPU s | {engine} peak GiB" for engine in engines)
        lines += [f"## The whole pipeline, scale `{scale}`", "",
                  f"| stage | {columns} |", "|---|" + "---:|" * (3 * len(engines))]
        names = [entry["stage"] for entry in next(iter(engines.values()))["stages"]]
        for name in names:
            row = []
            for result in engines.values():
                entry = next(item for item in result["stages"] if item["stage"] == name)
                row += [f"{entry['seconds']:.1f}", f"{entry['cpu_seconds']:.1f}", f"{entry['peak_rss_gib']:.2f}"]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
        row = []
        for result in engines.values():
            whole = result["whole"]
            row += [f"**{whole['wall_seconds']:.1f}**", f"**{whole['cpu_seconds']:.1f}**",
                    f"**{whole['peak_rss_gib']:.2f}**"]
        lines += ["| whole run (sampled) | " + " | ".join(row) + " |", "",
                  "| engine | published | NDCG@10 published | als | ease | popular | ALS chosen | ALS trials |",
                  "|---|---|---:|---:|---:|---:|---|---:|"]
        for engine, result in engines.items():
            ndcg = result["ndcg@10"]
            lines.append(f"| {engine} | {result['published']} | {ndcg['published']:.4f} | {ndcg['als']:.4f} | "
                         f"{ndcg['ease']:.4f} | {ndcg['popular']:.4f} | {result['als']} | {result['als_trials']} |")
        lines.append("")
    if steps:
        lines += ["## The steps Spark takes over, by size", "",
                  f"ALS with {ALS_VALUES}: one fit at the fit cutoff, brought forward (forward_iterations) to the "
                  f"eval cutoff. Item-kNN with {ITEMKNN_VALUES}: one fit at the fit cutoff. Each in a process "
                  "of its own (its CPU and peak memory include starting Spark); - where not measured.", "",
                  "| scale | listens | fit pairs | engine | prepare s | split s | prepare+split CPU s | peak GiB | "
                  "ALS fit s | ALS forward s | ALS CPU s | ALS peak GiB | item-kNN fit s | item-kNN CPU s | "
                  "item-kNN peak GiB |",
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for scale, engines in steps.items():
            for engine, result in engines.items():
                stage = {entry["stage"]: entry for entry in result["stages"]}
                knn, knn_seconds = result.get("itemknn"), result.get("itemknn_seconds")
                knn_cells = (f"{knn_seconds['fit']:.1f} | {knn['cpu_seconds']:.1f} | {knn['peak_rss_gib']:.2f}"
                             if knn and knn_seconds else "- | - | -")
                lines.append(
                    f"| {scale} | {result['listens']:,} | {result['pairs']['fit']:,} | {engine} | "
                    f"{stage['prepare']['seconds']:.1f} | {stage['split']['seconds']:.1f} | "
                    f"{result['prepare_split']['cpu_seconds']:.1f} | {result['prepare_split']['peak_rss_gib']:.2f} | "
                    f"{result['als_seconds']['fit']:.1f} | {result['als_seconds']['forward']:.1f} | "
                    f"{result['als']['cpu_seconds']:.1f} | {result['als']['peak_rss_gib']:.2f} | {knn_cells} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full-scales", nargs="*", default=["small"])
    parser.add_argument("--scales", nargs="*", default=["small", "medium"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES,
                        help="the engines to measure (again); the others' figures are kept")
    parser.add_argument("--work", type=Path, default=Path("data/bench/pipeline-spark"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline-spark.md"))
    parser.add_argument("--step", choices=list(STEP_VALUES), help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.step:
        one_step(args.step, args.engines[0], args.master, args.work, args.report)
        return
    root = args.work.absolute()
    results = root / "results.json"
    done = json.loads(results.read_text()) if results.exists() else {"full": {}, "steps": {}}
    for kind, scales, measure in (("full", args.full_scales, full_run), ("steps", args.scales, heavy_steps)):
        for scale in scales:
            for engine in args.engines:
                done[kind].setdefault(scale, {})[engine] = measure(root, scale, engine, args.master)
                results.write_text(json.dumps(done, indent=1))  # a long run keeps what it measured
    command = (f"python -m bench.pipeline_spark --full-scales {' '.join(args.full_scales)} "
               f"--scales {' '.join(args.scales)} --master {args.master} --engines {' '.join(args.engines)}")
    kept = args.out.read_text().partition(READING)[1:] if args.out.exists() else ("", "")
    args.out.write_text(render(done["full"], done["steps"], args.master, command) + "\n" + "".join(kept))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
