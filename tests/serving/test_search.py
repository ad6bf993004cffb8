"""Track search over names and artists, on a hand-made catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

from musicrec.serving import search
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.search import build_search
from tests.artifact_factory import write_artifact_set

TRACKS = {  # id: (name, artists)
    3: ("Night River", ["The Hollow"]),
    5: ("Riverside", ["Dj River"]),
    7: ("Silver Night", []),
    9: (None, ["Nightwish"]),
    11: ("Ночной Город", ["Кино"]),
    13: ("Summer", ["Mc Night", "Lil Sun"]),
}


def _catalog() -> TrackCatalog:
    ids = sorted(TRACKS)
    return TrackCatalog(
        item_ids=np.array(ids, dtype=np.int32),
        names=pa.array([TRACKS[item][0] for item in ids], pa.string()),
        artists=pa.array([TRACKS[item][1] for item in ids], pa.list_(pa.string())),
        genres=pa.array([[] for _ in ids], pa.list_(pa.string())),
    )


def test_title_starts_first_then_words_then_inside_then_artists() -> None:
    index = build_search(_catalog(), popular=np.array([], dtype=np.int32))
    # "Night River" starts with it; "Silver Night" has a word starting with it; 13's and 9's
    # artists match (in id order)
    assert index.find("night", 10) == [3, 7, 9, 13]
    assert index.find("river", 10) == [5, 3]  # Riverside starts with it, Night River has the word
    assert index.find("iver", 10) == []  # words are found by their start


def test_words_in_any_order_the_last_one_unfinished() -> None:
    index = build_search(_catalog(), popular=np.array([], dtype=np.int32))
    assert index.find("night riv", 10) == [3]
    assert index.find("hollow night", 10) == [3]  # not as written: after the matches that are
    assert index.find("nig river", 10) == []  # only the last word may be unfinished
    assert index.find("dj river", 10) == [5]  # Dj River's "Riverside": the artist holds the query
    assert index.find("lil s", 10) == [13]
    assert index.find("r", 10) == [5, 3]  # Riverside starts with r; Night River has a word that does


def test_case_spaces_and_unicode() -> None:
    index = build_search(_catalog(), popular=np.array([], dtype=np.int32))
    assert index.find("  NIGHT   river ", 10) == [3]
    assert index.find("ночной", 10) == [11]
    assert index.find("КИНО", 10) == [11]
    assert index.find("zzz", 10) == []
    assert index.find(" ", 10) == []


def test_popular_tracks_come_first_among_equal_matches() -> None:
    index = build_search(_catalog(), popular=np.array([13, 9, 99, 13], dtype=np.int32))
    assert index.find("night", 10) == [3, 7, 13, 9]  # better matches lead; of the artists, 13 is popular
    assert index.item_ids.tolist() == [13, 9, 3, 5, 7, 11]


def test_a_match_never_spans_two_lines() -> None:
    index = build_search(_catalog(), popular=np.array([], dtype=np.int32))
    assert index.find("hollowriverside", 10) == []
    assert index.find("hollow riverside", 10) == []


def test_candidates_bound_the_work(monkeypatch) -> None:
    monkeypatch.setattr(search, "CANDIDATES", 2)
    index = build_search(_catalog(), popular=np.array([], dtype=np.int32))
    assert index.find("night", 10) == [3, 7]  # only the first two lines that match were looked at


def test_empty_catalog() -> None:
    index = build_search(TrackCatalog.empty(), popular=np.array([1, 2], dtype=np.int32))
    assert len(index) == 0 and index.find("x", 5) == []


def test_building_and_answering_do_not_import_pandas(tmp_path: Path) -> None:
    """pa.array() and Python strings given to Arrow import pandas (0.3-0.4 s of a start-up)."""
    folder = write_artifact_set(tmp_path)
    probe = ("import sys; from pathlib import Path; from musicrec.serving.catalog import load_catalog; "
             "from musicrec.serving.artifact_reading import load_top_popular; "
             "from musicrec.serving.search import build_search; "
             f"folder = Path({str(folder)!r}); catalog = load_catalog(folder); "
             "index = build_search(catalog, load_top_popular(folder)); "
             "print(catalog.details(index.find('track 4', 2)), 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False"), out
    assert "Track 40" in out and "Track 41" in out
