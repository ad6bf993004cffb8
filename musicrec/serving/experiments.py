"""A/B experiments: which arm a user is in, stably, and what each arm serves.

An experiment (`[experiments]`, off unless named) splits users into arms by share. A user's arm is
a hash of the experiment's name and the user id (the first 8 bytes of SHA-256 as a number in
[0, 1), placed on the arms' cumulative shares): the same user gets the same arm in every request,
on every replica and after every restart, without storing anything, and a new experiment (another
name) shuffles users afresh. Each arm serves `[serving]` with its own options (blend, online weight,
history, cap, ...), so the service keeps one `Recommender` per arm.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from musicrec.settings import Settings


@dataclass(frozen=True)
class Experiment:
    """Named arms with their shares (relative weights)."""

    name: str
    arms: tuple[str, ...]
    shares: tuple[float, ...]
    bounds: tuple[float, ...] = field(init=False, repr=False)  # where each arm but the last ends in [0, 1)

    def __post_init__(self) -> None:
        total = sum(self.shares)
        object.__setattr__(self, "bounds", tuple(share / total for share in accumulate(self.shares))[:-1])

    def arm_of(self, user_id: int) -> str:
        digest = hashlib.sha256(f"{self.name}:{user_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        return self.arms[bisect_right(self.bounds, point)]


def configured_experiment(settings: Settings) -> Experiment | None:
    """The experiment `[experiments]` configures, or None when it names none."""
    experiments = settings.experiments
    if not experiments.name:
        return None
    return Experiment(experiments.name, tuple(name for name, _ in experiments.arms),
                      tuple(share for _, share in experiments.arms))


def arm_settings(settings: Settings, arm: str) -> Settings:
    """`settings` with the arm's serving options in `[serving]`."""
    return settings.model_copy(update={"serving": settings.serving_of(arm)})
