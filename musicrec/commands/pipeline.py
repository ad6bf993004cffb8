"""`python -m musicrec pipeline`: raw course files -> a published artifact set and a quality report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from musicrec.pipeline.runner import STAGES, metrics_table, run_pipeline
from musicrec.runtime import progress
from musicrec.settings import PipelineSettings, Settings

WORK_FOLDER = "work"

# `--quick`: the same stages on lighter settings, for the set `make run` serves first while the
# tuned one is made (bench/results/first_run.md has its time and quality). Each override cuts what
# dominated the untuned run's time: no settings search; one ranker loss (YetiRank alone took longer
# than all the rest); no ALS (EASE, the best single source, measures the same with the ranker without
# it); fewer candidates, fewer and shorter ranker fits; metrics on a sample of users, as metrics.json
# says. `popular` stays: it serves cold users.
QUICK: dict[str, Any] = {
    "tune": False,
    "sources": ("ease", "itemknn", "popular", "artist"),
    "candidates_per_source": 20,
    "ranker_loss": "Logloss",
    "ranker_iterations": 100,
    "ranker_users": 5_000,
    "evaluation_users": 5_000,
}


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
    parser.add_argument("--resume", action="store_true",
                        help="skip the stages an interrupted --resume run of the same raw files and "
                             "parameters finished in this work folder (recorded in its "
                             f"{progress.PROGRESS_FILE})")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--tune", choices=("on", "off"), default=None,
                       help="learn the models' settings on a validation split (on, the default: "
                            "[pipeline] tune) or use config.ini's values and the defaults as they are (off)")
    speed.add_argument("--quick", action="store_true",
                       help="a set in about a minute at the small scale: --tune off and lighter settings "
                            f"({', '.join(f'{key}={_shown(value)}' for key, value in QUICK.items() if key != 'tune')})")


def _shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def parameters(args: argparse.Namespace, settings: Settings) -> PipelineSettings:
    """`[pipeline]` with what the command line says on top: `--quick`, or `--tune`."""
    params = settings.pipeline
    if args.quick:
        return params.model_copy(update=QUICK)
    if args.tune is not None:
        return params.model_copy(update={"tune": args.tune == "on"})
    return params


def _resume(raw: Path, artifacts: Path, work: Path, params: PipelineSettings,
            stages: list[str]) -> list[dict[str, Any]]:
    """The stages not yet done, one at a time, each recorded once it is (`musicrec.runtime.progress`)."""
    with progress.claim(work):
        origin = progress.made_from(raw, params.model_dump(mode="json"))
        done = progress.done_stages(work, origin)
        if done:
            print(f"resuming: stages {', '.join(done)} were done earlier")
        timings = []
        for stage in (name for name in STAGES if name in stages and name not in done):
            timings += run_pipeline(raw, artifacts, work, params, [stage])
            progress.mark_done(work, origin, stage)
        if set(progress.done_stages(work, origin)) >= set(STAGES):
            progress.clear(work)  # a complete run: the next --resume starts over
    return timings


def run(args: argparse.Namespace, settings: Settings) -> int:
    raw = (args.raw or settings.paths.raw).absolute()
    artifacts = (args.artifacts or settings.paths.artifacts).absolute()
    work = (args.work or artifacts.parent / WORK_FOLDER).absolute()
    params = parameters(args, settings)
    if args.resume:
        timings = _resume(raw, artifacts, work, params, args.stages)
    else:
        timings = run_pipeline(raw, artifacts, work, params, args.stages)
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
