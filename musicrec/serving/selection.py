"""From a route's ranking to the tracks an answer holds: exclusions, filters, skips, the artist cap, a page.

Every recommendation route ranks a pool of tracks deeper than `k` (the default list: top popular; the
offline one: the whole personal list; online: enough similar tracks; blended: both blended in full)
and hands it here with what the caller asked (`ListOptions`) and what the user did (`History`):

1. tracks the caller excludes (`exclude=`), the user disliked, or that do not match `genre=` /
   `artist=` are taken out;
2. tracks the user skipped move after the rest of the pool;
3. a route that may (every one but online) continues the pool with a tail: top popular, then the
   rest of the catalogue in id order, through the same filters;
4. the artist cap: the ranking is cut into windows of `k` tracks (the pages), and each holds at most
   `ceil(max_per_artist * k / 10)` tracks of one main artist; a track over the cap waits for the
   next window, where it comes first. With `artist=` the cap is off: the caller asked for those
   artists. Tracks without a known artist are never capped;
5. the answer is the ranking's tracks `offset .. offset + k`.

How long the ranking may grow: up to `offset + k` tracks when a genre or artist filter is given (the
tail makes up what the pool lacks); otherwise no longer than the pool itself, so an answer without
new parameters has as many tracks as before, and what the rules took out is replaced from deeper
in the pool, or from the tail when the pool runs out. The ranking depends on the user's events, the
options and `k`, never on `offset`, so consecutive pages of one size neither repeat nor skip a track.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from musicrec.serving.facets import NO_CODE, TrackFacets
from musicrec.serving.history import NO_HISTORY, History

CAP_PER = 10  # `max_per_artist` counts tracks of one artist per this many tracks of a list
CHUNK = 256  # tracks filtered at a time: the pool, then the tail, is looked at in chunks this long


@dataclass(frozen=True)
class ListOptions:
    """What a caller asks of a list besides its length `k`."""

    offset: int = 0
    exclude: frozenset[int] = field(default_factory=frozenset)
    genres: tuple[str, ...] = ()
    artists: tuple[str, ...] = ()
    max_per_artist: int | None = None  # per CAP_PER tracks; None: the route's default; 0: no cap

    @property
    def filters(self) -> bool:
        """A genre or artist filter: the list is filled to `offset + k` from the catalogue if need be."""
        return bool(self.genres or self.artists)


NO_OPTIONS = ListOptions()


def cap_for(max_per_artist: int, k: int) -> int | None:
    """Tracks of one artist allowed in a window of `k`: `max_per_artist` per 10, scaled; None when off."""
    if max_per_artist <= 0:
        return None
    return max(1, math.ceil(max_per_artist * k / CAP_PER))


class TrackFilter:
    """The genre and artist filters of one request (a track must pass both), as catalogue codes."""

    def __init__(self, facets: TrackFacets, options: ListOptions) -> None:
        self.facets = facets
        self.genres = facets.genres.code_set(options.genres) if options.genres else None
        self.artists = facets.artists.code_set(options.artists) if options.artists else None

    def passes(self, items: np.ndarray) -> np.ndarray:
        """Whether each track passes; a track the catalogue does not name has no genre or artist."""
        rows = self.facets.rows(items)
        passing = np.ones(len(items), dtype=bool)
        if self.genres is not None:
            passing &= self.facets.genres.has_any(rows, self.genres)
        if self.artists is not None:
            passing &= self.facets.artists.has_any(rows, self.artists)
        return passing

    def catalogue(self, enough: int) -> Iterator[int]:
        """Catalogue tracks that pass, in id order; with one filter only, the first `enough` are plenty."""
        facets = self.facets
        if self.artists is not None:  # artists narrow the most: list their tracks, test the genres
            rows = facets.artists.rows_of(self.artists)
        else:
            assert self.genres is not None
            rows = facets.genres.rows_of(self.genres)
        if self.genres is None or self.artists is None:
            yield from facets.item_ids[rows[:enough]].tolist()
            return
        for start in range(0, len(rows), CHUNK):
            items = facets.item_ids[rows[start:start + CHUNK]]
            yield from items[self.passes(items)].tolist()


@dataclass(frozen=True)
class Selector:
    """Applies the rules above with the catalogue's artists and genres (`facets`)."""

    facets: TrackFacets
    popular: np.ndarray  # where the tail starts

    def select(self, pool: np.ndarray | Sequence[int], k: int, options: ListOptions = NO_OPTIONS,
               history: History = NO_HISTORY, *, removed: Iterable[int] = (), cap: int = 0,
               tail: bool = True) -> list[int]:
        """The answer's tracks from `pool` (best first).

        `removed`: more tracks to take out (the heard ones); `cap`: the route's `max_per_artist` when
        the options name none; `tail`: whether the route may continue its pool from the catalogue.
        """
        page_end = options.offset + k
        length = page_end if options.filters else min(page_end, len(pool))
        if length <= options.offset:
            return []
        taken_out = options.exclude | history.disliked | frozenset(removed)
        track_filter = TrackFilter(self.facets, options) if options.filters else None
        per_window = None if options.artists else cap_for(
            cap if options.max_per_artist is None else options.max_per_artist, k)
        if not (taken_out or history.skipped or track_filter or per_window):  # the course's calls
            head = pool[options.offset:length]
            return head.tolist() if isinstance(head, np.ndarray) else list(head)
        ranked = self._ranked(pool, tail, taken_out, history.skipped, track_filter, length)
        if per_window is None:
            return list(islice(ranked, options.offset, length))
        return capped(self._with_artists(ranked, first=2 * length), k, per_window, length)[options.offset:]

    def _ranked(self, pool: np.ndarray | Sequence[int], tail: bool, taken_out: frozenset[int], skipped: frozenset[int],
                track_filter: TrackFilter | None, length: int) -> Iterator[int]:
        """The pool then the tail, without repeats and what is taken out, skipped tracks after the pool."""
        seen: set[int] = set()
        later: list[int] = []
        sources: list[Iterable[int]] = [pool]
        if tail:
            enough = length + len(pool) + len(self.popular)  # even if all of those pass and are seen
            catalogue = (track_filter.catalogue(enough) if track_filter is not None
                         else (int(item) for item in self.facets.item_ids))
            sources += [self.popular, catalogue]
        for position, source in enumerate(sources):
            for chunk in _chunks(source):
                if track_filter is not None and position < 2:  # the catalogue part passed already
                    chunk = [item for item, ok in zip(chunk, track_filter.passes(np.asarray(chunk))) if ok]
                for item in chunk:
                    if item in seen or item in taken_out:
                        continue
                    seen.add(item)
                    if item in skipped:
                        later.append(item)
                    else:
                        yield item
            if position == 0:  # skipped tracks of the pool come right after it
                yield from later
                later = []
        yield from later

    def _with_artists(self, ranked: Iterator[int], first: int) -> Iterator[tuple[int, int]]:
        """Each track with the code of its main artist, looked up a chunk at a time: `first` tracks,
        then twice as many each time up to CHUNK, so a cap that rarely binds ranks little more than
        the list it fills."""
        size = max(1, min(first, CHUNK))
        while chunk := list(islice(ranked, size)):
            yield from zip(chunk, self.facets.main_artists(np.asarray(chunk, dtype=np.int64)).tolist())
            size = min(2 * size, CHUNK)


def capped(ranked: Iterable[tuple[int, int]], k: int, per_window: int, length: int) -> list[int]:
    """The first `length` tracks of `ranked` ((track, main artist) pairs) in windows of `k`, each
    holding at most `per_window` tracks of one artist (NO_CODE: not capped). A track over the cap
    waits, and the waiting tracks come first in the next window; when the ranking is used up and no
    waiting track fits the window, the list ends there."""
    result: list[int] = []
    waiting: list[tuple[int, int]] = []
    counts: Counter[int] = Counter()

    def fits(artist: int) -> bool:
        return artist == NO_CODE or counts[artist] < per_window

    def place(item: int, artist: int) -> bool:
        """Append the track; True when that completed a window (the next one starts empty)."""
        result.append(item)
        counts[artist] += 1
        if len(result) % k:
            return False
        counts.clear()
        return True

    def place_waiting() -> None:
        """Waiting tracks that fit, in their order, until none fits (windows may complete meanwhile)."""
        while len(result) < length:
            index = next((index for index, (_, artist) in enumerate(waiting) if fits(artist)), None)
            if index is None:
                return
            place(*waiting.pop(index))

    for item, artist in ranked:
        if len(result) >= length:
            break
        if not fits(artist):
            waiting.append((item, artist))
        elif place(item, artist):
            place_waiting()
    place_waiting()
    return result


def _chunks(items: Iterable[int]) -> Iterator[list[int]]:
    """`items` as lists of up to CHUNK Python ints (numpy arrays are converted a chunk at a time)."""
    if isinstance(items, np.ndarray):
        for start in range(0, len(items), CHUNK):
            yield items[start:start + CHUNK].tolist()
        return
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk
