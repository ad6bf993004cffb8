"""The web page's track search at full size: build time, memory, and the time a query takes.

Makes the full-size catalogue of the built-in generator (about a million tracks with names and
artists like "Neon River" by "Dj Velvet Storm"), writes its items.parquet as the pipeline's prepare
stage does, loads it as the recommendations service does and builds the search index. Then times
what `GET /search_tracks` does per request (index lookup plus the names of the results) for kinds of
queries a person types: one letter and a word's start match the most tracks, a typo none.
Real names are partly Cyrillic (two bytes a letter in UTF-8), so the same catalogue is measured
again with every letter of the titles and artists spelled in Cyrillic. Writes bench/results/search.md.

    python -m bench.search [--tracks 1000000] [--seed 42] [--per-kind 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import gc
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from bench.generate import HEAVY_LOCK
from bench.serving_report import code_version, machine_facts
from musicrec import schema
from musicrec.datasets.catalog import build_catalog
from musicrec.datasets.catalog_files import catalog_names_table, tracks_table
from musicrec.datasets.scales import get_scale
from musicrec.pipeline.prepare import PrepareReport, build_items
from musicrec.serving.catalog import TrackCatalog, load_catalog
from musicrec.serving.search import TrackSearch, build_search

log = logging.getLogger("bench.search")
RESULTS = Path(__file__).parent / "results" / "search.md"
K = 8  # results the page asks for
TARGET_MS = 50.0
LATIN = "abcdefghijklmnopqrstuvwxyz"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщ"  # one for each Latin letter, in order


@dataclass(frozen=True)
class Timing:
    kind: str
    queries: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_p99_ms: float  # CPU time of this process: what other jobs on the shared machine do not inflate
    found: float  # mean results per query


def make_items(folder: Path, tracks: int, seed: int) -> np.ndarray:
    """items.parquet of the generated catalogue in `folder`; returns the 100 most popular track ids."""
    rng = np.random.default_rng(seed)
    catalog = build_catalog(dataclasses.replace(get_scale("full"), tracks=tracks), rng)
    items = build_items(tracks_table(catalog, rng), catalog_names_table(catalog, rng), PrepareReport())
    pq.write_table(items, folder / schema.ITEMS_FILE)
    return catalog.track_ids[np.argsort(-catalog.track_weight, kind="stable")[:100]].astype(np.int32)


def cyrillic(folder: Path) -> None:
    """Rewrite items.parquet with every Latin letter of names and artists replaced by a Cyrillic one."""
    table = pq.read_table(folder / schema.ITEMS_FILE)
    table_map = str.maketrans(LATIN + LATIN.upper(), CYRILLIC + CYRILLIC.upper())
    names = pa.array([None if name is None else name.translate(table_map)
                      for name in table.column(schema.NAME).to_pylist()], pa.string())
    artists = pa.array([None if group is None else [artist.translate(table_map) for artist in group]
                        for group in table.column(schema.ARTISTS).to_pylist()], pa.list_(pa.string()))
    table = table.set_column(table.schema.get_field_index(schema.NAME), schema.NAME, names)
    table = table.set_column(table.schema.get_field_index(schema.ARTISTS), schema.ARTISTS, artists)
    pq.write_table(table, folder / schema.ITEMS_FILE)


def queries(catalog: TrackCatalog, per_kind: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """What people type: a title's start, a whole title, an artist, one letter, a typo."""
    rows = rng.choice(len(catalog), size=per_kind, replace=False)
    titles = [name for name in catalog.names.take(pa.array(rows)).to_pylist() if name]
    artist_lists = catalog.artists.take(pa.array(rows)).to_pylist()
    artists = [group[0] for group in artist_lists if group]
    letters = sorted({title[0].lower() for title in titles})
    misses = ["".join(rng.choice(list("qxzjvw"), size=7)) for _ in range(per_kind)]
    return {
        "start of a title (4 letters)": [title[:4] for title in titles],
        "whole title": titles,
        "title without its last two letters": [title[:-2] for title in titles],
        "artist name": artists,
        "one letter": (letters * (per_kind // max(len(letters), 1) + 1))[:per_kind],
        "no match (a typo)": misses,
    }


def time_queries(index: TrackSearch, catalog: TrackCatalog, kind: str, texts: list[str]) -> Timing:
    seconds, cpu_seconds, found = [], [], []
    for text in texts:
        started, cpu_started = time.perf_counter(), time.process_time()
        results = catalog.details(index.find(text, K))  # what the route does
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
        found.append(len(results))
    ms = np.array(seconds) * 1000
    cpu_ms = np.array(cpu_seconds) * 1000
    return Timing(kind, len(texts), float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                  float(ms.max()), float(np.percentile(cpu_ms, 99)), float(np.mean(found)))


def measure(folder: Path, popular: np.ndarray, per_kind: int, seed: int
            ) -> tuple[dict[str, float], list[Timing]]:
    catalog = load_catalog(folder)
    gc.collect()
    rss_before = psutil.Process().memory_info().rss
    started, cpu_started = time.perf_counter(), time.process_time()
    index = build_search(catalog, popular)
    built, built_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    facts = {"tracks": len(index), "build_s": built, "build_cpu_s": built_cpu,
             "index_mib": index.nbytes / 2**20,
             "words": len(index.vocabulary), "postings": len(index.postings),
             "text_mib": len(index.text) / 2**20,
             "rss_growth_mib": (psutil.Process().memory_info().rss - rss_before) / 2**20}
    rng = np.random.default_rng(seed)
    kinds = queries(catalog, per_kind, rng)
    timings = [time_queries(index, catalog, kind, texts) for kind, texts in kinds.items()]
    return facts, timings


def render(results: dict[str, tuple[dict[str, float], list[Timing]]], args: argparse.Namespace,
           load_before: str) -> str:
    lines = [
        "# Track search (the web page's search box) at full size",
        "",
        f"`python -m bench.search --tracks {args.tracks} --seed {args.seed} --per-kind {args.per_kind}` "
        f"on {machine_facts()}; code {code_version()};",
        f"load average before: {load_before}, after: {_load()}. A query is timed as `GET /search_tracks` "
        f"answers it, in process: `TrackSearch.find` for the best {K} plus their names (`TrackCatalog.details`); "
        "the HTTP round trip adds about a millisecond (tests/api/test_page.py runs the route itself).",
        "",
    ]
    for variant, (facts, timings) in results.items():
        worst = max(timing.max_ms for timing in timings)
        lines += [
            f"## {variant}",
            "",
            f"{facts['tracks']:,.0f} tracks, {facts['words']:,.0f} distinct words, {facts['postings']:,.0f} "
            f"postings; built in {facts['build_s']:.2f} s ({facts['build_cpu_s']:.2f} s CPU); "
            f"index {facts['index_mib']:.0f} MiB (text {facts['text_mib']:.0f} MiB); "
            f"process RSS grew {facts['rss_growth_mib']:.0f} MiB.",
            "",
            "| query | queries | p50 ms | p99 ms | max ms | p99 CPU ms | results (mean) |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *[f"| {t.kind} | {t.queries} | {t.p50_ms:.2f} | {t.p99_ms:.2f} | {t.max_ms:.2f} "
              f"| {t.cpu_p99_ms:.2f} | {t.found:.1f} |" for t in timings],
            "",
            f"Slowest query {worst:.1f} ms against the target of {TARGET_MS:.0f} ms: "
            f"{'PASS' if worst <= TARGET_MS else 'FAIL'}.",
            "",
        ]
    return "\n".join(lines)


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in psutil.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=get_scale("full").tracks)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--per-kind", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_before = _load()
    results = {}
    with open(HEAVY_LOCK, "a") as lock, tempfile.TemporaryDirectory(prefix="bench-search-") as work:
        fcntl.flock(lock, fcntl.LOCK_EX)  # heavy jobs on the shared machine take turns
        folder = Path(work)
        log.info("generating a catalogue of %d tracks", args.tracks)
        popular = make_items(folder, args.tracks, args.seed)
        log.info("measuring the generated names")
        results["Generated names (Latin letters)"] = measure(folder, popular, args.per_kind, args.seed)
        log.info("measuring the same names in Cyrillic")
        cyrillic(folder)
        results["The same names in Cyrillic (two bytes a letter)"] = measure(folder, popular, args.per_kind,
                                                                            args.seed)
    RESULTS.write_text(render(results, args, load_before) + "\n")
    log.info("wrote %s", RESULTS)
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
