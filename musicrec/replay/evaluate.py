"""One replay evaluation from start to end: sample, replay (HTTP or in process), score, tune, report."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from musicrec.api.access import key_headers
from musicrec.artifacts import current_set
from musicrec.replay.compare import SettingRow, compare_arms, compare_caps
from musicrec.replay.http import http_target, trio_urls
from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.report import RunInfo, write_report
from musicrec.replay.runner import ReplayResult, replay
from musicrec.replay.sample import EvaluationPeriod, ReplaySample, evaluation_lists
from musicrec.replay.scores import GroupScores, score
from musicrec.replay.tuning import TuningRow, Variant, grid, tune
from musicrec.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayOptions:
    artifacts: Path
    users: int
    mode: Literal["http", "inprocess"]
    ks: tuple[int, ...]
    max_listens: int
    seed: int
    concurrency: int
    resamples: int
    tune: bool
    tune_users: int
    private_trio: bool
    out: Path
    command: str
    test_start: date | None = None
    caps: tuple[int, ...] | None = None  # settings of [serving] max_per_artist to compare (None: do not)
    arms: bool = False  # compare the arms of the configured experiment


@dataclass(frozen=True)
class Outcome:
    result: ReplayResult
    groups: list[GroupScores]
    tuning: list[TuningRow] | None
    plot: Path
    caps: list[SettingRow] | None = None
    arms: list[SettingRow] | None = None


async def _over_http(sample: ReplaySample, recommendations_url: str, events_url: str, concurrency: int,
                     depth: int, headers: dict[str, str]) -> ReplayResult:
    async with http_target(recommendations_url, events_url, headers) as target:
        return await replay(sample, target, "http", depth=depth, concurrency=concurrency)


def replay_http(sample: ReplaySample, settings: Settings, artifacts: Path, concurrency: int,
                depth: int, reuse_running: bool = True) -> ReplayResult:
    """Replay through the running trio, or through a private one started for the purpose."""
    with trio_urls(settings, artifacts, reuse_running) as (recommendations_url, events_url):
        headers = key_headers(settings.serving)
        return asyncio.run(_over_http(sample, recommendations_url, events_url, concurrency, depth, headers))


def replay_inprocess(loaded: LoadedArtifacts, sample: ReplaySample, settings: Settings, depth: int) -> ReplayResult:
    return asyncio.run(replay(sample, loaded.target(settings), "inprocess", depth=depth))


def run_evaluation(options: ReplayOptions, settings: Settings) -> Outcome:
    folder = current_set(options.artifacts)
    lists = evaluation_lists(folder)
    period = EvaluationPeriod(folder, options.test_start, lists_folder=lists)
    sample = period.draw(options.users, options.seed, options.max_listens)
    depth = max(options.ks)
    in_process = options.mode == "inprocess" or options.tune or options.caps is not None or options.arms
    loaded = LoadedArtifacts(lists) if in_process else None
    if options.mode == "http":
        result = replay_http(sample, settings, lists if lists != folder else options.artifacts,
                             options.concurrency, depth, reuse_running=not options.private_trio)
    else:
        assert loaded is not None
        result = replay_inprocess(loaded, sample, settings, depth)
    groups = score(result, options.ks, options.resamples, options.seed)
    tuning = None
    if options.tune:
        assert loaded is not None
        tuning_sample = period.draw(options.tune_users, options.seed + 1, options.max_listens, exclude=sample.users)
        tuning = tune(loaded, tuning_sample, settings, grid(), options.resamples, options.seed)
    caps = None
    if options.caps is not None:
        assert loaded is not None
        caps = compare_caps(loaded, sample, settings, options.caps, options.resamples, options.seed)
    arms = None
    if options.arms:
        assert loaded is not None
        arms = compare_arms(loaded, sample, settings, options.resamples, options.seed)
    info = RunInfo(command=options.command, artifacts=lists,
                   when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   settings=Variant.of(settings), max_listens=options.max_listens, seed=options.seed,
                   max_per_artist=settings.serving.max_per_artist, experiment=settings.experiments.name)
    plot = write_report(options.out, info, result, groups, options.ks, tuning, caps, arms)
    logger.info("wrote %s and %s", options.out, plot)
    return Outcome(result, groups, tuning, plot, caps, arms)
