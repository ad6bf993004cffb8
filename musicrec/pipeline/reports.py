"""The typed reports the pipeline's stages leave for each other and for people: split, tuning,
ranker, metrics.

Stages read each other's results through these models (saved and loaded by `Workspace`), never by
string keys into loose dictionaries; the JSON they write (`split.json`, `tuning.json`,
`ranker.json`, `metrics.json`) keeps the field names people and notebooks already read, `ndcg@10` included.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

RANKER: Final = "ranker"  # the published model's name when the re-ranked lists are published
FUSION: Final = "fusion"  # ... and when the rank fusion of the sources is (fusion.py)


class Report(BaseModel):
    """A JSON report: field names as written (aliases such as `ndcg@10`), unknown keys refused."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class SplitReport(Report):
    """How the listens were split (split.py) and why; metrics.json's `split` adds who was judged.

    `method` is `days` for a global time split (train before `target_start`, the target window up to
    `test_start`, the test period from it) and `per_user` when each user's last listens were held
    out instead; `reason` says why the windows are what they are (the default, widened, or why no
    time split held enough). A window's users are those who listened before it.
    """

    method: Literal["days", "per_user"]
    reason: str
    first_day: date
    last_day: date
    target_start: date | None = None  # method days only
    test_start: date | None = None
    target_days: int | None = None  # the windows' lengths as used (widened or not)
    test_days: int | None = None
    per_user_share: float | None = None  # method per_user: share of each user's listens per window
    recent_days: int  # the window of the histories' recent counts (features, recent popularity)
    listens: int
    train_listens: int
    dropped_unknown_track_listens: int
    users: int
    items: int
    target_listens: int
    target_users: int
    target_pairs: int
    test_listens: int
    test_users: int
    test_pairs: int
    evaluated_users: int | None = None  # set by the evaluation: users judged on the test period
    listed_users: int | None = None
    k: int | None = None


class Trial(Report):
    """One setting the search fit on the sample, what it scored and what it cost."""

    number: int
    state: str
    ndcg_at_10: float | None = Field(None, alias="ndcg@10")
    params: dict[str, Any]
    fit_seconds: float | None = None  # measured on the sample
    list_seconds: float | None = None  # its lists for the sample's judged users
    projected_fit_seconds: float | None = None  # this setting's fits over the whole run


class SourceCost(Report):
    """How a source's fit time grows with the listens it learns from, and what the run will spend.

    `exponent` is measured from two fits of the default setting on samples of two sizes; a trial's
    fit time on the sample is projected as seconds x (listens / sample listens) ^ exponent.
    """

    exponent: float
    sample_listens: int
    half_sample: tuple[int, float]  # (listens, seconds) of the default setting on half the sample
    full_sample: tuple[int, float]  # (listens, seconds) of the same on the whole sample
    listens: dict[str, int]  # listens (distinct user-track pairs) at each cutoff it is fit at
    list_seconds_per_user: float  # of the chosen setting, on the sample, scaled to the data's pool
    fit_seconds: dict[str, float] = {}  # of the chosen setting at each cutoff: a fit, then forward


class SourceTuning(Report):
    values: dict[str, Any]
    pinned: dict[str, Any]
    validation_ndcg_at_10: float | None = Field(None, alias="validation_ndcg@10")
    best_trial_ndcg_at_10: float | None = Field(None, alias="best_trial_ndcg@10")
    noise: float | None = None  # standard error of the chosen setting's paired difference to the best
    trials: list[Trial] = []
    cost: SourceCost | None = None
    refused_for_cost: list[Trial] = []  # better settings that were not chosen for their cost


class StagePlan(Report):
    stage: str
    seconds: float
    parts: dict[str, float]


class RunPlan(Report):
    """The run's time budget after tuning: what was spent, what the remaining stages will take."""

    budget_minutes: float
    spent_seconds: float
    stages: list[StagePlan]
    fallbacks: list[str] = []  # each cheaper setting taken to fit the budget, and why
    fits: bool = True

    @property
    def projected_seconds(self) -> float:
        return self.spent_seconds + sum(stage.seconds for stage in self.stages)


class TuningReport(Report):
    tuned: bool
    budget_minutes: float
    sample_users: int | None = None
    judged_users: int | None = None
    sources: dict[str, SourceTuning]
    plan: RunPlan | None = None
    skipped: str | None = None  # why the settings were not searched, when the data was too thin

    def values(self) -> dict[str, dict[str, Any]]:
        """Each source's chosen settings."""
        return {name: entry.values for name, entry in self.sources.items()}


class FusionReport(Report):
    """The rank fusion the ranker stage publishes (fusion.py): each source's weight and the constant of
    score = sum of weight / (constant + rank), searched on every user of the ranker's sample (each
    fold's own fusion, searched on the other folds, is what the choice judged)."""

    weights: dict[str, float]
    constant: float
    learning_users: int
    learning_ndcg_at_10: float = Field(alias="learning_ndcg@10")  # on those users: optimistic
    evaluations: int  # settings tried by the search
    seconds: float


class FoldReport(Report):
    """One fold of the cross-fitting (crossfit.py): its users, judged by the fusion and the rankers
    learnt on the other folds, and what learning those cost."""

    users: int
    positives: int  # played candidates of its users
    validation_ndcg_at_10: dict[str, float] = Field(alias="validation_ndcg@10")  # the fusion, each loss
    catboost_seconds: dict[str, float]  # each loss's fit on the other folds
    fusion_seconds: float  # the fusion's search on the other folds


class RankerReport(Report):
    """What the ranker stage learned and which model it published: `RANKER`, `FUSION` or a source's name.

    Every user of the ranker's sample (`judged_users`, with `judged_pairs` unheard tracks in the
    target window, `positives` of them among the candidates) is judged out of fold: dealt into
    `folds` folds, each scored by a fusion and a ranker learnt on the others (`out_of_fold`).
    `validation_ndcg@10` is every model's mean over all of them; `compared` holds the choice's
    comparisons on them (scoring.choose): NDCG@10 difference and its paired standard error. The
    published fusion and ranker are learnt afterwards on every user (`learning_users` with a
    played candidate, `learning_rows` rows).
    """

    published: str
    loss: str | None
    best_source: str
    folds: int
    judged_users: int
    judged_pairs: int
    positives: int
    learning_rows: int
    learning_users: int
    validation_ndcg_at_10: dict[str, float] = Field(alias="validation_ndcg@10")
    out_of_fold: list[FoldReport] = []
    catboost_seconds: dict[str, float] = {}  # each loss over the folds, and `final` (the published fit)
    fusion_seconds: float = 0.0  # every fusion search: the folds' and the published one
    feature_importance: dict[str, float] = {}
    skipped: str | None = None  # why no ranker and no fusion were learned, when none were
    fusion: FusionReport | None = None
    compared: dict[str, dict[str, Any]] = {}

    @property
    def publishes_ranker(self) -> bool:
        return self.published == RANKER

    @property
    def publishes_fusion(self) -> bool:
        return self.published == FUSION


class Validation(Report):
    tuning: TuningReport
    ranker: RankerReport


SimilarCandidate = Literal["als", "sequential", "merged"]


class SimilarReport(Report):
    """Which similar tracks similar.parquet holds (similar.py) and how each candidate did at
    predicting the next listen from the one before: HitRate@10 on the target window's consecutive
    listens (`validation`, with the paired comparisons of the choice) and on the test period's (`test`,
    set by the evaluation). `unavailable` says why only ALS neighbours were made, when it is so."""

    chosen: SimilarCandidate
    pinned: bool  # [pipeline.similar] choose named it
    sequential: dict[str, float] | None  # window, decay, damping of the best sequential setting
    merge_weight: float | None  # the sequential share of the merge
    validation_pairs: int  # the pairs that judge the candidates
    search_pairs: int = 0  # the other pairs of the target window, that the settings were searched on
    validation: dict[str, float] = {}
    compared: dict[str, dict[str, Any]] = {}
    searched: list[dict[str, float]] = []  # every sequential setting tried, its HitRate@10 on the search pairs
    merge_weights: dict[str, float] = {}  # each merge weight's HitRate@10 on the search pairs
    test: dict[str, float] = {}
    test_pairs: int = 0
    unavailable: str | None = None
    seconds: dict[str, float] = {}


class MetricsReport(Report):
    """metrics.json: every model on the test period, the published choice, how it was chosen."""

    split: SplitReport
    published: str
    models: dict[str, dict[str, float]]
    published_vs_best_source: dict[str, Any]
    # NDCG@10 of the ranker and the fusion minus the best single source's on the test period, per user
    models_vs_best_source: dict[str, dict[str, float]] = {}
    cold_users: dict[str, Any]
    validation: Validation
    evaluation_rows: dict[str, int] = {}
    forward_seconds: dict[str, float] = {}  # each source's bringing forward to the eval cutoff
    similar: SimilarReport | None = None  # how similar.parquet was chosen, each candidate's next-listen hits
