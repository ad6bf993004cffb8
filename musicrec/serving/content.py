"""Similar tracks by content, for catalogue tracks the pipeline did not see (new releases).

similar.parquet has lists only for the tracks the models learned from. A track in items.parquet
without one (released, or first played, after the set's data) still gets similar tracks here, from
what it is made of: learned tracks of its album first, then of its artists, then of its genres,
the most popular first. Popularity is how many learned tracks list a track among their similar
ones, which similar.parquet already holds. Scores are fixed per relation (album > artist > genre)
minus a small step per place, as the pipeline scores its own content candidates: a list made from
metadata never claims more certainty than shared metadata gives. Each track of such a list carries
its relation to the asked track, so an answer can say why ("by Artist A, like 'New Song'").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.serving.blending import Relation
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.facets import Facet, TrackFacets
from musicrec.serving.indexes import RankedLists

RELATION_SCORES: dict[Relation, float] = {"album": 0.5, "artist": 0.4, "genre": 0.2}
PLACE_STEP = 1e-3  # score lost per place within one relation, so the order survives a merge by score


@dataclass(frozen=True)
class ByPopularity:
    """For each code of a facet, its learned tracks' catalogue rows, most popular first (at most `top`)."""

    offsets: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, facet: Facet, learned: np.ndarray, popularity: np.ndarray, top: int) -> ByPopularity:
        owners = np.repeat(np.arange(len(facet.offsets) - 1), np.diff(facet.offsets))
        keep = learned[owners]
        codes, rows = facet.values[keep], owners[keep]
        order = np.lexsort((rows, -popularity[rows], codes))
        codes, rows = codes[order], rows[order]
        starts = np.searchsorted(codes, codes)  # where each code's run begins
        kept = (np.arange(len(codes)) - starts) < top
        codes, rows = codes[kept], rows[kept]
        offsets = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(facet.codes))))).astype(np.int64)
        return cls(offsets, rows.astype(np.int32))

    def of_code(self, code: int) -> np.ndarray:
        return self.rows[self.offsets[code]:self.offsets[code + 1]]


@dataclass(frozen=True)
class ContentSimilar:
    """Similar tracks by album, artists and genres for the catalogue tracks without a learned list."""

    facets: TrackFacets
    learned: np.ndarray  # bool per catalogue row: the track has a list in similar.parquet
    levels: tuple[tuple[Relation, Facet, ByPopularity], ...]

    @classmethod
    def of(cls, catalog: TrackCatalog, similar: RankedLists, top: int) -> ContentSimilar:
        """`top`: the most similar tracks ever asked for one track ([serving] max_k)."""
        facets = TrackFacets.of(catalog)
        learned = np.zeros(len(facets), dtype=bool)
        learned[facets.rows(similar.keys)[facets.rows(similar.keys) >= 0]] = True
        listed, counts = np.unique(similar.items, return_counts=True)
        popularity = np.zeros(len(facets), dtype=np.int64)
        rows = facets.rows(listed)
        popularity[rows[rows >= 0]] = counts[rows >= 0]
        albums = Facet.of(catalog.albums, len(facets)) if catalog.albums is not None else None
        levels: list[tuple[Relation, Facet, ByPopularity]] = []
        relations: tuple[tuple[Relation, Facet | None], ...] = (
            ("album", albums), ("artist", facets.artists), ("genre", facets.genres))
        for relation, facet in relations:
            if facet is not None:
                levels.append((relation, facet, ByPopularity.of(facet, learned, popularity, top)))
        return cls(facets, learned, tuple(levels))

    def lookup(self, item_id: int, k: int) -> tuple[list[int], list[float], list[Relation]]:
        """Up to `k` learned tracks sharing the track's album, artists or genres, best first; empty
        lists for a track the catalogue does not name (or one that has a learned list)."""
        row = int(self.facets.rows(np.array([item_id]))[0])
        if row < 0 or self.learned[row]:
            return [], [], []
        items: list[int] = []
        scores: list[float] = []
        relations: list[Relation] = []
        seen = {row}
        for relation, facet, by_popularity in self.levels:
            place = 0
            for code in facet.values[facet.offsets[row]:facet.offsets[row + 1]].tolist():
                for other in by_popularity.of_code(code).tolist():
                    if len(items) == k:
                        return items, scores, relations
                    if other in seen:
                        continue
                    seen.add(other)
                    items.append(int(self.facets.item_ids[other]))
                    scores.append(RELATION_SCORES[relation] - PLACE_STEP * place)
                    relations.append(relation)
                    place += 1
        return items, scores, relations


SimilarAnswer = tuple[list[int], list[float], list[Relation] | None]


@dataclass(frozen=True)
class SimilarIndex:
    """Similar tracks of a track: its learned list from similar.parquet, or for a new track (one the
    catalogue names without a learned list) its list by content, with each track's relation."""

    learned: RankedLists
    content: ContentSimilar | None = None

    @classmethod
    def of(cls, similar: RankedLists, catalog: TrackCatalog, top: int) -> SimilarIndex:
        return cls(similar, ContentSimilar.of(catalog, similar, top) if len(catalog) else None)

    @property
    def new_tracks(self) -> int:
        return 0 if self.content is None else int((~self.content.learned).sum())

    def lookup(self, item_id: int, k: int) -> SimilarAnswer:
        """Up to `k` similar tracks and scores, best first; relations only for a list by content."""
        items, scores = self.learned.lookup(item_id, k)
        if len(items) == 0 and self.content is not None:
            by_content, content_scores, relations = self.content.lookup(item_id, k)
            if by_content:
                return by_content, content_scores, relations
        return items.tolist(), scores.tolist(), None
