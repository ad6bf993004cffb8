"""Tune the online part and the blend by replaying one sample under every combination of options.

The options are the `[serving]` keys: how many recent listens seed the online list
(`online_history`), how their similar tracks are merged (`online_merge`), how offline and online
are blended (`blend`, `online_weight`) and whether tracks already heard are dropped
(`filter_heard`). Every variant replays the same users in process, from the same loaded indexes,
so their differences are the options' alone; the paired lift over offline carries an interval.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from tqdm import tqdm

from musicrec.replay.inprocess import LoadedArtifacts
from musicrec.replay.metrics import Estimate
from musicrec.replay.runner import replay
from musicrec.replay.sample import ReplaySample
from musicrec.replay.scores import LIFT_K, score
from musicrec.settings import Settings

logger = logging.getLogger(__name__)

HISTORIES: tuple[int, ...] = (1, 3, 5, 10)
MERGES: tuple[str, ...] = ("max", "sum")
BLENDS: tuple[tuple[str, float], ...] = (
    ("alternate", 0.5), ("weighted", 0.3), ("weighted", 0.5), ("weighted", 0.7), ("weighted", 0.85),
)
FILTERS: tuple[bool, ...] = (False, True)
TUNED_STRATEGIES = ("offline", "online", "blended")


@dataclass(frozen=True)
class Variant:
    """One combination of the tuned `[serving]` options."""

    online_history: int
    online_merge: str
    blend: str
    online_weight: float
    filter_heard: bool

    def apply(self, settings: Settings) -> Settings:
        serving = settings.serving.model_copy(update={
            "online_history": self.online_history, "online_merge": self.online_merge, "blend": self.blend,
            "online_weight": self.online_weight, "filter_heard": self.filter_heard,
        })
        return settings.model_copy(update={"serving": serving})

    @property
    def blend_label(self) -> str:
        return f"weighted {self.online_weight:g}" if self.blend == "weighted" else self.blend

    @classmethod
    def of(cls, settings: Settings) -> Variant:
        serving = settings.serving
        return cls(serving.online_history, serving.online_merge, serving.blend, serving.online_weight,
                   serving.filter_heard)


def grid() -> list[Variant]:
    """Every combination of the tuned options (the weight only matters for the weighted blend)."""
    return [Variant(history, merge, blend, weight, heard)
            for history, merge, (blend, weight), heard in itertools.product(HISTORIES, MERGES, BLENDS, FILTERS)]


@dataclass(frozen=True)
class TuningRow:
    variant: Variant
    blended: Estimate  # HitRate@LIFT_K of blended, all users
    online: Estimate  # HitRate@LIFT_K of online alone
    blended_ndcg: Estimate
    lift: Estimate  # blended minus offline HitRate@LIFT_K, paired
    users: int
    listens: int


def tune(
    artifacts: LoadedArtifacts, sample: ReplaySample, settings: Settings, variants: list[Variant],
    resamples: int, seed: int,
) -> list[TuningRow]:
    """Replay `sample` under every variant (in process); rows best blended HitRate@10 first."""
    rows = []
    for variant in tqdm(variants, desc="tuning", unit="variant"):
        target = artifacts.target(variant.apply(settings))
        result = asyncio.run(replay(sample, target, "inprocess", TUNED_STRATEGIES, progress=False))
        everyone = score(result, (LIFT_K,), resamples, seed)[0]
        rows.append(TuningRow(
            variant=variant,
            blended=everyone.values[("blended", "HitRate", LIFT_K)],
            online=everyone.values[("online", "HitRate", LIFT_K)],
            blended_ndcg=everyone.values[("blended", "NDCG", LIFT_K)],
            lift=everyone.lift,  # type: ignore[arg-type]  # offline and blended are both replayed
            users=everyone.users, listens=everyone.listens,
        ))
    rows.sort(key=lambda row: -row.blended.value)
    best = rows[0]
    logger.info("best of %d variants: %s (blended HitRate@%d %.4f)", len(rows), best.variant, LIFT_K,
                best.blended.value)
    return rows
