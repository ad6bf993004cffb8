"""Why each recommended track is there, as data and in words (`details=true`).

The recommender records an answer's `Origin` (which lists it was made of, which recent listens the
online part came from); this module turns it into one `Reason` per track, and only for callers who
asked for details, so other answers pay nothing for it:

- online: the recent listen the track is most similar to (ties: the newer listen), by name; when
  that listen is a new release, whose similar tracks were found by content, what they share
  ("by Artist A, whose new release 'Song' you just played");
- offline: the user's personal list, and the candidate source that proposed the track when
  recommendations.parquet has the optional `source` column;
- popular: top popular (the default list, a user without a personal list, or what filled a list
  whose own tracks ran out);
- catalog: a catalogue track that passed the caller's filters when the lists had too few that did.

A track that is in both the online and the personal list is explained by the online part: that is
what changed with the latest listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.serving.blending import Relation, SimilarList
from musicrec.serving.catalog import TrackCatalog, TrackDetails
from musicrec.serving.columns import artifact_error, column_values
from musicrec.serving.indexes import RankedLists
from musicrec.serving.recommender import Origin

Source = Literal["online", "offline", "popular", "catalog"]
# How the pipeline's candidate sources are named for people; an unknown name is shown as it is.
SOURCE_WORDS = {
    "als": "ALS (listeners with a taste like yours)",
    "itemknn": "item-kNN (tracks played by the same listeners)",
    "ease": "EASE (tracks that go together)",
    "popular": "what is popular now",
    "artist": "artists you play",
    "ranker": "the ranker",
}
NO_SOURCE = -1
SOURCE_CODE = np.int8  # one byte per row; the pipeline has a handful of candidate sources


@dataclass(frozen=True)
class Reason:
    """Why one track is recommended: its source, the listen it follows (online), and a sentence."""

    source: Source
    text: str
    because_of: int | None = None  # online: the recent listen this track is most similar to
    proposed_by: str | None = None  # offline: the candidate source, when the artifact set names it


@dataclass(frozen=True)
class OfflineSources:
    """The candidate source of every row of recommendations.parquet, when the file has that column.

    `codes` is aligned with the rows of `personal` (one int8 per row, NO_SOURCE for none), so a
    user's sources are read with the same span as the user's items. The service maps them from
    the set's serving indexes (`index_files.map_offline_sources`); this module decodes parquet.
    """

    personal: RankedLists
    codes: np.ndarray | None = None
    names: tuple[str, ...] = ()

    def of(self, user_id: int) -> dict[int, str]:
        """Track -> the source that proposed it, for the user's personal list ({} without the column)."""
        if self.codes is None:
            return {}
        start, stop = self.personal.span(user_id)
        items = self.personal.items[start:stop].tolist()
        return {item: self.names[code] for item, code in zip(items, self.codes[start:stop].tolist())
                if code != NO_SOURCE}


def load_offline_sources(folder: Path, personal: RankedLists) -> OfflineSources:
    """Read the optional `source` column of recommendations.parquet as small integer codes.

    Read one row group at a time as Arrow dictionaries, so memory stays at one byte per row.
    """
    path = folder / schema.RECOMMENDATIONS_FILE
    try:
        if schema.SOURCE not in pq.read_schema(path).names:
            return OfflineSources(personal)
        parquet = pq.ParquetFile(path, read_dictionary=[schema.SOURCE])
        codes = np.full(parquet.metadata.num_rows, NO_SOURCE, dtype=SOURCE_CODE)
        names: dict[str, int] = {}
        filled = 0
        for group in range(parquet.num_row_groups):
            column = parquet.read_row_group(group, columns=[schema.SOURCE]).column(0)
            for chunk in column.chunks:
                filled = _add_codes(chunk, codes, filled, names)
    except (pa.ArrowException, OSError) as exc:
        raise artifact_error(path, f"column {schema.SOURCE} cannot be read ({exc})") from None
    if filled != personal.rows:
        raise artifact_error(path, f"column {schema.SOURCE} has {filled} rows for {personal.rows} items")
    if len(names) > np.iinfo(SOURCE_CODE).max:
        raise artifact_error(path, f"column {schema.SOURCE} has {len(names)} names, more than "
                                   f"{np.iinfo(SOURCE_CODE).max}")
    return OfflineSources(personal, codes, tuple(names))


def _add_codes(chunk: pa.Array, codes: np.ndarray, filled: int, names: dict[str, int]) -> int:
    """Write one chunk's sources into `codes` from `filled` on; new names get the next code."""
    if not pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_encode()
    mapping = np.array([names.setdefault(str(name), len(names)) for name in chunk.dictionary.to_pylist()]
                       + [NO_SOURCE], dtype=np.int16)
    indices = column_values(chunk.indices.fill_null(len(mapping) - 1))
    codes[filled : filled + len(chunk)] = mapping[indices]  # more names than int8 holds: refused after
    return filled + len(chunk)


@dataclass(frozen=True)
class Explainer:
    """Turns an answer's origin into reasons, naming tracks from the catalog.

    `popular` is the set's top popular tracks: with none given, every track outside the lists
    is explained as popular.
    """

    catalog: TrackCatalog
    sources: OfflineSources
    popular: frozenset[int] | None = None

    def reasons(self, recs: Sequence[int], origin: Origin, offline_fallback: bool) -> list[Reason]:
        """One reason per track of `recs`; `offline_fallback`: top popular stood in for a personal list."""
        online = set(origin.online)
        closest = closest_listens(origin.seeds, origin.similar)
        listens = dict(zip(origin.seeds, self.catalog.details(list(origin.seeds))))
        newest = origin.seeds[0] if origin.seeds else None
        personal: set[int] = set()
        if origin.personal_of is not None:
            start, stop = self.sources.personal.span(origin.personal_of)
            personal = set(self.sources.personal.items[start:stop].tolist())
        proposed = self.sources.of(origin.personal_of) if origin.personal_of is not None else {}
        reasons = []
        relations = content_relations(origin.seeds, origin.similar)
        related = dict(zip(recs, self.catalog.details(list(recs)))) if relations else {}
        for item in recs:
            if item in online and item in closest:
                seed = closest[item]
                relation = relations.get((seed, item))
                if relation is not None:
                    reasons.append(content_reason(listens[seed], related[item], relation, seed == newest))
                else:
                    reasons.append(online_reason(listens[seed], just_played=seed == newest))
            elif item in personal:
                reasons.append(offline_reason(proposed.get(item)))
            elif self.popular is None or item in self.popular:
                reasons.append(popular_reason(offline_fallback))
            else:
                reasons.append(CATALOG_REASON)
        return reasons


def closest_listens(seeds: Sequence[int], similar: Sequence[SimilarList]) -> dict[int, int]:
    """Track -> the seed (recent listen) it is most similar to; equal scores keep the newer seed."""
    best: dict[int, tuple[float, int]] = {}
    for seed, (items, scores, *_) in zip(seeds, similar):
        for item, score in zip(items, scores):
            if item not in best or score > best[item][0]:
                best[item] = (score, seed)
    return {item: seed for item, (_, seed) in best.items()}


def content_relations(seeds: Sequence[int], similar: Sequence[SimilarList]) -> dict[tuple[int, int], Relation]:
    """(seed, track) -> what the track shares with the seed, for the seeds whose lists were found by content."""
    found: dict[tuple[int, int], Relation] = {}
    for seed, (items, _, *relations) in zip(seeds, similar):
        if relations:
            found.update(((seed, item), relation) for item, relation in zip(items, relations[0]))
    return found


def content_reason(listen: TrackDetails, track: TrackDetails, relation: Relation, just_played: bool) -> Reason:
    """Why a track follows a new release the user played: the album, artist or genre they share."""
    name = f"'{listen.name}'" if listen.name is not None else f"track {listen.item_id}"
    when = "you just played" if just_played else "you played recently"
    if relation == "album":
        text = f"from the album of {name}, the new release {when}"
    elif relation == "artist":
        shared = [artist for artist in track.artists if artist.lower() in {a.lower() for a in listen.artists}]
        artist = (shared or track.artists or listen.artists or ["the same artist"])[0]
        text = f"by {artist}, whose new release {name} {when}"
    else:
        shared = [genre for genre in track.genres if genre.lower() in {g.lower() for g in listen.genres}]
        genre = (shared or listen.genres or ["the same genre"])[0]
        text = f"{genre}, like {name}, the new release {when}"
    return Reason("online", text, because_of=listen.item_id)


def track_words(track: TrackDetails) -> str:
    """'Song' by Artist A, Artist B; or track 123 when the catalog has no name for it."""
    if track.name is None:
        return f"track {track.item_id}"
    return f"'{track.name}' by {', '.join(track.artists)}" if track.artists else f"'{track.name}'"


def online_reason(listen: TrackDetails, just_played: bool) -> Reason:
    when = "which you just played" if just_played else "which you played recently"
    return Reason("online", f"similar to {track_words(listen)}, {when}", because_of=listen.item_id)


def offline_reason(proposed_by: str | None) -> Reason:
    text = "in your personal list, made offline from your listening history"
    if proposed_by is not None:
        text += f"; proposed by {SOURCE_WORDS.get(proposed_by, proposed_by)}"
    return Reason("offline", text, proposed_by=proposed_by)


CATALOG_REASON = Reason("catalog", "from the catalogue: it fits what you asked for, and your lists had too "
                                   "few tracks that did")


def popular_reason(offline_fallback: bool) -> Reason:
    text = "one of the most played tracks"
    if offline_fallback:
        text += " (there is no personal list for this listener yet)"
    return Reason("popular", text)
