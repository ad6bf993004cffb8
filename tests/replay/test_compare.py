"""Comparisons of serving settings (caps, A/B arms), exact on the tiny artifact set (tests/artifact_factory.py).

User 1's first blended list (no listens yet) is the offline one: 10 (Artist A), 11 (Artist A),
12 (Artist B), 13 (no name). Capped at 1 per 10, 11 waits for the next page and top popular's 30
(Artist D) takes the fourth place, so the listen of 11 is missed and every artist is another.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from musicrec.replay.compare import artist_diversity, compare_arms, compare_caps
from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.report import RunInfo, write_report
from musicrec.replay.runner import replay
from musicrec.replay.scores import score
from musicrec.replay.tuning import Variant
from musicrec.serving.facets import NO_CODE
from musicrec.settings import load_settings
from tests.artifact_factory import COURSE_RULE_ENV
from tests.replay.conftest import make_sample
from tests.replay.test_runner import course_settings


def test_artist_diversity_counts_unknown_artists_apart() -> None:
    assert artist_diversity(np.array([1, 1, 2, NO_CODE, NO_CODE])) == pytest.approx(4 / 5)
    assert artist_diversity(np.array([], dtype=np.int32)) == 1.0


def test_each_cap_is_replayed_on_the_same_users(tiny_artifacts: Path, tmp_path: Path) -> None:
    loaded = LoadedArtifacts(tiny_artifacts)
    sample = make_sample({1: [11]}, offline_users={1})
    uncapped, one = compare_caps(loaded, sample, course_settings(), (0, 1), resamples=20, seed=0)
    assert (uncapped.label, uncapped.hit_rate.value, uncapped.diversity.value) == ("0", 1.0, 0.75)
    assert (one.label, one.hit_rate.value, one.diversity.value) == ("1", 0.0, 1.0)
    assert uncapped.vs_baseline is None and one.vs_baseline is not None and one.vs_baseline.value == -1.0

    result = asyncio.run(replay(sample, loaded.target(course_settings()), "inprocess", progress=False))
    info = RunInfo(command="python -m musicrec replay --caps 0 1", artifacts=tiny_artifacts, when="now",
                   settings=Variant.of(course_settings()), max_listens=100, seed=42, max_per_artist=2)
    report = tmp_path / "replay.md"
    write_report(report, info, result, score(result, ks=(10,), resamples=20), (10,), cap_rows=[uncapped, one])
    assert "| 1 | 0.0000 [0.0000, 0.0000] | 0.0000 [0.0000, 0.0000] | 1.000 [1.000, 1.000] | -1.0000" in \
        report.read_text()
    write_report(report, info, result, score(result, ks=(10,), resamples=20), (10,))  # without --caps
    text = report.read_text()
    assert "## Cap per artist" in text and "| 0 | 1.0000" in text and "max_per_artist=2" in text


def test_arms_are_compared_on_all_the_users(tiny_artifacts: Path, tmp_path: Path) -> None:
    settings = load_settings(environ={
        **COURSE_RULE_ENV, "MUSICREC_EXPERIMENTS__NAME": "cap", "MUSICREC_EXPERIMENTS__ARMS": "loose:1, tight:1",
        "MUSICREC_EXPERIMENTS__ARM_LOOSE": "max_per_artist=0", "MUSICREC_EXPERIMENTS__ARM_TIGHT": "max_per_artist=1"})
    sample = make_sample({1: [11], 3: [10]}, offline_users={1})
    loose, tight = compare_arms(LoadedArtifacts(tiny_artifacts), sample, settings, resamples=20, seed=0)
    # user 1 as above; user 3 (top popular 30 10 20 40 41) hears 10 at place 2 either way
    assert (loose.label, loose.hit_rate.value, tight.label, tight.hit_rate.value) == ("loose", 1.0, "tight", 0.5)
    assert tight.vs_baseline is not None and tight.vs_baseline.value == -0.5 and tight.users == 2
