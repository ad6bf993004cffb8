"""The serving indexes as files the services map into memory instead of decoding parquet.

Decoding parquet gives every process a private copy of the indexes and takes seconds. The same
arrays saved as `.npy` (and the names as uncompressed Arrow IPC) are mapped with
`np.load(mmap_mode="r")` and `pyarrow.memory_map`: opening them takes milliseconds, the pages are
read on first use, and they live in the page cache, shared by every replica on the machine and by
the old and new set during a reload. Parquet stays the exchange format; these files
are derived from it when a set is published (or once for a folder that lacks them).

Layout, in a `serving/` folder beside the parquet files:

    serving/format.json                          {"format": 5}: which layout the files follow
    serving/recommendations/{keys,offsets,items,scores,rows_by_key}.npy   a RankedLists
    serving/recommendations/sources.npy, sources.json   int8 candidate source per row and the names
                                                 (only when recommendations.parquet has `source`)
    serving/similar/{keys,offsets,items,scores,rows_by_key}.npy
    serving/top_popular.npy                      track ids by rank
    serving/items.arrow                          item_id, name, artists, genres (and albums, when the
                                                 set has them) sorted by item_id
    serving/search/text.bin, vocabulary.arrow, {starts,title_bytes,item_ids,word_offsets,postings}.npy
                                                 the page's TrackSearch
"""

from __future__ import annotations

import json
import logging
import mmap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from musicrec import schema
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.catalog import TrackCatalog, load_catalog
from musicrec.serving.columns import artifact_error, column_values
from musicrec.serving.indexes import RankedLists
from musicrec.serving.reasons import SOURCE_CODE, OfflineSources, load_offline_sources
from musicrec.serving.search import TrackSearch, build_search

log = logging.getLogger(__name__)

# 2: items.arrow has genres; 3: the search index is saved; 4: with its words; 5: offline sources
INDEX_FORMAT = 5
FORMAT_FILE = "format.json"
RECOMMENDATIONS = "recommendations"
SIMILAR = "similar"
TOP_POPULAR = "top_popular.npy"
ITEMS = "items.arrow"
SEARCH = "search"
_SEARCH_TEXT = "text.bin"
_SEARCH_ARRAYS = ("starts", "title_bytes", "item_ids", "word_offsets", "postings")
_SEARCH_VOCABULARY = "vocabulary.arrow"
_ARRAYS = ("keys", "offsets", "items", "scores")
# The parquet artifacts that have a mappable form.
SOURCES = (schema.RECOMMENDATIONS_FILE, schema.SIMILAR_FILE, schema.TOP_POPULAR_FILE, schema.ITEMS_FILE)
_DIRECT_TABLE = "rows_by_key"
_SOURCE_CODES = "sources.npy"
_SOURCE_NAMES = "sources.json"


# --- writing -------------------------------------------------------------------------------------
def _save_ranked_lists(ranked: RankedLists, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in _ARRAYS:
        np.save(folder / f"{name}.npy", getattr(ranked, name))
    if ranked.rows_by_key is not None:
        np.save(folder / f"{_DIRECT_TABLE}.npy", ranked.rows_by_key)


def _save_offline_sources(sources: OfflineSources, folder: Path) -> None:
    if sources.codes is None:  # recommendations.parquet has no `source` column
        return
    np.save(folder / _SOURCE_CODES, sources.codes)
    (folder / _SOURCE_NAMES).write_text(json.dumps({"names": list(sources.names)}) + "\n")


def _save_catalog(catalog: TrackCatalog, path: Path) -> None:
    columns = [pa.array(catalog.item_ids), catalog.names, catalog.artists, catalog.genres]
    names = [schema.ITEM_ID, schema.NAME, schema.ARTISTS, schema.GENRES]
    if catalog.albums is not None:
        columns.append(catalog.albums)
        names.append(schema.ALBUMS)
    _save_arrow(pa.record_batch(columns, names=names), path)


def _save_arrow(batch: pa.RecordBatch, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)  # one uncompressed batch: every column maps without a copy


def _save_search(search: TrackSearch, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _SEARCH_TEXT).write_bytes(search.text)
    _save_arrow(pa.record_batch([search.vocabulary], names=["word"]), folder / _SEARCH_VOCABULARY)
    for name in _SEARCH_ARRAYS:
        np.save(folder / f"{name}.npy", getattr(search, name))


def write_serving_indexes(set_folder: Path, out: Path) -> list[str]:
    """Derive the mappable indexes of every artifact `set_folder` has; returns the artifacts converted.

    Reads each parquet artifact with the same loaders that check its contract (sorted keys, no
    nulls), so a set that could not be served is refused here, when it is published.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    converted = []
    if (set_folder / schema.RECOMMENDATIONS_FILE).is_file():
        personal = load_recommendations(set_folder)
        _save_ranked_lists(personal, out / RECOMMENDATIONS)
        _save_offline_sources(load_offline_sources(set_folder, personal), out / RECOMMENDATIONS)
        converted.append(schema.RECOMMENDATIONS_FILE)
    if (set_folder / schema.SIMILAR_FILE).is_file():
        _save_ranked_lists(load_similar(set_folder), out / SIMILAR)
        converted.append(schema.SIMILAR_FILE)
    if (set_folder / schema.TOP_POPULAR_FILE).is_file():
        np.save(out / TOP_POPULAR, load_top_popular(set_folder))
        converted.append(schema.TOP_POPULAR_FILE)
    if (set_folder / schema.ITEMS_FILE).is_file():
        catalog = load_catalog(set_folder)
        _save_catalog(catalog, out / ITEMS)
        popular = load_top_popular(set_folder) if schema.TOP_POPULAR_FILE in converted else np.empty(0, np.int32)
        _save_search(build_search(catalog, popular), out / SEARCH)
        converted.append(schema.ITEMS_FILE)
    (out / FORMAT_FILE).write_text(json.dumps({"format": INDEX_FORMAT}) + "\n")
    pa.default_memory_pool().release_unused()
    log.info("serving indexes of %s (%s) written to %s in %.1f s", set_folder.name, ", ".join(converted),
             out, time.perf_counter() - started)
    return converted


def has_serving_indexes(folder: Path) -> bool:
    """Whether `folder` holds serving indexes of the layout this code reads."""
    try:
        return bool(json.loads((folder / FORMAT_FILE).read_text()).get("format") == INDEX_FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


# --- mapping -------------------------------------------------------------------------------------
def _map_array(path: Path) -> np.ndarray:
    """A read-only ndarray over the file's pages (a plain view of the memmap: cheaper to slice)."""
    if not path.is_file():
        raise artifact_error(path, "file is missing")
    try:
        return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    except (OSError, ValueError) as exc:  # a truncated file does not map: its header asks for more
        raise artifact_error(path, f"cannot be mapped ({exc})") from None


def map_ranked_lists(folder: Path) -> RankedLists:
    """Map a RankedLists saved by `write_serving_indexes`, checking its arrays fit together."""
    arrays = {name: _map_array(folder / f"{name}.npy") for name in _ARRAYS}
    table_path = folder / f"{_DIRECT_TABLE}.npy"
    table = _map_array(table_path) if table_path.exists() else None
    keys, offsets = arrays["keys"], arrays["offsets"]
    rows = int(offsets[-1]) if len(offsets) else -1
    if len(offsets) != len(keys) + 1 or rows != len(arrays["items"]) or rows != len(arrays["scores"]):
        raise artifact_error(folder, f"arrays do not fit together ({len(keys)} keys, {len(offsets)} offsets, "
                                     f"{len(arrays['items'])} items, {len(arrays['scores'])} scores)")
    return RankedLists(keys=keys, offsets=offsets, items=arrays["items"], scores=arrays["scores"],
                       rows_by_key=table)


def map_offline_sources(folder: Path, personal: RankedLists) -> OfflineSources:
    """The candidate sources saved beside the mapped `personal` lists; none if the set has no column."""
    codes_path = folder / _SOURCE_CODES
    if not codes_path.exists():
        return OfflineSources(personal)
    codes = _map_array(codes_path)
    names_path = folder / _SOURCE_NAMES
    try:
        names = json.loads(names_path.read_text())["names"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise artifact_error(names_path, f"cannot be read ({exc!r})") from None
    if codes.dtype != SOURCE_CODE or codes.ndim != 1 or len(codes) != personal.rows:
        raise artifact_error(codes_path, f"{codes.dtype} {codes.shape} sources do not fit "
                                         f"{personal.rows} recommendations")
    return OfflineSources(personal, codes, tuple(str(name) for name in names))


def map_top_popular(folder: Path) -> np.ndarray:
    return _map_array(folder / TOP_POPULAR)


def _map_arrow(path: Path) -> pa.RecordBatch:
    try:
        return pa.ipc.open_file(pa.memory_map(str(path), "r")).get_batch(0)
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"cannot be mapped ({exc})") from None


def map_catalog(folder: Path) -> TrackCatalog:
    """The names, zero-copy from the mapped Arrow file; empty when the set had no items.parquet."""
    path = folder / ITEMS
    if not path.exists():
        return TrackCatalog.empty()
    batch = _map_arrow(path)
    albums = batch.column(schema.ALBUMS) if schema.ALBUMS in batch.schema.names else None  # older sets: none
    return TrackCatalog(item_ids=column_values(batch.column(schema.ITEM_ID)),
                   names=batch.column(schema.NAME), artists=batch.column(schema.ARTISTS),
                   genres=batch.column(schema.GENRES), albums=albums)


def map_search(folder: Path) -> TrackSearch | None:
    """The page's search index, its text an mmap (searched in C like bytes); None if not saved."""
    search = folder / SEARCH
    if not search.is_dir():
        return None
    arrays = {name: _map_array(search / f"{name}.npy") for name in _SEARCH_ARRAYS}
    path = search / _SEARCH_TEXT
    try:
        with path.open("rb") as handle:
            text: bytes | mmap.mmap = (mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                                      if path.stat().st_size else b"")
    except OSError as exc:
        raise artifact_error(path, f"cannot be mapped ({exc})") from None
    if int(arrays["starts"][-1]) != len(text) or len(arrays["starts"]) != len(arrays["item_ids"]) + 1:
        raise artifact_error(search, "search text and its line starts do not fit together")
    vocabulary = _map_arrow(search / _SEARCH_VOCABULARY).column(0)
    offsets = arrays["word_offsets"]
    if len(offsets) != len(vocabulary) + 1 or int(offsets[-1]) != len(arrays["postings"]):
        raise artifact_error(search, "search words and their postings do not fit together")
    return TrackSearch(text=text, vocabulary=vocabulary, **arrays)
