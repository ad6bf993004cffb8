"""The pipeline's work folder: every file a stage leaves for later stages, with typed readers and
writers.

Stages talk through files, not through memory, so any stage can be re-run alone
(`--stages ranker evaluate`) and a crash loses only the stage that crashed. File names live here
only; a stage asks for a `History`, `Pairs` or a typed report, never for a path. Intermediate files are numpy/scipy
files in dense indexes; the published artifacts are parquet with raw ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from musicrec import schema
from musicrec.datasets.packed import distinct
from musicrec.errors import ArtifactError
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.reports import (
    MetricsReport,
    RankerReport,
    Report,
    SimilarReport,
    SplitReport,
    TuningReport,
)
from musicrec.pipeline.sequential import Sequence

Cutoff = Literal["fit", "eval", "serve"]
Period = Literal["target", "test"]
EVALUATION_DIR = schema.EVALUATION_DIR

SEQUENCE_FILES = ("sequence_items.npy", "sequence_period.npy", "sequence_starts.npy")
# Files published as the artifact set (paths relative to the work folder).
PUBLISHED_FILES = (
    schema.ITEMS_FILE,
    schema.EVENTS_FILE,
    schema.TOP_POPULAR_FILE,
    schema.SIMILAR_FILE,
    schema.RECOMMENDATIONS_FILE,
    f"{EVALUATION_DIR}/{schema.RECOMMENDATIONS_FILE}",
    f"{EVALUATION_DIR}/{schema.SIMILAR_FILE}",
    f"{EVALUATION_DIR}/{schema.TOP_POPULAR_FILE}",
    schema.METRICS_FILE,
)


@dataclass(frozen=True)
class Workspace:
    """The work folder of one pipeline run."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def require(self, name: str, made_by: str) -> Path:
        """The path of an input file, or a clear error naming the stage that makes it."""
        path = self.path(name)
        if not path.exists():
            raise ArtifactError(f"{path} is missing: run the '{made_by}' stage first")
        return path

    def output(self, name: str) -> Path:
        """A path to write to, its folder made."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # --- prepare -------------------------------------------------------------------------------
    def items_output(self) -> Path:
        return self.output(schema.ITEMS_FILE)

    def events_output(self) -> Path:
        return self.output(schema.EVENTS_FILE)

    def items_path(self) -> Path:
        return self.require(schema.ITEMS_FILE, "prepare")

    def events_path(self) -> Path:
        return self.require(schema.EVENTS_FILE, "prepare")

    # --- the run's record of its stages ----------------------------------------------------------
    def save_timing(self, timing: dict[str, Any]) -> None:
        """Add one stage's time to the run's record (the budget counts what earlier stages spent)."""
        timings = {entry["stage"]: entry for entry in self.load_timings()}
        timings[timing["stage"]] = timing
        self.save_json("timings.json", {"stages": list(timings.values())})

    def load_timings(self) -> list[dict[str, Any]]:
        path = self.path("timings.json")
        return json.loads(path.read_text())["stages"] if path.exists() else []

    # --- split ---------------------------------------------------------------------------------
    def save_history(self, cutoff: Cutoff, history: History) -> None:
        np.save(self.output("users.npy"), history.users.ids)
        np.save(self.output("items.npy"), history.items.ids)
        sp.save_npz(self.output(f"history_{cutoff}.npz"), history.matrix, compressed=False)
        sp.save_npz(self.output(f"history_{cutoff}_recent.npz"), history.recent_matrix, compressed=False)
        np.savez(self.output(f"history_{cutoff}_stats.npz"), item_first_day=history.item_first_day,
                 user_last_day=history.user_last_day, cutoff_day=np.int32(history.cutoff_day))

    def load_history(self, cutoff: Cutoff) -> History:
        stats = np.load(self.require(f"history_{cutoff}_stats.npz", "split"))
        return History(
            users=IdIndex(np.load(self.require("users.npy", "split"))),
            items=IdIndex(np.load(self.require("items.npy", "split"))),
            matrix=_load_counts(self.require(f"history_{cutoff}.npz", "split")),
            recent_matrix=_load_counts(self.require(f"history_{cutoff}_recent.npz", "split")),
            item_first_day=stats["item_first_day"],
            user_last_day=stats["user_last_day"],
            cutoff_day=int(stats["cutoff_day"]),
        )

    def history_pairs(self, cutoff: Cutoff) -> int:
        """Distinct (user, track) pairs of a history, read from its row index alone."""
        return int(self._indptr(cutoff)[-1])

    def load_history_active_users(self, cutoff: Cutoff, among: np.ndarray | None = None) -> int:
        """Users with at least one listen in a history (only those `among` given user indexes, if
        any), read from its row index alone."""
        active = np.diff(self._indptr(cutoff)) > 0
        return int(active.sum() if among is None else active[distinct(among)].sum())

    def _indptr(self, cutoff: Cutoff) -> np.ndarray:
        with np.load(self.require(f"history_{cutoff}.npz", "split")) as stored:
            indptr: np.ndarray = stored["indptr"]
            return indptr

    def save_pairs(self, period: Period, pairs: Pairs) -> None:
        np.savez(self.output(f"{period}_pairs.npz"), users=pairs.users, items=pairs.items)

    def load_pairs(self, period: Period) -> Pairs:
        stored = np.load(self.require(f"{period}_pairs.npz", "split"))
        return Pairs(stored["users"], stored["items"])

    def save_sequence(self, sequence: Sequence) -> None:
        """Every listen's track and period in listening order (sequential.py); the Spark engine
        keeps the order on the cluster and writes none."""
        for name, values in zip(SEQUENCE_FILES, (sequence.items, sequence.period, sequence.starts)):
            np.save(self.output(name), values)

    def drop_sequence(self) -> None:
        """Forget the order an earlier run left, when this run's split writes none."""
        for name in SEQUENCE_FILES:
            self.path(name).unlink(missing_ok=True)

    def load_sequence(self) -> Sequence | None:
        """The listens in order, memory-mapped (read a chunk at a time), or None if none was saved."""
        items, period, starts = (self.path(name) for name in SEQUENCE_FILES)
        if not starts.exists():
            return None
        return Sequence(np.load(items, mmap_mode="r"), np.load(period, mmap_mode="r"), np.load(starts))

    def save_split(self, report: SplitReport) -> None:
        self.save_report("split.json", report)

    def load_split(self) -> SplitReport:
        return SplitReport.model_validate(self.load_json("split.json", "split"))

    # --- tune and ranker -----------------------------------------------------------------------
    def save_tuning(self, report: TuningReport) -> None:
        self.save_report("tuning.json", report)

    def load_tuning(self) -> TuningReport:
        return TuningReport.model_validate(self.load_json("tuning.json", "tune"))

    def save_source_state(self, cutoff: Cutoff, source: str, state: dict[str, np.ndarray]) -> None:
        """What a source fit at `cutoff` needs to be brought forward to a later one."""
        # numpy's stub matches **kwds against `allow_pickle: bool` too; these keys are array names
        np.savez(self.output(f"fitted/{cutoff}/{source}.npz"), **state)  # type: ignore[arg-type]

    def load_source_state(self, cutoff: Cutoff, source: str, made_by: str) -> dict[str, np.ndarray]:
        with np.load(self.require(f"fitted/{cutoff}/{source}.npz", made_by)) as stored:
            return {name: stored[name] for name in stored.files}

    def ranker_model_path(self, existing: bool = False) -> Path:
        """Where the ranker model is saved; with `existing`, an error if it has not been made."""
        return self.require("ranker.cbm", "ranker") if existing else self.output("ranker.cbm")

    def save_ranker_report(self, report: RankerReport) -> None:
        self.save_report("ranker.json", report)

    def load_ranker_report(self) -> RankerReport:
        return RankerReport.model_validate(self.load_json("ranker.json", "ranker"))

    # --- evaluate ------------------------------------------------------------------------------
    def save_similar(self, report: SimilarReport) -> None:
        self.save_report("similar.json", report)

    def load_similar(self) -> SimilarReport:
        return SimilarReport.model_validate(self.load_json("similar.json", "evaluate"))

    def metrics_path(self) -> Path:
        return self.path(schema.METRICS_FILE)

    def save_metrics(self, report: MetricsReport) -> None:
        self.save_report(schema.METRICS_FILE, report)

    def load_metrics(self) -> MetricsReport:
        return MetricsReport.model_validate(self.load_json(schema.METRICS_FILE, "evaluate"))

    # --- json ----------------------------------------------------------------------------------
    def save_report(self, name: str, report: Report) -> None:
        self.save_json(name, report.as_json())

    def save_json(self, name: str, content: dict[str, Any]) -> None:
        self.output(name).write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")

    def load_json(self, name: str, made_by: str) -> dict[str, Any]:
        content: dict[str, Any] = json.loads(self.require(name, made_by).read_text())
        return content


def _load_counts(path: Path) -> sp.csr_matrix:
    return sp.load_npz(path).tocsr().astype(np.float32, copy=False)
