"""Find tracks by the words of their names or their artists' names, for the web page's search box.

Built once at start from the catalog, with Arrow and numpy (no Python loop over tracks):

- every track is one lower-cased line "title\\nartists\\n" of a bytes buffer, popular tracks first;
- every word of those lines (letters and digits) is in a sorted vocabulary, with the lines it is in
  (postings, one int32 per word and line).

A query's words must each start a word of the line, in any order: the last one may be unfinished
("night riv" finds "Night River"). Each query word is a range of the sorted vocabulary, so its lines
are one slice of the postings, marked in a bitmap of the lines; the bitmaps of the words are
combined. So a request costs about the same whatever it asks, even one letter at a million tracks
(bench/results/search.md), and a word that starts nothing ends it at once; a plain scan of the text
costs most for short words, the ones typed first. At most `CANDIDATES` matching lines, in index
order, are then ordered by how well they match: titles starting with the query, then titles
holding it as written, then artists holding it, then the rest.
"""

from __future__ import annotations

import bisect
import mmap
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from musicrec.serving.arrow import arrow_text, arrow_view
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.columns import column_values

CANDIDATES = 200  # matching lines looked at before ranking: bounds a request's work for common queries
SEPARATOR = "\n"  # ends a title and a line
WORD = re.compile(r"[a-z0-9\x80-\U0010ffff]+")  # a query's words, as `WORD_BYTES` finds them in the lines
WORD_BYTES = np.zeros(256, dtype=bool)  # bytes of words: ASCII letters and digits, and all of UTF-8's others
WORD_BYTES[[*range(ord("0"), ord("9") + 1), *range(ord("a"), ord("z") + 1), *range(0x80, 0x100)]] = True
LAST_CODE_POINT = "\U0010ffff"


@dataclass(frozen=True)
class TrackSearch:
    """The searchable lines, their words, and per line where it starts, its title's length, its track.

    Attributes
    ----------
    text : every line, lower-cased UTF-8; line i is ``text[starts[i]:starts[i + 1]]``; an mmap when
        mapped from the set's serving indexes (searched the same way).
    title_bytes : int32 length of line i's title in bytes.
    item_ids : int32 track of line i.
    vocabulary : the distinct words, sorted (Arrow strings).
    word_offsets : int64; the lines holding word w are ``postings[word_offsets[w]:word_offsets[w + 1]]``.
    postings : int32 line numbers, ascending within each word.
    """

    text: bytes | mmap.mmap
    starts: np.ndarray
    title_bytes: np.ndarray
    item_ids: np.ndarray
    vocabulary: pa.Array
    word_offsets: np.ndarray
    postings: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)

    @property
    def nbytes(self) -> int:
        arrays = (self.starts, self.title_bytes, self.item_ids, self.word_offsets, self.postings)
        return len(self.text) + sum(array.nbytes for array in arrays) + int(self.vocabulary.nbytes)

    def find(self, query: str, k: int) -> list[int]:
        """Up to `k` track ids matching `query` (case-insensitive), best match first."""
        words = WORD.findall(query.lower())
        if not words or len(self) == 0:
            return []
        matching = np.ones(len(self), dtype=bool)
        for position, word in enumerate(words):
            lines_with_word = self._lines_with(word, prefix=position == len(words) - 1)
            if lines_with_word is None:
                return []
            matching &= lines_with_word
        lines = np.flatnonzero(matching)[:CANDIDATES]
        phrase = " ".join(words).encode()
        ranked = sorted((self._match_quality(phrase, int(line)), int(line)) for line in lines)
        return [int(self.item_ids[line]) for _, line in ranked[:k]]

    def _lines_with(self, word: str, prefix: bool) -> np.ndarray | None:
        """A bitmap of the lines holding `word` (with `prefix`: a word starting with it); None if none."""
        first = bisect.bisect_left(self.vocabulary, word, key=_as_text)
        last = bisect.bisect_left(self.vocabulary, word + LAST_CODE_POINT, key=_as_text) if prefix else (
            first + int(first < len(self.vocabulary) and self.vocabulary[first].as_py() == word))
        if first == last:
            return None
        bitmap = np.zeros(len(self), dtype=bool)
        bitmap[self.postings[self.word_offsets[first] : self.word_offsets[last]]] = True
        return bitmap

    def _match_quality(self, phrase: bytes, line: int) -> int:
        """0: the title starts with the query; 1: the title holds it; 2: the artists do; 3: neither.

        "Holds it" means as written, at the start of a word; the words alone matched in any order.
        """
        start, title_end = int(self.starts[line]), int(self.starts[line]) + int(self.title_bytes[line])
        end = int(self.starts[line + 1])
        position = self.text.find(phrase, start, end)
        while position > start and not _starts_a_word(self.text, position):
            position = self.text.find(phrase, position + 1, end)
        if position < 0:
            return 3
        if position == start:
            return 0
        return 1 if position < title_end else 2


def _as_text(value: pa.Scalar) -> str:
    text: str = value.as_py()
    return text


def _starts_a_word(text: bytes | mmap.mmap, position: int) -> bool:
    """The byte before is neither an ASCII letter or digit nor part of a longer UTF-8 character."""
    before = text[position - 1]
    return before < 0x80 and not chr(before).isalnum()


def build_search(catalog: TrackCatalog, popular: np.ndarray) -> TrackSearch:
    """The search index of every named track; `popular` tracks (best first) come first among equals."""
    order = _popular_first(catalog.item_ids, popular)
    taken, empty = arrow_view(order), arrow_text("")
    titles = pc.utf8_lower(pc.fill_null(catalog.names.take(taken), empty))
    joined_artists = pc.binary_join(catalog.artists.take(taken), arrow_text(", "))
    artists = pc.utf8_lower(pc.fill_null(joined_artists, empty))
    lines = pc.binary_join_element_wise(titles, artists, empty, arrow_text(SEPARATOR))
    _, offsets, data = lines.buffers()
    offsets_read = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    starts = offsets_read.astype(np.int64) - offsets_read[0]
    text = data.to_pybytes()[int(offsets_read[0]) : int(offsets_read[-1])] if data is not None else b""
    vocabulary, word_offsets, postings = _word_postings(text, starts)
    index = TrackSearch(
        text=text,
        starts=starts,
        title_bytes=column_values(pc.binary_length(titles)).astype(np.int32),
        item_ids=catalog.item_ids[order],
        vocabulary=vocabulary, word_offsets=word_offsets, postings=postings,
    )
    del lines, titles, artists, joined_artists, data
    pa.default_memory_pool().release_unused()  # the lines' buffers, copied into `text`
    return index


def _word_postings(text: bytes, starts: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The sorted distinct words of the lines, and for each the ascending lines it is in.

    Words are found in numpy over the bytes: a run of ASCII letters and digits and of non-ASCII
    bytes (so a UTF-8 character is never cut; non-ASCII punctuation counts as a letter). Their bytes,
    packed together, make an Arrow string array at once, which Arrow dictionary-encodes.
    """
    raw = np.frombuffer(text, dtype=np.uint8)
    is_word = WORD_BYTES[raw]
    edges = np.diff(is_word.view(np.int8), prepend=0, append=0)
    word_starts, word_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = (word_ends - word_starts).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int32)]).astype(np.int32)
    words = pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(raw[is_word]))
    line_of = np.searchsorted(starts, word_starts, side="right").astype(np.int64) - 1
    encoded = pc.dictionary_encode(words)
    dictionary = encoded.dictionary
    order = column_values(pc.sort_indices(dictionary))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    pairs = (rank[column_values(encoded.indices)] << 32) | line_of
    pairs.sort()
    first_of_pair = np.ones(len(pairs), dtype=bool)
    first_of_pair[1:] = pairs[1:] != pairs[:-1]
    pairs = pairs[first_of_pair]  # a word once per line
    word_offsets = np.searchsorted(pairs >> 32, np.arange(len(order) + 1)).astype(np.int64)
    return dictionary.take(arrow_view(order)), word_offsets, (pairs & 0xFFFFFFFF).astype(np.int32)


def _popular_first(item_ids: np.ndarray, popular: np.ndarray) -> np.ndarray:
    """Catalog positions: the popular tracks it names, in popularity order, then the rest by id."""
    positions = np.minimum(item_ids.searchsorted(popular), max(len(item_ids) - 1, 0))
    named = positions[item_ids[positions] == popular] if len(item_ids) else positions[:0]
    named = named[np.sort(np.unique(named, return_index=True)[1])]  # a track listed twice counts once
    rest = np.ones(len(item_ids), dtype=bool)
    rest[named] = False
    return np.concatenate([named, np.flatnonzero(rest)]).astype(np.int64)
