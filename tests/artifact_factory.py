"""A tiny, hand-checkable artifact set in the contract schemas, for serving tests.

Every value is written out below so a test's expected answer can be worked out by reading this file:

- users 1, 2 and 5 have personal recommendations; every other user is unknown;
- tracks 10, 11, 20 and 40 have similar tracks; 99 is in no artifact at all;
- top popular is 30, 10, 20, 40, 41 (ranks 1..5);
- items.parquet names tracks 10, 11, 12, 20, 21, 30, 40, 41 ("Track <id>") with artists.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema

# user -> [(item, score), ...] best first (rank 1, 2, ...)
RECOMMENDATIONS: dict[int, list[tuple[int, float]]] = {
    1: [(10, 0.9), (11, 0.8), (12, 0.7), (13, 0.6)],
    2: [(20, 0.95), (10, 0.5), (21, 0.25)],
    5: [(30, 0.75), (31, 0.5)],
}
# track -> [(similar track, score), ...] by score descending
SIMILAR: dict[int, list[tuple[int, float]]] = {
    10: [(11, 0.9), (12, 0.5), (40, 0.25)],
    11: [(10, 0.75), (41, 0.5)],
    20: [(21, 0.875), (42, 0.625)],
    40: [(41, 1.0), (10, 0.125)],
}
TOP_POPULAR: list[int] = [30, 10, 20, 40, 41]
# The serving options the expected answers in the tests are worked out for (the course rule), pinned
# so that tuning the defaults in config.ini does not change what these tests expect.
COURSE_RULE_ENV: dict[str, str] = {
    "MUSICREC_SERVING__ONLINE_HISTORY": "3",
    "MUSICREC_SERVING__SIMILAR_PER_LISTEN": "10",
    "MUSICREC_SERVING__ONLINE_MERGE": "max",
    "MUSICREC_SERVING__BLEND": "alternate",
    "MUSICREC_SERVING__FILTER_HEARD": "false",
}
ARTISTS: dict[int, list[str]] = {
    10: ["Artist A"],
    11: ["Artist A", "Artist B"],
    12: ["Artist B"],
    20: ["Artist C"],
    21: [],
    30: ["Artist D"],
    40: ["Artist E"],
    41: ["Artist E"],
}


def _write(table: pa.Table, path: Path, row_group_size: int | None) -> None:
    pq.write_table(table, path, row_group_size=row_group_size)


def write_recommendations(folder: Path, row_group_size: int | None = None) -> None:
    rows = [(user, item, score, rank) for user, recs in RECOMMENDATIONS.items()
            for rank, (item, score) in enumerate(recs, start=1)]
    users, items, scores, ranks = zip(*rows)
    table = pa.Table.from_arrays(
        [pa.array(users), pa.array(items), pa.array(scores), pa.array(ranks)],
        schema=schema.RECOMMENDATIONS_SCHEMA,
    )
    _write(table, folder / schema.RECOMMENDATIONS_FILE, row_group_size)


def write_similar(folder: Path, row_group_size: int | None = None) -> None:
    rows = [(item, other, score) for item, pairs in SIMILAR.items() for other, score in pairs]
    firsts, seconds, scores = zip(*rows)
    table = pa.Table.from_arrays(
        [pa.array(firsts), pa.array(seconds), pa.array(scores)], schema=schema.SIMILAR_SCHEMA
    )
    _write(table, folder / schema.SIMILAR_FILE, row_group_size)


def write_top_popular(folder: Path) -> None:
    # Written in reverse so that a reader must order by rank, not trust the row order.
    ranked = list(enumerate(TOP_POPULAR, start=1))[::-1]
    table = pa.Table.from_arrays(
        [
            pa.array([item for _, item in ranked]),
            pa.array([rank for rank, _ in ranked]),
            pa.array([100 - rank for rank, _ in ranked]),
            pa.array([50 - rank for rank, _ in ranked]),
            pa.array([f"Track {item}" for _, item in ranked]),
        ],
        schema=schema.TOP_POPULAR_SCHEMA,
    )
    _write(table, folder / schema.TOP_POPULAR_FILE, None)


def write_items(folder: Path) -> None:
    ids = sorted(ARTISTS, reverse=True)  # unsorted on purpose, as above
    table = pa.Table.from_arrays(
        [
            pa.array(ids),
            pa.array([f"Track {item}" for item in ids]),
            pa.array([ARTISTS[item] for item in ids]),
            pa.array([[f"Album {item}"] for item in ids]),
            pa.array([["pop"] for _ in ids]),
        ],
        schema=schema.ITEMS_SCHEMA,
    )
    _write(table, folder / schema.ITEMS_FILE, None)


def write_artifact_set(folder: Path, with_items: bool = True, row_group_size: int | None = None) -> Path:
    """Write the whole tiny set into `folder` (created if needed) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    write_recommendations(folder, row_group_size)
    write_similar(folder, row_group_size)
    write_top_popular(folder)
    if with_items:
        write_items(folder)
    return folder


def publish_artifact_set(artifacts: Path, top: list[int], keep: int = 3) -> str:
    """Publish the tiny set as the pipeline does (serving indexes, manifest, switched pointer), with
    `top` as its top popular list so that answers tell sets apart; returns the set's name."""
    from musicrec.artifacts import ArtifactSetWriter

    with ArtifactSetWriter(artifacts, keep=keep) as folder:
        write_artifact_set(folder)
        table = pa.table({schema.ITEM_ID: pa.array(top, pa.int32()),
                          schema.RANK: pa.array(range(1, len(top) + 1), pa.int32())})
        pq.write_table(table, folder / schema.TOP_POPULAR_FILE)
    return folder.name
