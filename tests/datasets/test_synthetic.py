"""The generated raw files of every shape: exact schemas, determinism, the mess real files have, and
the structure real listening shares, measured with assertions that uniformly random data would fail.
What tells the shapes apart is in test_shapes.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from tests.datasets.listens import listens_per_track, read_listens


@pytest.fixture(scope="module", params=SHAPE_NAMES)
def raw_dir(request: pytest.FixtureRequest, generated_raw: Callable[..., Path]) -> Path:
    return generated_raw(request.param)


@pytest.fixture(scope="module")
def listens(raw_dir: Path) -> pd.DataFrame:
    return read_listens(raw_dir)


def test_files_have_exactly_the_course_schemas(raw_dir: Path) -> None:
    for file_name, expected in schema.RAW_SCHEMAS.items():
        assert pq.read_schema(raw_dir / file_name).equals(expected, check_metadata=False), file_name


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_same_seed_gives_the_same_files_and_another_seed_does_not(shape: str, tmp_path: Path) -> None:
    tiny = get_scale("tiny", shape)
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, tiny, seed)

    for file_name in schema.RAW_FILES:
        first = pq.read_table(tmp_path / "a" / file_name)
        assert first.equals(pq.read_table(tmp_path / "b" / file_name)), file_name
        assert not first.equals(pq.read_table(tmp_path / "c" / file_name)), file_name


def test_listens_are_a_year_of_dated_sequences(listens: pd.DataFrame) -> None:
    unique = listens.drop_duplicates()
    expected_seq = unique.groupby(schema.USER_ID).cumcount() + 1
    assert (unique[schema.TRACK_SEQ].to_numpy() == expected_seq.to_numpy()).all()
    days = pd.to_datetime(unique[schema.STARTED_AT])
    assert days.min() >= pd.Timestamp("2022-01-01") and days.max() <= pd.Timestamp("2022-12-31")
    assert (days.groupby(unique[schema.USER_ID].to_numpy()).diff().dropna() >= pd.Timedelta(0)).all()
    assert not unique.duplicated([schema.USER_ID, schema.TRACK_ID]).any()  # a track once per user


def test_track_ids_are_sparse_like_the_real_ones(raw_dir: Path) -> None:
    track_ids = pq.read_table(raw_dir / schema.TRACKS_FILE).column(schema.TRACK_ID).to_numpy()

    assert np.unique(track_ids).size == track_ids.size
    assert track_ids.max() > 30 * track_ids.size


def test_files_carry_the_mess_of_real_files(raw_dir: Path, listens: pd.DataFrame) -> None:
    tracks = pq.read_table(raw_dir / schema.TRACKS_FILE).to_pandas()
    names = pq.read_table(raw_dir / schema.CATALOG_NAMES_FILE).to_pandas()
    named_tracks = set(names.loc[names[schema.TYPE] == "track", schema.ID])
    named_artists = set(names.loc[names[schema.TYPE] == "artist", schema.ID])
    all_artists = set(np.concatenate(tracks[schema.ARTISTS].to_numpy()))

    assert (tracks[schema.GENRES].map(len) == 0).sum() > 0
    assert (tracks[schema.ALBUMS].map(len) == 0).sum() > 0
    assert len(set(tracks[schema.TRACK_ID]) - named_tracks) > 0
    assert len(all_artists - named_artists) > 0
    assert listens.duplicated().sum() > 0
    assert (~listens[schema.TRACK_ID].isin(tracks[schema.TRACK_ID])).sum() > 0
    assert (~tracks[schema.TRACK_ID].isin(listens[schema.TRACK_ID])).sum() > 0


def test_track_popularity_is_heavy_tailed(raw_dir: Path, listens: pd.DataFrame) -> None:
    counts = listens_per_track(raw_dir, listens)
    top_share = counts[-len(counts) // 100 :].sum() / counts.sum()

    assert top_share > 0.08  # uniform: about 0.015 (course), 0.03 (playlists)
    assert counts.max() > 30 * np.median(counts[counts > 0])  # uniform: 2-4x


def test_user_activity_is_heavy_tailed(listens: pd.DataFrame) -> None:
    per_user = listens[schema.USER_ID].value_counts()

    assert per_user.quantile(0.9) > 3 * per_user.median()  # uniform: about 1.2x
    assert per_user.max() > 10 * per_user.median()


def test_users_concentrate_on_a_few_genres(listens: pd.DataFrame) -> None:
    def top3_share(frame: pd.DataFrame) -> float:
        known = frame[frame[schema.GENRES] >= 0]
        per_genre = known.groupby([schema.USER_ID, schema.GENRES]).size().sort_values(ascending=False)
        top3 = per_genre[per_genre.groupby(level=0).cumcount() < 3].groupby(level=0).sum()
        total = per_genre.groupby(level=0).sum()
        return float((top3 / total)[total >= 20].median())

    shuffled_genres = listens[schema.GENRES].sample(frac=1, random_state=0).to_numpy()
    random_tracks = listens.assign(**{schema.GENRES: shuffled_genres})
    assert top3_share(listens) > 0.7
    assert top3_share(listens) > top3_share(random_tracks) + 0.25


def test_tastes_drift_over_time(listens: pd.DataFrame) -> None:
    """A user's early and late genres overlap less than two interleaved halves of the same history."""
    known = listens[listens[schema.GENRES] >= 0].copy()
    position = known.groupby(schema.USER_ID).cumcount()
    length = known.groupby(schema.USER_ID)[schema.USER_ID].transform("size")
    known = known[length >= 40]
    position, length = position[known.index], length[known.index]

    def overlap(half: pd.Series) -> float:
        shares = known.groupby([schema.USER_ID, half, schema.GENRES]).size()
        shares = shares / shares.groupby(level=[0, 1]).transform("sum")
        wide = shares.unstack(level=1, fill_value=0.0)
        return float(np.minimum(wide[False], wide[True]).groupby(level=0).sum().median())

    early_vs_late = overlap((position >= length // 2).rename("half"))
    odd_vs_even = overlap((position % 2 == 1).rename("half"))
    assert early_vs_late < odd_vs_even - 0.1


def test_listening_grows_over_the_year(listens: pd.DataFrame) -> None:
    months = pd.to_datetime(listens[schema.STARTED_AT]).dt.month

    assert (months >= 10).sum() > 1.1 * (months <= 3).sum()
