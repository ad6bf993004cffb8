"""Readable names for generated genres, artists, albums and tracks.

People look at recommendations by name (the notebook, `test_service.py`), so names should read like
music, not like `track_123`. Genre names are real for the big genres and composed for the long tail;
other names are two or three words drawn from a small vocabulary, joined by pyarrow in one pass.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The biggest genres first: the generator gives the first names the largest shares.
MAIN_GENRES = (
    "pop", "rap", "rock", "electronics", "dance", "hiphop", "alternative", "rusrap", "metal",
    "indie", "soundtrack", "rnb", "jazz", "classical", "folk", "house", "techno", "ambient",
    "country", "reggae", "blues", "punk", "soul", "latin", "kpop", "disco", "chanson", "trance",
    "funk", "lounge",
)
_GENRE_PREFIXES = (
    "indie", "dark", "deep", "alt", "nu", "post", "neo", "lo-fi", "acoustic", "progressive",
    "experimental", "melodic", "retro", "synth", "dream", "hard",
)
_GENRE_BASES = (
    "pop", "rock", "folk", "jazz", "house", "techno", "metal", "soul", "wave", "punk", "trap",
    "disco", "ambient", "funk", "core", "step",
)

_WORDS = (
    "night", "summer", "city", "river", "light", "shadow", "fire", "golden", "blue", "silent",
    "electric", "wild", "broken", "sweet", "cold", "midnight", "neon", "paper", "glass", "velvet",
    "heart", "dream", "storm", "echo", "ocean", "mirror", "stone", "rain", "winter", "honey",
    "ghost", "star", "moon", "sun", "road", "dust", "silver", "lost", "young", "forever",
    "dance", "wave", "sky", "orbit", "garden", "crystal", "thunder", "smoke", "kiss", "tears",
    "north", "south", "radio", "signal", "machine", "island", "desert", "lonely", "hollow", "bright",
    "morning", "evening", "island", "crown", "tiger", "wolf", "bird", "rose", "cherry", "satellite",
)
_ARTIST_HEADS = ("the", "dj", "mc", "lil", "los", "les", "big", "saint", "miss", "mister")


def genre_names(count: int) -> list[str]:
    """`count` distinct genre names, the main genres first, then composed long-tail ones."""
    composed = (f"{prefix} {base}" for prefix, base in itertools.product(_GENRE_PREFIXES, _GENRE_BASES))
    names = list(itertools.islice(itertools.chain(MAIN_GENRES, composed), count))
    names += [f"genre {number}" for number in range(len(names), count)]
    return names


def _words(rng: np.random.Generator, count: int, vocabulary: tuple[str, ...]) -> pa.Array:
    return pa.array(np.asarray(vocabulary, dtype=object)[rng.integers(0, len(vocabulary), count)])


def titles(rng: np.random.Generator, count: int) -> pa.Array:
    """Two-word capitalised titles for albums and tracks, e.g. "Neon River"."""
    joined = pc.binary_join_element_wise(_words(rng, count, _WORDS), _words(rng, count, _WORDS), " ")
    return pc.utf8_title(joined)


def artist_names(rng: np.random.Generator, count: int) -> pa.Array:
    """Artist names: a head word and one or two words, e.g. "Dj Velvet Storm"."""
    second = _words(rng, count, _WORDS)
    third = pc.if_else(pa.array(rng.random(count) < 0.5), _words(rng, count, _WORDS), "")
    joined = pc.binary_join_element_wise(_words(rng, count, _ARTIST_HEADS), second, third, " ")
    return pc.utf8_title(pc.utf8_rtrim(joined, characters=" "))
