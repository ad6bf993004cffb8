"""A small catalogue update: new tracks into the current artifact set, without a pipeline run.

Tracks released after the set was made are added to its `items.parquet`; every other file is kept as
it is (hard-linked where the disk allows, else copied), and the serving indexes and the manifest are
made again, as publishing makes them. The new set is then switched in like any other, so the running
services pick it up by hot reload: the features service gives each added track similar tracks by its
content (`musicrec.serving.content`: its album, artists, genres), and the recommendations service
names it and lets filters find it.

The update comes in the course's format: a folder with `tracks.parquet` (the new tracks) and
`catalog_names.parquet` (their names and those of their artists, albums and genres). A name the
update does not carry is looked up in the raw files the set was made from, when given (an artist
already in the catalogue need not be named again). Tracks the catalogue already has are left as they
are and counted. A later pipeline run makes the catalogue from its raw files again, so tracks meant
to stay belong in those too.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.artifacts import ArtifactSetWriter, current_set, read_manifest
from musicrec.datasets.raw import read_catalog_names, read_tracks
from musicrec.errors import RawDataError
from musicrec.pipeline.prepare import PrepareReport, build_items

log = logging.getLogger(__name__)

# Made again for the new set: the catalogue itself, and what is derived from every file.
_REMADE = {schema.ITEMS_FILE, schema.MANIFEST_FILE, schema.SERVING_INDEX_FOLDER}


@dataclass(frozen=True)
class CatalogUpdate:
    """What an update did: the tracks added, those the catalogue had already, the new set."""

    added: list[int]
    already_known: int
    set_name: str | None  # None: nothing to add, the current set is unchanged


def add_tracks(artifacts_path: Path, update_dir: Path, names_dir: Path | None = None) -> CatalogUpdate:
    """Add the tracks of `update_dir` (course format) to the set `artifacts_path` points to.

    Parameters
    ----------
    artifacts_path
        The current-set pointer (`[paths] artifacts`); switched to the new set when tracks are added.
    update_dir
        Folder with the update's `tracks.parquet` and `catalog_names.parquet`.
    names_dir
        Folder of raw course files whose `catalog_names.parquet`, when present, names what the update
        does not (usually `[paths] raw`).
    """
    _check_update_folder(update_dir)
    current = current_set(artifacts_path)
    names = read_catalog_names(update_dir)
    if names_dir is not None and (names_dir / schema.CATALOG_NAMES_FILE).is_file():
        names = pa.concat_tables([names, read_catalog_names(names_dir)])  # the update's own names first
    new_items = build_items(read_tracks(update_dir), names, PrepareReport())
    items_path = current / schema.ITEMS_FILE
    known = (pq.read_table(items_path, columns=schema.ITEMS_SCHEMA.names).cast(schema.ITEMS_SCHEMA)
             if items_path.is_file() else schema.ITEMS_SCHEMA.empty_table())
    known_ids = known.column(schema.ITEM_ID).combine_chunks()
    fresh = pc.invert(pc.is_in(new_items.column(schema.ITEM_ID), value_set=known_ids))
    added = new_items.filter(fresh)
    already_known = new_items.num_rows - added.num_rows
    if added.num_rows == 0:
        log.info("catalogue update %s: no track new to %s (%d known already)", update_dir, current.name,
                 already_known)
        return CatalogUpdate([], already_known, None)
    catalogue = pa.concat_tables([known, added])
    catalogue = catalogue.take(pc.sort_indices(catalogue, sort_keys=[(schema.ITEM_ID, "ascending")]))
    manifest = read_manifest(current) or {}
    added_ids = added.column(schema.ITEM_ID).to_pylist()
    parameters = {**manifest.get("parameters", {}),
                  "catalog_update": {"from_set": current.name, "tracks_added": len(added_ids)}}
    writer = ArtifactSetWriter(artifacts_path, inputs=update_dir, parameters=parameters)
    with writer as folder:
        _keep_files(current, folder)
        pq.write_table(catalogue, folder / schema.ITEMS_FILE)
    log.info("catalogue update %s: %d tracks added to %s as set %s (%d known already)", update_dir,
             len(added_ids), current.name, folder.name, already_known)
    return CatalogUpdate(added_ids, already_known, folder.name)


def _keep_files(source: Path, target: Path) -> None:
    """Every file of the set `source` but those made again, hard-linked into `target` (or copied)."""
    for entry in source.iterdir():
        if entry.name in _REMADE:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, target / entry.name)


def _link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """A set's files never change once published, so two sets may share them."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _check_update_folder(update_dir: Path) -> None:
    """Refuse a folder that is not an update before any work is done, naming what is missing."""
    missing = [name for name in (schema.TRACKS_FILE, schema.CATALOG_NAMES_FILE)
               if not (update_dir / name).is_file()]
    if missing:
        raise RawDataError(f"{update_dir}: a catalogue update needs {' and '.join(missing)} "
                           "(the course's formats: the new tracks and their names)")
