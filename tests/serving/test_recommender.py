"""Recommender options added for the replay tuning: merge by sum, filtering heard tracks, the builder.

Indexes come from tests/artifact_factory.py: user 1's offline list is 10, 11, 12, 13; similar:
10 -> 11 (0.9), 12 (0.5), 40 (0.25); 11 -> 10 (0.75), 41 (0.5); 40 -> 41 (1.0), 10 (0.125).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from musicrec.errors import DependencyUnavailable
from musicrec.replay.inprocess import InMemoryListens, InMemorySimilar
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.blending import AlternateBlend, SumMerge, WeightedBlend
from musicrec.serving.history import EventKind, History
from musicrec.serving.recommender import Recommender, build_recommender
from musicrec.serving.selection import ListOptions
from musicrec.settings import load_settings
from tests.artifact_factory import write_artifact_set


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


def _recommender(folder: Path, history: list[int], kinds: list[EventKind] | None = None,
                 **options: object) -> Recommender:
    """User 1's events are `history`, newest first, of `kinds` (listens unless given)."""
    listens = InMemoryListens(20)
    default: list[EventKind] = ["listen"] * len(history)
    for item, kind in reversed(list(zip(history, kinds or default))):
        listens.put(1, item, kind)
    options = {"blend": AlternateBlend(), **options}
    return Recommender(
        personal=load_recommendations(folder), popular=load_top_popular(folder), listens=listens,
        similar=InMemorySimilar(load_similar(folder)), online_history=2,
        similar_per_listen=10, **options,  # type: ignore[arg-type]  # each test passes the options it names
    )


def test_defaults_keep_the_course_behaviour(folder: Path) -> None:
    recommender = _recommender(folder, [40, 10, 11])
    assert asyncio.run(recommender.online(1, 10)).recs == [41, 11, 12]  # seeds 40, 10; both dropped
    assert asyncio.run(recommender.blended(1, 10)).recs == [10, 41, 11, 12, 13]  # 10 heard, still offered
    assert asyncio.run(recommender.offline(1, 10)).recs == [10, 11, 12, 13]  # the course's list


def test_filter_heard_drops_recent_listens_from_both_parts(folder: Path) -> None:
    recommender = _recommender(folder, [40, 10, 11], filter_heard=True, heard_window=5)
    # seeds are still the latest two (40, 10); 11, heard three listens ago, is dropped too
    assert asyncio.run(recommender.online(1, 10)).recs == [41, 12]
    assert asyncio.run(recommender.blended(1, 10)).recs == [12, 41, 13]
    assert asyncio.run(recommender.blended(1, 2)).recs == [12, 41]
    # offline: 10 and 11 were just heard; as long as before, from deeper down, then top popular (30 10 20)
    assert asyncio.run(recommender.offline(1, 4)).recs == [12, 13, 30, 20]
    assert asyncio.run(recommender.offline(1, 2, ListOptions(offset=2))).recs == [30, 20]


def test_merge_by_sum(folder: Path) -> None:
    recommender = _recommender(folder, [11, 40], merge=SumMerge())
    # 41: 0.5 + 1.0; 10: 0.75 + 0.125 -- max would give 41, 10 as well, but with scores 1.0 and 0.75
    answer = asyncio.run(recommender._online_scored(1, 10, ListOptions()))
    assert answer[0].items == [41, 10]
    assert answer[0].scores == pytest.approx([1.5, 0.875])


def test_build_recommender_reads_the_serving_settings(folder: Path) -> None:
    settings = load_settings(environ={
        "MUSICREC_SERVING__ONLINE_MERGE": "sum", "MUSICREC_SERVING__FILTER_HEARD": "true",
        "MUSICREC_SERVING__BLEND": "weighted", "MUSICREC_SERVING__ONLINE_WEIGHT": "0.25",
        "MUSICREC_SERVING__ONLINE_HISTORY": "4", "MUSICREC_EVENTS__MAX_PER_USER": "7",
    })
    recommender = build_recommender(load_recommendations(folder), load_top_popular(folder), InMemoryListens(7),
                                    InMemorySimilar(load_similar(folder)), settings)
    assert recommender.merge == SumMerge()
    assert (recommender.filter_heard, recommender.heard_window, recommender.online_history) == (True, 7, 4)
    assert recommender.blend == WeightedBlend(online_weight=0.25)


def test_a_disliked_track_never_comes_back(folder: Path) -> None:
    recommender = _recommender(folder, [40, 10, 11], ["listen", "listen", "dislike"])
    # online: 40 -> 41, (10); 10 -> (11), 12, (40): 11 is dropped like the seeds, and 12 takes its place
    assert asyncio.run(recommender.online(1, 10)).recs == [41, 12]
    # as long as before: deeper in the list, then top popular (30 10 20 40 41) make up for 11
    assert asyncio.run(recommender.offline(1, 10)).recs == [10, 12, 13, 30]
    assert asyncio.run(recommender.offline(1, 2)).recs == [10, 12]
    assert asyncio.run(recommender.blended(1, 10)).recs == [10, 41, 12, 13, 30]


def test_a_skipped_track_is_no_seed_and_moves_to_the_end(folder: Path) -> None:
    recommender = _recommender(folder, [11, 10], ["skip", "listen"])
    # the only seed is 10 (11 as a seed would have brought 41): 11, 12, 40 without 10, then 11 last
    assert asyncio.run(recommender.online(1, 10)).recs == [12, 40, 11]
    assert asyncio.run(recommender.offline(1, 10)).recs == [10, 12, 13, 11]
    assert asyncio.run(recommender.offline(1, 3)).recs == [10, 12, 13]


def test_a_listen_after_a_skip_cancels_it() -> None:
    history = History([7, 8, 7, 9], ["listen", "skip", "skip", "dislike"], frozenset({9}))
    assert (history.listened, history.skipped) == ([7], frozenset({8}))


class DownEvents:
    async def history(self, user_id: int, k: int) -> History:
        raise DependencyUnavailable("events service at http://events/get: refused")


def test_offline_without_the_events_service_is_degraded_but_answers(folder: Path) -> None:
    recommender = Recommender(
        personal=load_recommendations(folder), popular=load_top_popular(folder), listens=DownEvents(),
        similar=InMemorySimilar(load_similar(folder)), blend=AlternateBlend(), online_history=2,
        similar_per_listen=10)
    answer = asyncio.run(recommender.offline(1, 10))
    assert (answer.recs, answer.failed) == ([10, 11, 12, 13], ["events"])


def test_pages_of_one_size_make_up_the_longer_list(folder: Path) -> None:
    recommender = _recommender(folder, [40, 10, 11], blend=WeightedBlend(0.7), filter_heard=True,
                               heard_window=5)
    whole = asyncio.run(recommender.blended(1, 4)).recs
    pages = [asyncio.run(recommender.blended(1, 2, ListOptions(offset=offset))).recs for offset in (0, 2)]
    assert pages[0] + pages[1] == whole == [41, 12, 13]


def test_the_similar_tracks_asked_for_cover_the_page_and_what_is_taken_out(folder: Path) -> None:
    recommender = _recommender(folder, [40], max_similar=30)
    none = History()
    assert recommender._similar_depth(5, ListOptions(), none, 0) == 10  # similar_per_listen
    assert recommender._similar_depth(5, ListOptions(offset=20, exclude=frozenset({1})), none, 0) == 26
    assert recommender._similar_depth(5, ListOptions(offset=100), none, 0) == 30  # the features service's most
    assert recommender._similar_depth(5, ListOptions(genres=("pop",)), none, 0) == 30
    assert recommender._similar_depth(5, ListOptions(), none, 20) == 20  # the weighted blend's stable depth
