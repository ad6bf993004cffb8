"""Column names and parquet schemas of the raw course files and of the artifacts.

This is the one place they are spelled: every other module imports the constants, so a renamed
column is a one-line change and a typo is an ImportError, not a silent empty join.
"""

from __future__ import annotations

import pyarrow as pa

# --- raw course files -------------------------------------------------------------------------
TRACKS_FILE = "tracks.parquet"
CATALOG_NAMES_FILE = "catalog_names.parquet"
INTERACTIONS_FILE = "interactions.parquet"
RAW_FILES = (TRACKS_FILE, CATALOG_NAMES_FILE, INTERACTIONS_FILE)

TRACK_ID = "track_id"
ALBUMS = "albums"
ARTISTS = "artists"
GENRES = "genres"

ID = "id"
TYPE = "type"
NAME = "name"
CATALOG_TYPES = ("album", "artist", "genre", "track")

USER_ID = "user_id"
TRACK_SEQ = "track_seq"
STARTED_AT = "started_at"

TRACKS_SCHEMA = pa.schema(
    [
        (TRACK_ID, pa.int64()),
        (ALBUMS, pa.list_(pa.int64())),
        (ARTISTS, pa.list_(pa.int64())),
        (GENRES, pa.list_(pa.int64())),
    ]
)
CATALOG_NAMES_SCHEMA = pa.schema([(ID, pa.int64()), (TYPE, pa.string()), (NAME, pa.string())])
INTERACTIONS_SCHEMA = pa.schema(
    [
        (USER_ID, pa.int32()),
        (TRACK_ID, pa.int32()),
        (TRACK_SEQ, pa.int16()),
        (STARTED_AT, pa.date32()),
    ]
)
RAW_SCHEMAS = {
    TRACKS_FILE: TRACKS_SCHEMA,
    CATALOG_NAMES_FILE: CATALOG_NAMES_SCHEMA,
    INTERACTIONS_FILE: INTERACTIONS_SCHEMA,
}

# --- artifacts ----------------------------------------------------------------------------------
ITEMS_FILE = "items.parquet"
EVENTS_FILE = "events.parquet"
TOP_POPULAR_FILE = "top_popular.parquet"
RECOMMENDATIONS_FILE = "recommendations.parquet"
SIMILAR_FILE = "similar.parquet"
METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.json"
# The serving indexes in a memory-mappable form (.npy, Arrow IPC), written beside the parquet files.
SERVING_INDEX_FOLDER = "serving"
# Inside an artifact set: the same lists made by models that never saw the test period (for the replay).
EVALUATION_DIR = "evaluation"

ITEM_ID = "item_id"
ITEM_ID_1 = "item_id_1"
ITEM_ID_2 = "item_id_2"
SCORE = "score"
RANK = "rank"
# Optional in recommendations.parquet: the candidate source that proposed the row (e.g. "als").
SOURCE = "source"
LISTENS = "listens"
LISTENERS = "listeners"

ITEMS_SCHEMA = pa.schema(
    [
        (ITEM_ID, pa.int32()),
        (NAME, pa.string()),
        (ARTISTS, pa.list_(pa.string())),
        (ALBUMS, pa.list_(pa.string())),
        (GENRES, pa.list_(pa.string())),
    ]
)
EVENTS_SCHEMA = pa.schema(
    [
        (USER_ID, pa.int32()),
        (ITEM_ID, pa.int32()),
        (STARTED_AT, pa.date32()),
        (TRACK_SEQ, pa.int16()),
    ]
)
TOP_POPULAR_SCHEMA = pa.schema(
    [
        (ITEM_ID, pa.int32()),
        (RANK, pa.int32()),
        (LISTENS, pa.int64()),
        (LISTENERS, pa.int64()),
        (NAME, pa.string()),
    ]
)
RECOMMENDATIONS_SCHEMA = pa.schema(
    [(USER_ID, pa.int32()), (ITEM_ID, pa.int32()), (SCORE, pa.float32()), (RANK, pa.int32())]
)
SIMILAR_SCHEMA = pa.schema([(ITEM_ID_1, pa.int32()), (ITEM_ID_2, pa.int32()), (SCORE, pa.float32())])

# How to make each artifact, for start-up errors that name the command.
MAKE_ARTIFACTS_COMMAND = "python -m musicrec pipeline  (or: make pipeline)"
MAKE_RAW_COMMAND = "python -m musicrec data --scale small --out data/raw  (or: make data)"

# --- exploration tables (musicrec/pipeline/explore.py): small frames for plots and for people ----
MONTH = "month"
TRACKS = "tracks"
USERS = "users"
MODEL = "model"
HEARD_LATER = "heard_later"
