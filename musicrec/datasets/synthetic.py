"""Write a realistic synthetic data set in the raw course format, at any scale, deterministically.

The catalogue is built in memory (1M tracks is small); listens are generated chunk by chunk of
users and streamed to `interactions.parquet`, so memory stays bounded at the full 222M listens.
Each chunk has its own random stream derived from the seed, so the output depends only on
(scale, seed). Files are written under a temporary name and renamed when complete, so a crash
never leaves a file that looks finished (the Makefile treats `interactions.parquet` as done).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from musicrec import schema
from musicrec.datasets.catalog import build_catalog
from musicrec.datasets.catalog_files import catalog_names_table, tracks_table
from musicrec.datasets.listening import GeneratedListens, ListeningModel
from musicrec.datasets.scales import Scale

log = logging.getLogger(__name__)

FIRST_DAY = dt.date(2022, 1, 1)
DUPLICATE_SHARE = 0.0002  # exact duplicate interaction rows, as in real exports
ROW_GROUP_SIZE = 1_000_000
_EPOCH_DAY = (FIRST_DAY - dt.date(1970, 1, 1)).days


@dataclass(frozen=True)
class GenerateReport:
    """What was written, for the log line and the benchmark."""

    out_dir: Path
    tracks: int
    catalog_names: int
    interactions: int
    users: int
    seconds: float

    def summary(self) -> str:
        return (
            f"wrote {self.interactions:,} listens of {self.users:,} users, {self.tracks:,} tracks and "
            f"{self.catalog_names:,} names to {self.out_dir} in {self.seconds:.1f} s"
        )


def _interactions_table(
    listens: GeneratedListens, track_ids: np.ndarray, first_user: int, rng: np.random.Generator
) -> pa.Table:
    """The chunk in the course schema, with a few exact duplicate rows like real exports."""
    copies = np.where(rng.random(listens.user.size) < DUPLICATE_SHARE, 2, 1)
    return pa.table(
        {
            schema.USER_ID: pa.array(np.repeat(listens.user + first_user, copies).astype(np.int32)),
            schema.TRACK_ID: pa.array(np.repeat(track_ids[listens.track], copies).astype(np.int32)),
            schema.TRACK_SEQ: pa.array(np.repeat(listens.seq, copies).astype(np.int16)),
            schema.STARTED_AT: pa.array(
                np.repeat(listens.day + _EPOCH_DAY, copies).astype(np.int32), type=pa.int32()
            ).cast(pa.date32()),
        },
        schema=schema.INTERACTIONS_SCHEMA,
    )


def _write_atomically(table: pa.Table, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial, row_group_size=ROW_GROUP_SIZE)
    partial.replace(path)


def _write_interactions(
    model: ListeningModel, scale: Scale, seed: int, path: Path, track_ids: np.ndarray
) -> tuple[int, int]:
    """Stream all chunks of users into `path`; returns (rows, users with listens)."""
    partial = path.with_name(path.name + ".partial")
    rows = users = 0
    starts = range(0, scale.users, scale.users_per_chunk)
    with pq.ParquetWriter(partial, schema.INTERACTIONS_SCHEMA) as writer:
        progress = tqdm(starts, desc=f"listens ({scale.name}, {scale.shape.name})", unit="chunk")
        for chunk_number, first_user in enumerate(progress):
            rng = np.random.default_rng([seed, 2, chunk_number])
            count = min(scale.users_per_chunk, scale.users - first_user)
            listens = model.chunk(count, rng)
            table = _interactions_table(listens, track_ids, first_user, rng)
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
            rows += table.num_rows
            users += int(np.unique(listens.user).size)
    partial.replace(path)
    return rows, users


def generate(out_dir: Path, scale: Scale, seed: int) -> GenerateReport:
    """Write tracks.parquet, catalog_names.parquet and interactions.parquet for `scale` into `out_dir`."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = build_catalog(scale, np.random.default_rng([seed, 0]))
    files_rng = np.random.default_rng([seed, 1])
    tracks = tracks_table(catalog, files_rng)
    names = catalog_names_table(catalog, files_rng)
    _write_atomically(tracks, out_dir / schema.TRACKS_FILE)
    _write_atomically(names, out_dir / schema.CATALOG_NAMES_FILE)
    model = ListeningModel(catalog, scale)
    interactions = out_dir / schema.INTERACTIONS_FILE
    rows, users = _write_interactions(model, scale, seed, interactions, catalog.track_ids)
    report = GenerateReport(
        out_dir=out_dir,
        tracks=tracks.num_rows,
        catalog_names=names.num_rows,
        interactions=rows,
        users=users,
        seconds=time.perf_counter() - started,
    )
    log.info("%s", report.summary())
    return report
