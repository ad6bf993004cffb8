"""Open an artifact set's serving indexes: mapped from the set, from a cache beside it, or decoded.

A set written by `ArtifactSetWriter` (the pipeline's publish) or fetched from S3 carries its indexes
in `serving/` (see `musicrec.serving.index_files`), listed in its manifest. A folder without them
(the course project's three parquet files, or a set made before they existed) is converted once into
`serving_cache/<folder name>-<fingerprint>/` beside it, with a manifest of its own, under a file
lock so replicas starting together convert it once; the fingerprint (names, sizes and times of the
parquet files) changes when the files do. Where that folder cannot be written, the parquet files
are decoded into private memory, as before, and a log line says so.

Checking a set is split in two, because hashing every mapped file would take longer than the
whole start-up: `verify_sizes` (microseconds: every mapped file has the
size its manifest records) runs before the arrays are mapped, `verify_checksums` (sha256) later.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicrec import schema
from musicrec.artifacts import SERVING_CACHE, verify_artifact_set, verify_sizes
from musicrec.manifest import build_manifest, fingerprint_inputs, read_manifest, write_manifest
from musicrec.serving import index_files
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.catalog import TrackCatalog, load_catalog
from musicrec.serving.indexes import RankedLists
from musicrec.serving.reasons import OfflineSources, load_offline_sources
from musicrec.serving.search import TrackSearch, build_search

log = logging.getLogger(__name__)

# Where each artifact's mapped files are, inside `serving/`: a folder of arrays or one file.
_MAPPED = {
    schema.RECOMMENDATIONS_FILE: (f"{index_files.RECOMMENDATIONS}/",),
    schema.SIMILAR_FILE: (f"{index_files.SIMILAR}/",),
    schema.TOP_POPULAR_FILE: (index_files.TOP_POPULAR,),
    schema.ITEMS_FILE: (index_files.ITEMS, f"{index_files.SEARCH}/"),
}


@dataclass(frozen=True)
class SetIndexes:
    """One set's indexes for the artifacts a service uses.

    Attributes
    ----------
    set_folder : the artifact set (parquet files, maybe manifest.json).
    root : the folder holding manifest.json and `serving/` with the mapped files, or None when the
        parquet files are decoded instead.
    used : the artifact files (parquet names) the service reads and that the set has.
    """

    set_folder: Path
    root: Path | None
    used: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.set_folder.name

    @property
    def mapped(self) -> bool:
        return self.root is not None

    def _serving(self) -> Path:
        assert self.root is not None
        return self.root / schema.SERVING_INDEX_FOLDER

    def checked_files(self) -> list[str]:
        """Files (relative to `root`, or to the set when decoding) whose checksums vouch for the data."""
        if self.root is None:
            return list(self.used)
        manifest = read_manifest(self.root) or {"files": {}}
        prefixes = tuple(f"{schema.SERVING_INDEX_FOLDER}/{part}" for name in self.used for part in _MAPPED[name])
        return sorted(name for name in manifest["files"] if name.startswith(prefixes))

    def verify_sizes(self) -> None:
        if self.root is not None:
            verify_sizes(self.root, self.checked_files())

    def verify_checksums(self) -> None:
        """sha256 of every file this service reads; ArtifactError naming the first that differs."""
        verify_artifact_set(self.root or self.set_folder, checksums=self.checked_files())

    def recommendations(self) -> RankedLists:
        if self.root is None:
            return load_recommendations(self.set_folder)
        return index_files.map_ranked_lists(self._serving() / index_files.RECOMMENDATIONS)

    def offline_sources(self, personal: RankedLists) -> OfflineSources:
        """Which candidate source proposed each row of `personal` (the set's recommendations)."""
        if self.root is None:
            return load_offline_sources(self.set_folder, personal)
        return index_files.map_offline_sources(self._serving() / index_files.RECOMMENDATIONS, personal)

    def similar(self) -> RankedLists:
        if self.root is None:
            return load_similar(self.set_folder)
        return index_files.map_ranked_lists(self._serving() / index_files.SIMILAR)

    def top_popular(self) -> np.ndarray:
        if self.root is None:
            return load_top_popular(self.set_folder)
        return index_files.map_top_popular(self._serving())

    def catalog(self) -> TrackCatalog:
        if schema.ITEMS_FILE not in self.used:
            return TrackCatalog.empty()
        if self.root is None:
            return load_catalog(self.set_folder)
        return index_files.map_catalog(self._serving())

    def search(self, catalog: TrackCatalog, popular: np.ndarray) -> TrackSearch:
        """The web page's track search: mapped when saved with the set, else built from `catalog`."""
        mapped = index_files.map_search(self._serving()) if self.root is not None else None
        return mapped if mapped is not None else build_search(catalog, popular)


def open_set_indexes(set_folder: Path, required: Sequence[str], optional: Sequence[str] = ()) -> SetIndexes:
    """The indexes of `required` (must exist) and `optional` artifacts, size-checked, ready to map.

    Raises ArtifactError naming the file when a required artifact is missing or a mapped file has
    the wrong size.
    """
    verify_artifact_set(set_folder, required=required, checksums=[])
    used = (*required, *(name for name in optional if (set_folder / name).is_file()))
    own = set_folder / schema.SERVING_INDEX_FOLDER
    if index_files.has_serving_indexes(own) and read_manifest(set_folder) is not None:
        root: Path | None = set_folder
    else:
        root = _cached_conversion(set_folder)
    indexes = SetIndexes(set_folder, root, used)
    indexes.verify_sizes()
    return indexes


def cache_folder(set_folder: Path) -> Path:
    """Where a folder without serving indexes gets them: beside it, named after its parquet files."""
    fingerprint = fingerprint_inputs(set_folder)["fingerprint"][:16]
    name = f"{set_folder.name}-v{index_files.INDEX_FORMAT}-{fingerprint}"
    return set_folder.parent / SERVING_CACHE / name


def _cached_conversion(set_folder: Path) -> Path | None:
    """The cache folder for `set_folder`, converted now if it is not there yet; None if unwritable."""
    target = cache_folder(set_folder)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a replica starting at the same time waits here
            if not index_files.has_serving_indexes(target / schema.SERVING_INDEX_FOLDER):
                _convert(set_folder, target)
            else:
                log.info("serving indexes of %s from %s", set_folder, target)
        return target
    except OSError as exc:  # read-only folder, disk full
        log.warning("cannot write serving indexes beside %s (%s): decoding the parquet files into "
                    "private memory instead", set_folder, exc)
        return None


def _convert(set_folder: Path, target: Path) -> None:
    log.info("%s has no serving indexes: converting it once into %s", set_folder, target)
    verify_artifact_set(set_folder, checksums=index_files.SOURCES)  # convert intact files only
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        index_files.write_serving_indexes(set_folder, partial / schema.SERVING_INDEX_FOLDER)
        write_manifest(partial, build_manifest(partial, inputs=set_folder,
                                               parameters={"serving_indexes_of": str(set_folder)}))
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
