"""What every stage receives: where the raw files are, the work folder, the parameters and where
the artifact set is published."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings


@dataclass(frozen=True)
class StageContext:
    raw_dir: Path
    work: Workspace
    params: PipelineSettings
    artifacts: Path
