"""Runs the pipeline's stages in order, timing each, then publishes the artifact set atomically.

`STAGES` is the pipeline: each stage is a function `(context) -> summary` that reads and writes the
work folder, so any suffix of the pipeline can be re-run. `publish` copies the artifacts from the
work folder into a new set (ArtifactSetWriter): the services' current set changes only when the
whole set is complete.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from musicrec.artifacts import ArtifactSetWriter
from musicrec.pipeline import evaluate, ranker, refit, split, tune
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.engine_choice import open_engine
from musicrec.pipeline.reports import TuningReport
from musicrec.pipeline.workspace import PUBLISHED_FILES, Workspace
from musicrec.settings import PipelineSettings, SparkSettings

log = logging.getLogger(__name__)
_GIB = 1024**3


def _processes() -> list[psutil.Process]:
    """This process and its children: with the Spark engine, its JVM and Python workers do most of
    the work, so a stage's cost is counted over all of them."""
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _reset_peak_rss() -> None:
    """Let the kernel restart the peak-RSS count, so each stage reports its own peak (Linux)."""
    for process in _processes():
        with contextlib.suppress(OSError):
            Path(f"/proc/{process.pid}/clear_refs").write_text("5")


def _peak_rss(process: psutil.Process) -> int:
    """Peak resident memory since the last reset (VmHWM), else the current one."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return int(process.memory_info().rss)
    except (OSError, psutil.Error):
        return 0


def peak_rss_bytes() -> int:
    """The peaks of this process and its children added up (each one's own peak: an upper bound of
    their peak together)."""
    return sum(_peak_rss(process) for process in _processes())


def cpu_seconds() -> float:
    """User + system CPU time so far of this process (all threads) and its children, with the
    children they waited for: less noisy than wall time on a shared machine."""
    total = 0.0
    for process in _processes():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def run_prepare(context: StageContext) -> dict[str, Any]:
    return asdict(context.engine.prepare(context.raw_dir, context.work))


def publish(context: StageContext) -> dict[str, Any]:
    """Copy the published files into a new artifact set and switch to it."""
    sources = [context.work.require(name, "the stage that makes it") for name in PUBLISHED_FILES]
    tuning = context.work.load_tuning()
    writer = ArtifactSetWriter(context.artifacts, inputs=context.raw_dir,
                               parameters={**context.params.model_dump(mode="json"),
                                           "chosen": _chosen(context.work),
                                           "costs": _costs(tuning)})
    with writer as folder:
        for name, source in zip(PUBLISHED_FILES, sources):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / name)
    return {"set": str(writer.folder)}


def _chosen(work: Workspace) -> dict[str, Any]:
    """What the pipeline learned from the data: each source's settings, the ranker's loss, the
    fusion's weights, the similar tracks served and the published model (also in metrics.json,
    with the validation tables)."""
    ranker_report, similar = work.load_ranker_report(), work.load_similar()
    fusion = ranker_report.fusion
    return {"sources": work.load_tuning().values(), "ranker_loss": ranker_report.loss,
            "fusion": {"weights": fusion.weights, "constant": fusion.constant} if fusion else None,
            "published": ranker_report.published,
            "similar": {"chosen": similar.chosen, "sequential": similar.sequential,
                        "merge_weight": similar.merge_weight}}


def _costs(tuning: TuningReport) -> dict[str, Any]:
    """What each chosen setting was projected to cost, what was refused for cost, and the run plan."""
    return {"sources": {name: {"cost": entry.cost.as_json() if entry.cost else None,
                               "refused_for_cost": [trial.as_json() for trial in entry.refused_for_cost]}
                        for name, entry in tuning.sources.items()},
            "plan": tuning.plan.as_json() if tuning.plan else None}


STAGES: dict[str, Callable[[StageContext], dict[str, Any]]] = {
    "prepare": run_prepare,
    "split": split.run,
    "tune": tune.run,
    "ranker": ranker.run,
    "evaluate": evaluate.run,
    "refit": refit.run,
    "publish": publish,
}


def run_pipeline(raw_dir: Path, artifacts_path: Path, work_dir: Path, params: PipelineSettings,
                 stages: Iterable[str] = STAGES, spark: SparkSettings | None = None) -> list[dict[str, Any]]:
    """Run the chosen stages (in pipeline order) with the engine `params.engine` names (`spark`:
    how to reach Spark, when that is the engine); returns one timing record per stage."""
    chosen = [name for name in STAGES if name in set(stages)]
    work_dir.mkdir(parents=True, exist_ok=True)
    work = Workspace(Path(work_dir))
    engine = open_engine(params, spark or SparkSettings(), work)
    context = StageContext(Path(raw_dir), work, params, Path(artifacts_path), engine)
    timings = []
    try:
        for name in chosen:
            _reset_peak_rss()
            started, cpu_started = time.perf_counter(), cpu_seconds()
            log.info("stage %s ...", name)
            summary = STAGES[name](context)
            seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
            peak = peak_rss_bytes() / _GIB
            log.info("stage %s: %.1f s, peak RSS %.2f GiB (CPU %.1f s)", name, seconds, peak, cpu)
            timing = {"stage": name, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                      "peak_rss_gib": round(peak, 2), "engine": engine.name}
            context.work.save_timing(timing)
            timings.append({**timing, "summary": summary})
    finally:
        engine.close()
    return timings


def metrics_table(work_dir: Path) -> str | None:
    """The metrics table of the last evaluation in the work folder, if there is one."""
    work = Workspace(work_dir)
    if not work.metrics_path().exists():
        return None
    return evaluate.format_table(work.load_metrics())
