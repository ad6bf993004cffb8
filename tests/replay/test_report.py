"""The report: markdown with every group and strategy, a PNG, and the tuning section carried over."""

from __future__ import annotations

import asyncio
from pathlib import Path

from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.report import RunInfo, write_report
from musicrec.replay.runner import replay
from musicrec.replay.scores import score
from musicrec.replay.tuning import Variant, tune
from musicrec.serving.blending import AlternateBlend, MaxMerge, SumMerge, WeightedBlend
from tests.replay.conftest import make_sample
from tests.replay.test_runner import LISTENS, course_settings

PNG_MAGIC = b"\x89PNG"


def test_report_and_tuning_section(tiny_artifacts: Path, tmp_path: Path) -> None:
    settings = course_settings()
    loaded = LoadedArtifacts(tiny_artifacts)
    sample = make_sample(LISTENS, offline_users={1})
    result = asyncio.run(replay(sample, loaded.target(settings), "inprocess", progress=False))
    groups = score(result, ks=(5, 10), resamples=50)
    variants = [Variant(3, MaxMerge(), AlternateBlend(), False),
                Variant(1, SumMerge(), WeightedBlend(0.7), True)]
    rows = tune(loaded, sample, settings, variants, resamples=50, seed=0)
    assert [row.blended.value for row in rows] == sorted((row.blended.value for row in rows), reverse=True)
    assert {row.variant for row in rows} == set(variants)

    info = RunInfo(command="python -m musicrec replay", artifacts=tiny_artifacts, when="now",
                   settings=Variant.of(settings), max_listens=100, seed=42)
    report = tmp_path / "replay.md"
    plot = write_report(report, info, result, groups, (5, 10), rows)
    text = report.read_text()
    assert plot == tmp_path / "replay.png" and plot.read_bytes().startswith(PNG_MAGIC)
    assert "| all users | 2 | 5 | 0.6000 [" in text  # offline HitRate@10 of the exact replay
    for heading in ("## all users", "## with offline recommendations", "## cold", "## Latency", "## Tuning"):
        assert heading in text
    assert "| 1 | sum | weighted 0.7 | yes |" in text
    assert "| 3 | max | alternate | no |" in text and "| +0.0000 [+0.0000, +0.0000] |" in text  # vs itself

    write_report(report, info, result, groups, (5, 10))  # a replay without --tune
    assert "| 1 | sum | weighted 0.7 | yes |" in report.read_text()
