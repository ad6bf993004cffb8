"""What every candidate source is: settings with a search space, `fit` on a history, `recommend`.

A source proposes, for each user, tracks the user has not heard, with a score (higher is better).
Its settings are a frozen dataclass whose defaults are used when tuning is off; each field's
`space` (`searched(...)`) says how the `tune` stage may vary it, and a value pinned in `config.ini`
(`[pipeline.<source>] <setting>`, typed in settings.py) is never searched.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.data import Candidates, History
from musicrec.settings import PipelineSettings

USER_BATCH = 2_000
Progress = Callable[[int, "CandidateSource"], None]


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = True

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class Choice:
    values: Sequence[Any]

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))


Space = IntRange | FloatRange | Choice
SPACE_KEY = "space"


def searched(default: Any, space: Space) -> Any:
    """A dataclass field of a source's settings with its default and its search space beside it."""
    return dataclasses.field(default=default, metadata={SPACE_KEY: space})


@dataclass(frozen=True)
class SourceContext:
    """What a source may read besides the history: the settings and what each track is made of."""

    settings: PipelineSettings
    content: ItemContent


class CandidateSource(ABC):
    """One way of proposing unheard tracks to users; subclasses register in `sources.SOURCES`."""

    name: ClassVar[str]
    Params: ClassVar[type]  # a frozen dataclass; its defaults apply when tuning is off

    def __init__(self, params: Any, context: SourceContext) -> None:
        self.params = params
        self.context = context
        self.settings = context.settings
        self.history: History | None = None

    @classmethod
    def space(cls) -> dict[str, Space]:
        """How the tune stage may vary each setting (the fields declared with `searched`)."""
        return {field.name: field.metadata[SPACE_KEY] for field in dataclasses.fields(cls.Params)
                if SPACE_KEY in field.metadata}

    @classmethod
    def pinned(cls, settings: PipelineSettings) -> dict[str, Any]:
        """The settings of this source given in config.ini's `[pipeline.<source>]` (never searched)."""
        given = settings.source_settings(cls.name).model_dump(exclude_none=True)
        return {field.name: given[field.name] for field in dataclasses.fields(cls.Params) if field.name in given}

    @classmethod
    def searchable(cls, settings: PipelineSettings) -> dict[str, Space]:
        pinned = cls.pinned(settings)
        return {name: space for name, space in cls.space().items() if name not in pinned}

    @classmethod
    def from_values(cls, values: dict[str, Any], context: SourceContext) -> Self:
        """A source with the given values, pinned settings on top, defaults for the rest."""
        return cls(cls.Params(**{**values, **cls.pinned(context.settings)}), context)

    @property
    def fitted_history(self) -> History:
        """The history of the last fit, which `recommend` reads (the users' heard tracks)."""
        if self.history is None:
            raise RuntimeError(f"{self.name}: recommend called before fit")
        return self.history

    def fit(self, history: History, progress: Progress | None = None) -> None:
        """Learn from `history`; `progress(step, self)` may be called when a partial model is usable
        (so the tuner can prune a poor trial early)."""
        self.history = history
        self._fit(history, progress)

    # --- bringing a fit forward to a later cutoff ----------------------------------------------
    # The pipeline fits each source at the first cutoff and brings it forward to the later ones
    # (eval, serve) instead of fitting again from scratch. A source whose fit is cheap keeps these
    # defaults: bringing it forward is a fit on the longer history, which adds the new listens
    # exactly. An expensive one keeps what it learned: ALS updates its factors, item-kNN and EASE
    # keep their item model and read the users' longer histories.

    def state(self) -> dict[str, np.ndarray]:
        """What `fit_forward` needs from this fit, saved between stages (nothing by default)."""
        return {}

    def fit_forward(self, history: History, state: dict[str, np.ndarray]) -> None:
        """Learn from a later, longer `history`, starting from the `state` of a fit at an earlier
        cutoff. By default a full fit: exact, and cheap for the sources that keep it."""
        self.fit(history)

    def forward_cost_share(self) -> float:
        """The cost of `fit_forward` as a share of a full fit (for the run's time budget)."""
        return 1.0

    # The least exponent b of fit seconds ~ listens^b the run's budget may project with. On a tuning
    # sample a fit's fixed costs (threads, allocations, per-track work) can hide how it grows; a
    # source whose every iteration reads every listen cannot grow slower than the listens.
    min_cost_exponent: ClassVar[float] = 0.5

    @abstractmethod
    def _fit(self, history: History, progress: Progress | None) -> None: ...

    @abstractmethod
    def _recommend_batch(self, users: np.ndarray, n: int) -> Candidates:
        """Top-n unheard tracks for one batch of users."""

    def recommend(self, users: np.ndarray, n: int) -> Candidates:
        """Top-n unheard tracks for each user (sorted user indexes), in batches."""
        parts = [self._recommend_batch(users[start:start + USER_BATCH], n)
                 for start in range(0, users.size, USER_BATCH)]
        return Candidates.concat(parts)


def candidate_pool(item_listens: np.ndarray, share: float = 0.99, max_items: int = 50_000) -> np.ndarray:
    """Sorted dense indexes of the most listened items holding `share` of all listens (at most
    `max_items`): the tracks worth scoring for everybody; the rest have too few listens to rank."""
    order = np.argsort(-item_listens, kind="stable")
    cumulative = np.cumsum(item_listens[order])
    if not cumulative.size or cumulative[-1] == 0:
        return np.zeros(0, dtype=np.int64)
    size = min(int(np.searchsorted(cumulative, share * cumulative[-1])) + 1, max_items)
    return np.sort(order[:size])


def top_from_dense(users: np.ndarray, scores: np.ndarray, columns: np.ndarray, n: int) -> Candidates:
    """Top-n of a users x columns score matrix (-inf where not allowed) as Candidates of items
    `columns[j]`."""
    n = min(n, scores.shape[1])
    if not n or not users.size:
        return Candidates.empty()
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    values = np.take_along_axis(scores, top, axis=1)
    keep = np.isfinite(values)
    rows = np.repeat(users, n).reshape(-1, n)
    return Candidates.top_by_score(rows[keep], columns[top[keep]], values[keep], n)


def top_from_sparse(users: np.ndarray, scores: sp.csr_matrix, heard: sp.csr_matrix, n: int) -> Candidates:
    """Top-n unheard of a sparse users x items score matrix (rows aligned with `users`)."""
    scores = (scores - scores.multiply(heard > 0)).tocoo()
    keep = scores.data > 0
    return Candidates.top_by_score(users[scores.row[keep]], scores.col[keep], scores.data[keep], n)


def unheard_dense(scores: np.ndarray, heard: sp.csr_matrix) -> np.ndarray:
    """The score matrix with every heard (user, column) set to -inf."""
    rows, cols = heard.nonzero()
    scores[rows, cols] = -np.inf
    return scores
