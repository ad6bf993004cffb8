"""Tune the online part and the blend by replaying one sample under every combination of options.

The options are the `[serving]` keys: how many recent listens seed the online list
(`online_history`), how their similar tracks are merged (`online_merge`), how offline and online
are blended (`blend` and its options, e.g. `online_weight`) and whether tracks already heard are
dropped (`filter_heard`); the merges and blends tried are those of the registries in
`serving.blending`, each configured as its `tuning_grid` says. Every variant replays the same users
in process, from the same loaded indexes, so their differences are the options' alone; the paired
lift over offline carries an interval.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from musicrec.api.strategies import BLENDED, OFFLINE, ONLINE
from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.listen_metrics import Estimate, listen_gains, paired_difference
from musicrec.replay.runner import replay
from musicrec.replay.sample import ReplaySample
from musicrec.replay.scores import LIFT_K, GroupScores, score
from musicrec.serving.blending import (
    BLENDS,
    MERGES,
    AlternateBlend,
    Blend,
    MaxMerge,
    OnlineMerge,
    configured_blend,
    configured_merge,
)
from musicrec.settings import Settings

logger = logging.getLogger(__name__)

HISTORIES: tuple[int, ...] = (1, 3, 5, 10)
FILTERS: tuple[bool, ...] = (False, True)
TUNED_STRATEGIES = (OFFLINE.name, ONLINE.name, BLENDED.name)


@dataclass(frozen=True)
class Variant:
    """One combination of the tuned `[serving]` options."""

    online_history: int
    online_merge: OnlineMerge
    blend: Blend
    filter_heard: bool

    def apply(self, settings: Settings) -> Settings:
        serving = settings.serving.model_copy(update={
            "online_history": self.online_history, **self.online_merge.serving_values(),
            **self.blend.serving_values(), "filter_heard": self.filter_heard,
        })
        return settings.model_copy(update={"serving": serving})

    @classmethod
    def of(cls, settings: Settings) -> Variant:
        serving = settings.serving
        return cls(serving.online_history, configured_merge(serving), configured_blend(serving),
                   serving.filter_heard)


COURSE_RULE = Variant(online_history=3, online_merge=MaxMerge(), blend=AlternateBlend(), filter_heard=False)


def grid() -> list[Variant]:
    """Every combination of the tuned options: each registered merge and blend, each as its grid says."""
    merges = [configuration for merge in MERGES.values() for configuration in merge.tuning_grid()]
    blends = [configuration for blend in BLENDS.values() for configuration in blend.tuning_grid()]
    return [Variant(*options) for options in itertools.product(HISTORIES, merges, blends, FILTERS)]


@dataclass(frozen=True)
class TuningRow:
    variant: Variant
    blended: Estimate  # HitRate@LIFT_K of blended, all users
    online: Estimate  # HitRate@LIFT_K of online alone
    blended_ndcg: Estimate
    lift: Estimate  # blended minus offline HitRate@LIFT_K, paired
    vs_course: Estimate | None  # blended minus the course rule's blended HitRate@LIFT_K, paired
    users: int
    listens: int


def tune(
    artifacts: LoadedArtifacts, sample: ReplaySample, settings: Settings, variants: list[Variant],
    resamples: int, seed: int,
) -> list[TuningRow]:
    """Replay `sample` under every variant (in process); rows best blended HitRate@10 first.

    Each variant is also compared with the course rule on the same users (paired), when the course
    rule is among the variants: that difference is what changing the default buys.
    """
    scored: list[tuple[Variant, GroupScores, np.ndarray]] = []
    for variant in tqdm(variants, desc="tuning", unit="variant"):
        target = artifacts.target(variant.apply(settings))
        result = asyncio.run(replay(sample, target, "inprocess", TUNED_STRATEGIES, progress=False))
        hits = listen_gains(result.ranks[:, TUNED_STRATEGIES.index(BLENDED.name)], "HitRate", LIFT_K)
        scored.append((variant, score(result, (LIFT_K,), resamples, seed)[0], hits))
    baseline = next((hits for variant, _, hits in scored if variant == COURSE_RULE), None)
    rows = [
        TuningRow(
            variant=variant,
            blended=everyone.values[(BLENDED.name, "HitRate", LIFT_K)],
            online=everyone.values[(ONLINE.name, "HitRate", LIFT_K)],
            blended_ndcg=everyone.values[(BLENDED.name, "NDCG", LIFT_K)],
            lift=everyone.lift,  # type: ignore[arg-type]  # offline and blended are both replayed
            vs_course=None if baseline is None else paired_difference(
                hits, baseline, sample.offsets, sample.listen_counts().astype(np.float64), resamples, seed),
            users=everyone.users, listens=everyone.listens,
        )
        for variant, everyone, hits in scored
    ]
    rows.sort(key=lambda row: -row.blended.value)
    logger.info("best of %d variants: %s (blended HitRate@%d %.4f)", len(rows), rows[0].variant, LIFT_K,
                rows[0].blended.value)
    return rows
