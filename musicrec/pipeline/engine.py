"""Where the pipeline's heavy steps run: in this process (`LocalEngine`) or on Spark (`SparkEngine`).

`[pipeline] engine` (or `python -m musicrec pipeline --engine`) picks one; every stage is the same
code either way. An engine does the steps whose cost grows with the listens and leaves the same
work-folder files, so the stages after it cannot tell which one ran:

- `prepare`: the raw course files -> items.parquet and the cleaned events.parquet, with the counts
  of what was dropped and why;
- `split`: events.parquet -> the three histories and the target and test pairs (workspace.py);
- `registry`: the candidate source classes; the Spark engine's ALS, item-kNN and popular sources fit on Spark
  and hand their factors and counts to the same list-making code.

Everything bounded by design (EASE on its pool of tracks, CatBoost on its sample of users, the
tuning loop, the lists) runs on the driver with either engine. The local engine never imports
pyspark: `engine_choice.open_engine` imports the Spark engine only when it is asked for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from musicrec.pipeline import split
from musicrec.pipeline.prepare import PrepareReport, prepare
from musicrec.pipeline.sources import SOURCES, CandidateSource, chosen_sources
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext


class Engine(ABC):
    """The heavy steps of the pipeline, done one way."""

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[CandidateSource]]] = SOURCES

    @abstractmethod
    def prepare(self, raw_dir: Path, work: Workspace) -> PrepareReport:
        """Write items.parquet and events.parquet into the work folder; count what was dropped."""

    @abstractmethod
    def split(self, context: StageContext) -> dict[str, Any]:
        """Write the histories, pairs and split.json into the work folder; returns the summary."""

    def sources(self, settings: PipelineSettings) -> dict[str, type[CandidateSource]]:
        """The chosen candidate sources, as this engine fits them."""
        return chosen_sources(settings, self.registry)

    def close(self) -> None:  # noqa: B027 (a hook with a default, not abstract: most engines hold nothing)
        """Release what the engine holds (a Spark session); the local engine holds nothing."""


class LocalEngine(Engine):
    """Everything in this process, with numpy, scipy and pyarrow."""

    name = "local"

    def prepare(self, raw_dir: Path, work: Workspace) -> PrepareReport:
        return prepare(raw_dir, work.items_output(), work.events_output())

    def split(self, context: StageContext) -> dict[str, Any]:
        return split.split_locally(context)


LOCAL = LocalEngine()
