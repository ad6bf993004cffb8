"""Find tracks by (part of) their name or their artists' names, for the web page's search box.

Built once at start from the catalog: every track becomes one lower-cased line "title\\nartists\\n"
in a single bytes buffer, popular tracks first. A query is then a substring search of that buffer
in C (`bytes.find`), stopped once `CANDIDATES` tracks matched, so a request never costs more than
one pass over the buffer (a few tens of megabytes at a million tracks), and memory stays near the
size of the names themselves. The candidates are ordered by how well they match: titles starting
with the query, then titles with a word starting with it, then any title, then artists.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from musicrec.serving.catalog import Catalog
from musicrec.serving.indexes import arrow_text, arrow_view, column_values

CANDIDATES = 200  # matches looked at before ranking: bounds a request's work for common queries
SEPARATOR = b"\n"  # ends a title and a line; never part of a query, so no match spans two lines
WORD_STARTS = b" \n-(/&.,'\""


@dataclass(frozen=True)
class TrackSearch:
    """The searchable text and, per line, where it starts, its title's length and its track."""

    text: bytes | mmap.mmap  # an mmap when mapped from the set's serving indexes (same find())
    starts: np.ndarray  # int64, one more than lines: line i is text[starts[i]:starts[i + 1]]
    title_bytes: np.ndarray  # int32, length of line i's title in bytes
    item_ids: np.ndarray  # int32, the track of line i

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def nbytes(self) -> int:
        return len(self.text) + self.starts.nbytes + self.title_bytes.nbytes + self.item_ids.nbytes

    def find(self, query: str, k: int) -> list[int]:
        """Up to `k` track ids matching `query` (case-insensitive), best match first."""
        needle = " ".join(query.lower().split()).encode()
        if not needle or len(self) == 0:
            return []
        found: list[tuple[int, int]] = []  # (how well it matches, line)
        position = self.text.find(needle)
        while position >= 0 and len(found) < CANDIDATES:
            line = int(self.starts.searchsorted(position, side="right")) - 1
            found.append((self._match_quality(position, line), line))
            position = self.text.find(needle, int(self.starts[line + 1]))
        found.sort()  # stable: equal matches keep the index order (popular first)
        return [int(self.item_ids[line]) for _, line in found[:k]]

    def _match_quality(self, position: int, line: int) -> int:
        """0: the title starts with the query; 1: a title word does; 2: inside a title; 3: artists."""
        offset = position - int(self.starts[line])
        if offset > int(self.title_bytes[line]):
            return 3
        if offset == 0:
            return 0
        return 1 if self.text[position - 1] in WORD_STARTS else 2


def build_search(catalog: Catalog, popular: np.ndarray) -> TrackSearch:
    """The search index of every named track; `popular` tracks (best first) come first among equals."""
    order = _popular_first(catalog.item_ids, popular)
    taken, empty = arrow_view(order), arrow_text("")
    titles = pc.utf8_lower(pc.fill_null(catalog.names.take(taken), empty))
    artists = pc.utf8_lower(pc.fill_null(pc.binary_join(catalog.artists.take(taken), arrow_text(", ")), empty))
    lines = pc.binary_join_element_wise(titles, artists, empty, arrow_text(SEPARATOR.decode()))
    _, offsets, data = lines.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    text = data.to_pybytes()[int(starts[0]) : int(starts[-1])] if data is not None else b""
    return TrackSearch(
        text=text,
        starts=starts.astype(np.int64) - starts[0],
        title_bytes=column_values(pc.binary_length(titles)).astype(np.int32),
        item_ids=catalog.item_ids[order],
    )


def _popular_first(item_ids: np.ndarray, popular: np.ndarray) -> np.ndarray:
    """Catalog positions: the popular tracks it names, in popularity order, then the rest by id."""
    positions = np.minimum(item_ids.searchsorted(popular), max(len(item_ids) - 1, 0))
    named = positions[item_ids[positions] == popular] if len(item_ids) else positions[:0]
    named = named[np.sort(np.unique(named, return_index=True)[1])]  # a track listed twice counts once
    rest = np.ones(len(item_ids), dtype=bool)
    rest[named] = False
    return np.concatenate([named, np.flatnonzero(rest)]).astype(np.int64)
