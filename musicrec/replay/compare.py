"""Compare serving settings offline: blended HitRate@10, NDCG@10 and artist diversity@10 of each.

Used for the cap per artist (`--caps`: one setting per `max_per_artist`) and the A/B arms (`--arms`:
each arm's options). Every setting replays the same users in process, from the same loaded
indexes, asking for blended lists of 10, so the rows differ by the settings alone. Diversity@10 of
an answer is the share of distinct main artists among its first 10 tracks (1.0: every track by
another artist; a track whose artist the catalogue does not know counts as an artist of its own);
it is averaged over the blended answers, with a bootstrap interval over users like the hit rates.
The HitRate difference to the first setting (the baseline) is paired: same users, same listens.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from musicrec.api.strategies import BLENDED
from musicrec.replay.inprocess import InProcessTarget, LoadedArtifacts
from musicrec.replay.listen_metrics import Estimate, estimates, listen_gains, paired_difference, per_user_sums
from musicrec.replay.runner import Reply, replay
from musicrec.replay.sample import ReplaySample
from musicrec.serving.experiments import arm_settings
from musicrec.serving.facets import NO_CODE, TrackFacets
from musicrec.settings import Settings, SettingsError

CAPS: tuple[int, ...] = (0, 1, 2, 3, 5)  # the settings of max_per_artist `--caps` compares by default
DIVERSITY_K = 10
STRATEGY = BLENDED.name


@dataclass(frozen=True)
class SettingRow:
    label: str  # the setting: "2" (a cap), or an arm's name
    hit_rate: Estimate  # blended HitRate@10
    ndcg: Estimate  # blended NDCG@10
    diversity: Estimate  # distinct main artists among the first 10, as a share, mean over answers
    vs_baseline: Estimate | None  # HitRate@10 minus that of the first setting, paired (None for it)
    users: int
    listens: int


def artist_diversity(artists: np.ndarray) -> float:
    """Share of distinct artists among `artists` (codes; NO_CODE: unknown, each its own); 1.0 if empty."""
    if len(artists) == 0:
        return 1.0
    known = artists[artists != NO_CODE]
    return (len(np.unique(known)) + (len(artists) - len(known))) / len(artists)


class DiversityRecorder:
    """A replay target that passes everything on and notes the diversity of each blended answer per user."""

    def __init__(self, target: InProcessTarget, facets: TrackFacets) -> None:
        self.target = target
        self.facets = facets
        self.per_user: defaultdict[int, list[float]] = defaultdict(list)

    async def recommend(self, strategy: str, user_id: int, k: int) -> Reply:
        reply = await self.target.recommend(strategy, user_id, k)
        if strategy == STRATEGY:
            top = np.asarray(reply.recs[:DIVERSITY_K], dtype=np.int64)
            self.per_user[user_id].append(artist_diversity(self.facets.main_artists(top)))
        return reply

    async def put(self, user_id: int, item_id: int) -> None:
        await self.target.put(user_id, item_id)


def compare_settings(artifacts: LoadedArtifacts, sample: ReplaySample, variants: list[tuple[str, Settings]],
                     resamples: int, seed: int) -> list[SettingRow]:
    """One row per (label, settings) of `variants`, in that order, each replaying `sample` in process;
    the first is the baseline of the paired differences."""
    measured = []
    counts = sample.listen_counts().astype(np.float64)
    for label, settings in variants:
        recorder = DiversityRecorder(artifacts.target(settings), artifacts.facets)
        # Lists of 10, as the cap's default is stated for ("2 in a list of 10").
        result = asyncio.run(replay(sample, recorder, "inprocess", (STRATEGY,), depth=DIVERSITY_K,
                                    progress=False))
        ranks = result.ranks[:, 0]
        gains = np.stack([listen_gains(ranks, "HitRate", DIVERSITY_K), listen_gains(ranks, "NDCG", DIVERSITY_K)],
                         axis=1)
        hit_rate, ndcg = estimates(per_user_sums(gains, sample.offsets), counts, resamples, seed)
        users = [int(user) for user in sample.users]
        diversity_sums = np.array([[sum(recorder.per_user[user])] for user in users])
        answers = np.array([len(recorder.per_user[user]) for user in users], dtype=np.float64)
        diversity = estimates(diversity_sums, answers, resamples, seed)[0]
        measured.append((label, hit_rate, ndcg, diversity, gains[:, 0]))
    baseline = measured[0][-1]
    rows = []
    for position, (label, hit_rate, ndcg, diversity, hits) in enumerate(measured):
        difference = None
        if position:
            difference = paired_difference(hits, baseline, sample.offsets, counts, resamples, seed)
        rows.append(SettingRow(label, hit_rate, ndcg, diversity, difference, len(sample), sample.listens))
    return rows


def compare_caps(artifacts: LoadedArtifacts, sample: ReplaySample, settings: Settings, caps: tuple[int, ...],
                 resamples: int, seed: int) -> list[SettingRow]:
    """One row per setting of `[serving] max_per_artist` in `caps`, no cap (0) first as the baseline."""
    ordered = sorted(caps, key=lambda cap: cap != 0)

    def capped(cap: int) -> Settings:
        return settings.model_copy(update={"serving": settings.serving.model_copy(update={"max_per_artist": cap})})

    return compare_settings(artifacts, sample, [(str(cap), capped(cap)) for cap in ordered], resamples, seed)


def compare_arms(artifacts: LoadedArtifacts, sample: ReplaySample, settings: Settings, resamples: int,
                 seed: int) -> list[SettingRow]:
    """One row per arm of the configured experiment, in the order `arms` lists them (the first is
    the baseline); every arm replays all the users, not only those the hash gives it."""
    arms = [name for name, _ in settings.experiments.arms]
    if not arms:
        raise SettingsError("replay --arms: [experiments] arms names no arms")
    return compare_settings(artifacts, sample, [(arm, arm_settings(settings, arm)) for arm in arms], resamples, seed)
