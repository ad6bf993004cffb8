"""What every stage receives: where the raw files are, the work folder, the parameters, where
the artifact set is published and the engine that runs the heavy steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from musicrec import schema
from musicrec.pipeline.content import ItemContent, read_item_content
from musicrec.pipeline.engine import LOCAL, Engine
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import PipelineSettings


@dataclass(frozen=True)
class StageContext:
    raw_dir: Path
    work: Workspace
    params: PipelineSettings
    artifacts: Path
    engine: Engine = LOCAL

    def item_content(self, items: IdIndex) -> ItemContent:
        """Main artist, album and genre of each catalog track, from the raw tracks.parquet."""
        return read_item_content(self.raw_dir / schema.TRACKS_FILE, items)
