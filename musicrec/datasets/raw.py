"""Read the raw course files, validated and cast to the canonical schemas of `schema.RAW_SCHEMAS`.

Real files come in variants (track ids as int64 or int32, `started_at` as a date or a timestamp,
`track_seq` as int16 or int32, lists as large lists, names as dictionaries). Every variant that
converts without losing information is accepted; anything else stops with a `RawDataError` that
names the file and the column, before any work is done, instead of a confusing failure later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.errors import RawDataError


def _is_integer(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind)


def _is_integer_list(kind: pa.DataType) -> bool:
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _is_integer(kind.value_type)


def _is_date_like(kind: pa.DataType) -> bool:
    return pa.types.is_date(kind) or pa.types.is_timestamp(kind)


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _accepts(target: pa.DataType) -> Callable[[pa.DataType], bool]:
    """Which source types may be cast to `target` (range checks happen during the cast)."""
    if _is_integer(target):
        return _is_integer
    if pa.types.is_list(target):
        return _is_integer_list
    if pa.types.is_date(target):
        return _is_date_like
    return _is_text


def check_columns(path: Path, found: pa.Schema, expected: pa.Schema, columns: Sequence[str]) -> None:
    """Every column in `columns` is in `found` with a type that converts to `expected`'s (the Spark
    engine checks a file's Spark schema here too, converted to Arrow types)."""
    for name in columns:
        target = expected.field(name).type
        if name not in found.names:
            raise RawDataError(
                f"{path}: missing column {name!r} (expected {target}); "
                f"found columns: {', '.join(found.names)}"
            )
        kind = found.field(name).type
        if not _accepts(target)(kind):
            raise RawDataError(f"{path}: column {name!r} has type {kind}, which cannot be read as {target}")


def _cast(path: Path, table: pa.Table, expected: pa.Schema) -> pa.Table:
    columns = []
    for name in table.column_names:
        target = expected.field(name).type
        try:
            columns.append(table.column(name).cast(target, safe=not pa.types.is_date(target)))
        except pa.ArrowException as exc:  # invalid values, or a cast Arrow does not offer
            raise RawDataError(f"{path}: column {name!r} cannot be read as {target}: {exc}") from None
    return pa.table(columns, schema=pa.schema([expected.field(name) for name in table.column_names]))


def raw_file(raw_dir: Path, file_name: str) -> Path:
    """The path of a raw file, or an error that says how to make the built-in data."""
    path = Path(raw_dir) / file_name
    if not path.is_file():
        raise RawDataError(
            f"{path}: raw file not found; make the built-in data with: {schema.MAKE_RAW_COMMAND}"
        )
    return path


def read_raw(raw_dir: Path, file_name: str, columns: Sequence[str] | None = None) -> pa.Table:
    """Read `file_name` from `raw_dir` with the canonical column types.

    Parameters
    ----------
    raw_dir : Path
        Folder holding the raw course files.
    file_name : str
        One of `schema.RAW_FILES`.
    columns : sequence of str, optional
        Columns to read (all of the file's canonical columns by default); reading fewer saves
        memory on the 222M-row interactions file.

    Raises
    ------
    RawDataError
        The file is missing or unreadable, or a column is missing or of a type that cannot be
        converted without loss; the message names the file and the column.
    """
    path = raw_file(raw_dir, file_name)
    expected = schema.RAW_SCHEMAS[file_name]
    columns = list(expected.names if columns is None else columns)
    try:
        found = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RawDataError(f"{path}: not a readable parquet file: {exc}") from None
    check_columns(path, found, expected, columns)
    return _cast(path, pq.read_table(path, columns=columns), expected)


def read_tracks(raw_dir: Path) -> pa.Table:
    """`tracks.parquet`: track_id, albums, artists, genres."""
    return read_raw(raw_dir, schema.TRACKS_FILE)


def read_catalog_names(raw_dir: Path) -> pa.Table:
    """`catalog_names.parquet`: id, type, name."""
    return read_raw(raw_dir, schema.CATALOG_NAMES_FILE)


def read_interactions(raw_dir: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """`interactions.parquet`: user_id, track_id, track_seq, started_at (or the given columns)."""
    return read_raw(raw_dir, schema.INTERACTIONS_FILE, columns)
