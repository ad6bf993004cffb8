"""Full-size artifacts in the contract schemas, made in seconds, for the serving benchmark.

The serving benchmark needs the real data's artifact sizes (1.37M users x 50 recommendations, 960k
tracks x 10 similar, ~1M named tracks) without running the pipeline at full size first. Which ids
appear does not change the cost of the services' lookups, so the content here is random but valid:
sparse track ids up to ~1e8 like the real ones, distinct recommendations per user, no self-pairs,
scores descending by rank, files sorted as the contract says. Seeded, so runs are comparable.

    python -m bench.synthetic_artifacts --out DIR [--users 1370000] [--items 1000000] [--seed 42]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from musicrec import schema
from musicrec.manifest import build_manifest, write_manifest
from musicrec.serving.index_files import write_serving_indexes

log = logging.getLogger("bench.synthetic_artifacts")

USERS_PER_CHUNK = 100_000
ARTISTS = 200_000
ALBUMS = 400_000
GENRES = 150


def track_ids(rng: np.random.Generator, items: int) -> np.ndarray:
    """Sorted, unique, sparse ids (mean gap 100, so up to ~1e8 for 1M tracks)."""
    return np.cumsum(rng.integers(1, 200, size=items, dtype=np.int64)).astype(np.int32)


def coprime_strides(rng: np.random.Generator, count: int, modulus: int) -> np.ndarray:
    """Per-row strides coprime to `modulus`: start + k * stride (mod modulus) never repeats for
    k < modulus, which gives distinct items per row without a per-row Python loop."""
    strides = rng.integers(1, modulus, size=count, dtype=np.int64)
    shared = np.flatnonzero(np.gcd(strides, modulus) != 1)
    while len(shared):  # redraw only those sharing a factor; the rest shrinks geometrically
        strides[shared] = rng.integers(1, modulus, size=len(shared), dtype=np.int64)
        shared = shared[np.gcd(strides[shared], modulus) != 1]
    return strides


def spread(starts: np.ndarray, strides: np.ndarray, width: int, modulus: int, first: int = 0) -> np.ndarray:
    """Row r gets indices (starts[r] + k * strides[r]) % modulus for k = first .. first + width - 1."""
    steps = np.arange(first, first + width, dtype=np.int64)
    return (starts[:, None] + steps[None, :] * strides[:, None]) % modulus


def descending_scores(rng: np.random.Generator, rows: int, width: int) -> np.ndarray:
    """Scores that fall with rank, at a different level per row."""
    offsets = rng.random(rows, dtype=np.float32)[:, None] + 1.0
    return (1.0 / (np.arange(width, dtype=np.float32)[None, :] + offsets)).ravel()


def write_recommendations(
    path: Path, rng: np.random.Generator, ids: np.ndarray, users: int, per_user: int
) -> int:
    """Written in chunks of users, so memory stays small at 68M rows."""
    ranks = np.arange(1, per_user + 1, dtype=np.int32)
    with pq.ParquetWriter(path, schema.RECOMMENDATIONS_SCHEMA) as writer:
        for first in tqdm(range(0, users, USERS_PER_CHUNK), desc="recommendations", unit="chunk"):
            user_ids = np.arange(first, min(first + USERS_PER_CHUNK, users), dtype=np.int32)
            count = len(user_ids)
            starts = rng.integers(0, len(ids), size=count, dtype=np.int64)
            items = ids[spread(starts, coprime_strides(rng, count, len(ids)), per_user, len(ids)).ravel()]
            writer.write_table(pa.Table.from_arrays(
                [np.repeat(user_ids, per_user), items, descending_scores(rng, count, per_user),
                 np.tile(ranks, count)],
                schema=schema.RECOMMENDATIONS_SCHEMA))
    return users * per_user


def write_similar(path: Path, rng: np.random.Generator, ids: np.ndarray, sources: int, per_item: int) -> int:
    """`sources` tracks (sorted) with `per_item` distinct neighbours each; k starts at 1: no self-pairs."""
    source_index = np.sort(rng.choice(len(ids), size=sources, replace=False))
    neighbours = spread(source_index, coprime_strides(rng, sources, len(ids)), per_item, len(ids), first=1)
    table = pa.Table.from_arrays(
        [np.repeat(ids[source_index], per_item), ids[neighbours.ravel()],
         descending_scores(rng, sources, per_item)],
        schema=schema.SIMILAR_SCHEMA)
    pq.write_table(table, path)
    return table.num_rows


def prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    """'Artist 17'-style names, built in Arrow rather than as a million Python strings."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def name_lists(rng: np.random.Generator, rows: int, pool: pa.Array, most: int) -> pa.Array:
    """A list of 1..`most` names from `pool` per row."""
    lengths = rng.integers(1, most + 1, size=rows)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = pool.take(pa.array(rng.integers(0, len(pool), size=int(offsets[-1]))))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def write_items(path: Path, rng: np.random.Generator, ids: np.ndarray) -> int:
    table = pa.Table.from_arrays(
        [ids, prefixed("Track ", ids),
         name_lists(rng, len(ids), prefixed("Artist ", np.arange(min(ARTISTS, len(ids)))), 2),
         name_lists(rng, len(ids), prefixed("Album ", np.arange(min(ALBUMS, len(ids)))), 1),
         name_lists(rng, len(ids), prefixed("Genre ", np.arange(GENRES)), 2)],
        schema=schema.ITEMS_SCHEMA)
    pq.write_table(table, path)
    return table.num_rows


def write_top_popular(path: Path, rng: np.random.Generator, ids: np.ndarray, top: int) -> int:
    chosen = ids[rng.choice(len(ids), size=top, replace=False)]
    listens = np.sort(rng.integers(1_000, 100_000, size=top))[::-1].astype(np.int64)
    table = pa.Table.from_arrays(
        [chosen, np.arange(1, top + 1, dtype=np.int32), listens, listens // 3, prefixed("Track ", chosen)],
        schema=schema.TOP_POPULAR_SCHEMA)
    pq.write_table(table, path)
    return table.num_rows


def generate(out: Path, users: int, items: int, similar_items: int, recommendations: int = 50,
             similar: int = 10, top: int = 100, seed: int = 42, manifest: bool = True) -> dict[str, int]:
    """Write the four artifacts (and a manifest) into `out`; returns rows per file."""
    if similar_items > items or recommendations >= items or similar >= items:
        raise ValueError("need more items than similar sources, recommendations per user and neighbours")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = track_ids(rng, items)
    steps = {
        schema.ITEMS_FILE: lambda path: write_items(path, rng, ids),
        schema.TOP_POPULAR_FILE: lambda path: write_top_popular(path, rng, ids, top),
        schema.SIMILAR_FILE: lambda path: write_similar(path, rng, ids, similar_items, similar),
        schema.RECOMMENDATIONS_FILE:
            lambda path: write_recommendations(path, rng, ids, users, recommendations),
    }
    rows = {}
    for name, write in steps.items():
        started = time.perf_counter()
        rows[name] = write(out / name)
        log.info("%s: %d rows, %.0f MB in %.1f s", name, rows[name],
                 (out / name).stat().st_size / 1e6, time.perf_counter() - started)
    if manifest:  # a published set: serving indexes too, as ArtifactSetWriter writes them
        write_serving_indexes(out, out / schema.SERVING_INDEX_FOLDER)
        write_manifest(out, build_manifest(out, parameters={"generator": "bench.synthetic_artifacts",
                                                            "seed": seed, "users": users, "items": items}))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the artifacts into")
    parser.add_argument("--users", type=int, default=1_370_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--similar-items", type=int, default=None,
                        help="tracks with neighbours (default 96%%)")
    parser.add_argument("--recommendations", type=int, default=50, help="per user")
    parser.add_argument("--similar", type=int, default=10, help="neighbours per track")
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-manifest", action="store_true",
                        help="a course-style folder: no manifest.json, no serving indexes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    generate(args.out, args.users, args.items, args.similar_items or int(args.items * 0.96),
             args.recommendations, args.similar, args.top, args.seed, not args.no_manifest)
    log.info("artifacts in %s made in %.1f s", args.out, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
