"""The notebook's tables on tiny hand-made events and items, with exact expected values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.errors import NotFound
from musicrec.pipeline import explore

D = date  # short for the tables below


def events_table(rows: list[tuple[int, int, date, int]]) -> pa.Table:
    users, items, days, seqs = zip(*rows)
    return pa.table({schema.USER_ID: users, schema.ITEM_ID: items, schema.STARTED_AT: days,
                     schema.TRACK_SEQ: seqs}, schema=schema.EVENTS_SCHEMA)


# user 1: 10, 11, 10 (Jan 30 - Feb 1); user 2: 10, 12 (Feb 1 - Feb 3); user 3: 10 (Mar 1)
EVENTS = events_table([
    (1, 10, D(2022, 1, 30), 1), (1, 11, D(2022, 1, 31), 2), (1, 10, D(2022, 2, 1), 3),
    (2, 12, D(2022, 2, 3), 2), (2, 10, D(2022, 2, 1), 1),
    (3, 10, D(2022, 3, 1), 1),
])
ITEMS = pa.table({
    schema.ITEM_ID: [10, 11, 12, 13],
    schema.NAME: ["Ten", "Eleven", None, "Thirteen"],
    schema.ARTISTS: [["A"], ["A", "B"], [], ["C"]],
    schema.ALBUMS: [["X"], ["X"], ["Y"], ["Z"]],
    schema.GENRES: [["rock"], ["rock", "pop"], ["jazz"], ["jazz"]],
}, schema=schema.ITEMS_SCHEMA)


def test_listens_per_day_covers_every_day_including_silent_ones() -> None:
    daily = explore.listens_per_day(EVENTS)
    assert daily[schema.STARTED_AT].dt.date.tolist()[:4] == [D(2022, 1, 30), D(2022, 1, 31), D(2022, 2, 1),
                                                             D(2022, 2, 2)]
    assert len(daily) == 31  # Jan 30 .. Mar 1
    assert daily[schema.LISTENS].tolist()[:5] == [1, 1, 2, 0, 1]
    assert daily[schema.LISTENS].iloc[-1] == 1 and daily[schema.LISTENS].sum() == 6


def test_listens_per_month() -> None:
    monthly = explore.listens_per_month(EVENTS)
    assert monthly[schema.MONTH].tolist() == ["2022-01", "2022-02", "2022-03"]
    assert monthly[schema.LISTENS].tolist() == [2, 3, 1]


def test_popularity_distribution_counts_tracks_per_listen_count() -> None:
    # 10: 4 listens, 11: 1, 12: 1 (13 never played, left out)
    frame = explore.popularity_distribution(EVENTS)
    assert frame[schema.LISTENS].tolist() == [1, 4]
    assert frame[schema.TRACKS].tolist() == [2, 1]


def test_history_lengths_counts_users_per_history_length() -> None:
    frame = explore.history_lengths(EVENTS)
    assert frame[schema.LISTENS].tolist() == [1, 2, 3]
    assert frame[schema.USERS].tolist() == [1, 1, 1]


def test_top_genres_count_listens_of_every_genre_of_a_track_and_unplayed_tracks() -> None:
    # rock: 10 (4) + 11 (1) = 5; pop: 11 (1); jazz: 12 (1) + 13 (0), two tracks
    frame = explore.top_genres(EVENTS, ITEMS)
    assert frame[schema.NAME].tolist() == ["rock", "jazz", "pop"]  # jazz before pop: tie, by name
    assert frame[schema.LISTENS].tolist() == [5, 1, 1]
    assert frame[schema.TRACKS].tolist() == [2, 2, 1]
    assert explore.top_genres(EVENTS, ITEMS, n=1)[schema.NAME].tolist() == ["rock"]


def test_with_names_joins_lists_and_leaves_unknown_tracks_empty() -> None:
    frame = explore.with_names(pd.DataFrame({schema.ITEM_ID: [11, 99, 12]}), ITEMS)
    assert frame[schema.NAME].iloc[0] == "Eleven"
    assert pd.isna(frame[schema.NAME].iloc[1]) and pd.isna(frame[schema.NAME].iloc[2])
    assert frame[schema.ARTISTS].iloc[0] == "A, B" and frame[schema.ARTISTS].iloc[2] == ""
    assert pd.isna(frame[schema.ARTISTS].iloc[1])
    assert frame[schema.GENRES].iloc[0] == "rock, pop"


def test_user_history_is_in_track_seq_order_with_names() -> None:
    history = explore.user_history(EVENTS, ITEMS, 2)
    assert history[schema.ITEM_ID].tolist() == [10, 12]
    assert history[schema.TRACK_SEQ].tolist() == [1, 2]
    assert history[schema.NAME].iloc[0] == "Ten"
    assert explore.user_history(EVENTS, ITEMS, 1, last=2)[schema.ITEM_ID].tolist() == [11, 10]
    assert explore.user_history(EVENTS, ITEMS, 1, before=D(2022, 2, 1))[schema.ITEM_ID].tolist() == [10, 11]


def test_user_history_of_an_unknown_user_is_not_found() -> None:
    with pytest.raises(NotFound, match="user 42"):
        explore.user_history(EVENTS, ITEMS, 42)
    with pytest.raises(NotFound, match="user 3 has no listens before 2022-03-01"):
        explore.user_history(EVENTS, ITEMS, 3, before=D(2022, 3, 1))


def test_tracks_listened_since() -> None:
    assert explore.tracks_listened_since(EVENTS, 1, D(2022, 1, 31)).tolist() == [10, 11]
    assert explore.tracks_listened_since(EVENTS, 1, D(2022, 2, 2)).tolist() == []


RANKED = pa.table({
    schema.USER_ID: [1, 1, 1, 2],
    schema.ITEM_ID: [12, 13, 11, 11],
    schema.SCORE: [0.9, 0.5, 0.1, 0.7],
    schema.RANK: [1, 2, 3, 1],
}, schema=schema.RECOMMENDATIONS_SCHEMA)


def test_ranked_for_user_keeps_k_in_rank_order_and_marks_later_listens() -> None:
    frame = explore.ranked_for_user(RANKED, ITEMS, 1, k=2, heard_later=np.array([13, 99]))
    assert frame[schema.RANK].tolist() == [1, 2]
    assert frame[schema.ITEM_ID].tolist() == [12, 13]
    assert frame[schema.NAME].iloc[1] == "Thirteen"
    assert frame[schema.HEARD_LATER].tolist() == [False, True]


def test_similar_for_is_best_first_with_names() -> None:
    similar = pa.table({schema.ITEM_ID_1: [10, 10, 10, 11], schema.ITEM_ID_2: [13, 11, 12, 10],
                        schema.SCORE: [0.2, 0.9, 0.5, 0.9]}, schema=schema.SIMILAR_SCHEMA)
    frame = explore.similar_for(similar, ITEMS, 10, k=2)
    assert frame[schema.ITEM_ID].tolist() == [11, 12]
    assert frame[schema.SCORE].tolist() == pytest.approx([0.9, 0.5])
    assert frame[schema.ARTISTS].tolist() == ["A, B", ""]
    with pytest.raises(NotFound, match="track 13"):
        explore.similar_for(similar, ITEMS, 13)


def test_example_user_is_the_median_active_user_with_recommendations_and_later_listens() -> None:
    # before Feb 1: user 1 has 2 listens; users 4, 5 have 1 and 3; all listen again from Feb 1
    events = pa.concat_tables([EVENTS, events_table([
        (4, 11, D(2022, 1, 1), 1), (4, 12, D(2022, 2, 5), 2),
        (5, 10, D(2022, 1, 1), 1), (5, 11, D(2022, 1, 2), 2), (5, 12, D(2022, 1, 3), 3),
        (5, 13, D(2022, 2, 9), 4),
    ])])
    ranked = pa.table({schema.USER_ID: [1, 2, 3, 4, 5], schema.ITEM_ID: [13] * 5,
                       schema.SCORE: [1.0] * 5, schema.RANK: [1] * 5}, schema=schema.RECOMMENDATIONS_SCHEMA)
    # users 2 and 3 have no listens before Feb 1; of 4 (1), 1 (2), 5 (3) the median is user 1
    assert explore.example_user(events, ranked, D(2022, 2, 1)) == 1
    # with user 5 out of the recommendations: 4 (1), 1 (2) -> the lower median, user 4
    assert explore.example_user(events, ranked.slice(0, 4), D(2022, 2, 1)) == 4
    with pytest.raises(NotFound):
        explore.example_user(events, ranked.slice(1, 2), D(2022, 2, 1))
    # from Feb 1, user 1 heard one distinct track (10), user 4 one (12), user 5 one (13)
    assert explore.example_user(events, ranked, D(2022, 1, 31), min_later_tracks=2) == 1
    with pytest.raises(NotFound, match="2\\+ tracks"):
        explore.example_user(events, ranked, D(2022, 2, 1), min_later_tracks=2)


def test_metrics_frame_has_one_row_per_model_and_cold_users_last() -> None:
    report = {
        "models": {"random": {"ndcg@10": 0.01, "recall@10": 0.02},
                   "ranker": {"ndcg@10": 0.2, "recall@10": 0.3}},
        "cold_users": {"users": 5, "popular": {"ndcg@10": 0.1, "recall@10": 0.15}},
    }
    frame = explore.metrics_frame(report)
    assert frame.index.tolist() == ["random", "ranker", explore.COLD_USERS_ROW]
    assert frame.columns.tolist() == ["ndcg@10", "recall@10"]
    assert frame.loc["ranker", "recall@10"] == 0.3


def test_ensure_raw_data_keeps_existing_files(tmp_path: Path) -> None:
    for name in schema.RAW_FILES:
        pq.write_table(pa.table({"x": [1]}), tmp_path / name)
    assert explore.ensure_raw_data(tmp_path, "tiny", seed=1) is None
    assert pq.read_table(tmp_path / schema.TRACKS_FILE).column_names == ["x"]  # untouched
