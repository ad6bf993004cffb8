"""Artists and genres of the catalogue's tracks as small integer codes: for filters and the artist cap.

Requests name artists and genres as the artifact set spells them (items.parquet holds names, not
the raw files' ids: the same names `details=true` answers), matched regardless of case. Each distinct
name gets a code when the set is loaded. Per track, the codes of its artists and of its genres are
kept in CSR form aligned with the catalogue's sorted ids; the reverse (code -> tracks, in id order)
lists every track of an artist or a genre without scanning the catalogue. A request looks at a few
hundred tracks, so everything here works on small arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.indexes import KEY_MAX, KEY_MIN

NO_CODE = -1


@dataclass(frozen=True)
class Facet:
    """One kind of name (artists, or genres): the codes of each catalogue row, and the rows of each code."""

    codes: dict[str, int]  # lower-cased name -> code
    offsets: np.ndarray  # int64, rows + 1: the codes of row r are values[offsets[r]:offsets[r + 1]]
    values: np.ndarray  # int32 codes, in the catalogue's order of names
    row_offsets: np.ndarray  # int64, codes + 1: the rows of code c are rows[row_offsets[c]:row_offsets[c + 1]]
    rows: np.ndarray  # int32 catalogue rows, ascending within a code

    @classmethod
    def of(cls, names: pa.Array, rows: int) -> Facet:
        """Codes of a list<string> column of `rows` tracks (a null or empty list has none)."""
        values = pc.list_flatten(names)
        parents = pc.list_parent_indices(names).to_numpy().astype(np.int64)
        encoded = pc.dictionary_encode(pc.utf8_lower(values))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        dictionary = encoded.dictionary.to_pylist()
        offsets = np.searchsorted(parents, np.arange(rows + 1)).astype(np.int64)
        order = np.argsort(codes, kind="stable")  # rows ascending within each code
        row_offsets = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(dictionary))))).astype(np.int64)
        return cls({name: code for code, name in enumerate(dictionary)}, offsets, codes, row_offsets,
                   parents[order].astype(np.int32))

    def code_set(self, names: Iterable[str]) -> np.ndarray:
        """The codes of `names` (any case); names the catalogue does not have are left out."""
        found = {self.codes[name.lower()] for name in names if name.lower() in self.codes}
        return np.array(sorted(found), dtype=np.int32)

    def first(self, rows: np.ndarray) -> np.ndarray:
        """The first code of each row (the main artist), NO_CODE for a row without any or rows < 0."""
        first = np.full(len(rows), NO_CODE, dtype=np.int32)
        known = rows >= 0
        starts, stops = self.offsets[rows[known]], self.offsets[rows[known] + 1]
        has = stops > starts
        picked = np.full(int(known.sum()), NO_CODE, dtype=np.int32)
        picked[has] = self.values[starts[has]]
        first[known] = picked
        return first

    def has_any(self, rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Whether each row has one of `codes` (rows < 0, unknown tracks, have none)."""
        found = np.zeros(len(rows), dtype=bool)
        known = np.flatnonzero(rows >= 0)
        if len(known) == 0 or len(codes) == 0:
            return found
        starts, stops = self.offsets[rows[known]], self.offsets[rows[known] + 1]
        lengths = stops - starts
        # Every (row, code) pair of the asked rows, laid end to end, then tested and folded per row.
        owner = np.repeat(np.arange(len(known)), lengths)
        positions = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths - starts, lengths)
        hits = np.isin(self.values[positions], codes)
        found[known[np.unique(owner[hits])]] = True
        return found

    def rows_of(self, codes: np.ndarray) -> np.ndarray:
        """Every row with one of `codes`, ascending (so in track id order), without repeats."""
        parts = [self.rows[self.row_offsets[code]:self.row_offsets[code + 1]] for code in codes.tolist()]
        if not parts:
            return np.empty(0, dtype=np.int32)
        return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


@dataclass(frozen=True)
class TrackFacets:
    """The catalogue's track ids (sorted, as in `TrackCatalog`) with their artists and genres as codes."""

    item_ids: np.ndarray
    artists: Facet
    genres: Facet

    @classmethod
    def of(cls, catalog: TrackCatalog) -> TrackFacets:
        rows = len(catalog)
        return cls(catalog.item_ids, Facet.of(catalog.artists, rows), Facet.of(catalog.genres, rows))

    def __len__(self) -> int:
        return len(self.item_ids)

    def rows(self, items: np.ndarray) -> np.ndarray:
        """The catalogue row of each track id, -1 for a track the catalogue does not name."""
        rows = np.full(len(items), -1, dtype=np.int64)
        if len(self.item_ids) == 0 or len(items) == 0:
            return rows
        wanted = np.asarray(items, dtype=np.int64)
        in_range = (wanted >= KEY_MIN) & (wanted <= KEY_MAX)
        searched = np.where(in_range, wanted, 0).astype(np.int32)  # as int32, like the ids: no conversion
        positions = np.minimum(self.item_ids.searchsorted(searched), len(self.item_ids) - 1)
        known = in_range & (self.item_ids[positions] == wanted)
        rows[known] = positions[known]
        return rows

    def main_artists(self, items: np.ndarray) -> np.ndarray:
        """The code of each track's first (main) artist; NO_CODE when the catalogue names none."""
        return self.artists.first(self.rows(items))
