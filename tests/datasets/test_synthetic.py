"""The generated raw files: exact schemas, determinism, the mess real files have, and the structure
of real listening, measured with assertions that uniformly random data would fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.synthetic import generate


@pytest.fixture(scope="module")
def listens(tiny_raw_dir: Path) -> pd.DataFrame:
    """Tiny listens with each track's first artist and genre (-1 when it has none or is unknown)."""
    listens = pq.read_table(tiny_raw_dir / schema.INTERACTIONS_FILE).to_pandas()
    tracks = pq.read_table(tiny_raw_dir / schema.TRACKS_FILE).to_pandas().set_index(schema.TRACK_ID)
    for column in (schema.ARTISTS, schema.GENRES):
        first = tracks[column].map(lambda ids: ids[0] if len(ids) else -1)
        listens[column] = listens[schema.TRACK_ID].map(first).fillna(-1).astype(np.int64)
    return listens.sort_values([schema.USER_ID, schema.TRACK_SEQ], kind="stable").reset_index(drop=True)


def _shuffled_within_users(listens: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The same listens of each user in random order: same tastes, no sessions, no time."""
    noise = np.random.default_rng(seed).random(len(listens))
    order = np.lexsort((noise, listens[schema.USER_ID].to_numpy()))
    return listens.iloc[order].reset_index(drop=True)


def _same_as_previous(listens: pd.DataFrame, column: str) -> float:
    users = listens[schema.USER_ID].to_numpy()
    values = listens[column].to_numpy()
    same_user = users[1:] == users[:-1]
    return float(((values[1:] == values[:-1]) & (values[1:] >= 0))[same_user].mean())


def test_files_have_exactly_the_course_schemas(tiny_raw_dir: Path) -> None:
    for file_name, expected in schema.RAW_SCHEMAS.items():
        assert pq.read_schema(tiny_raw_dir / file_name).equals(expected, check_metadata=False), file_name


def test_same_seed_gives_the_same_files_and_another_seed_does_not(tmp_path: Path) -> None:
    tiny = get_scale("tiny")
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


def test_track_ids_are_sparse_like_the_real_ones(tiny_raw_dir: Path) -> None:
    track_ids = pq.read_table(tiny_raw_dir / schema.TRACKS_FILE).column(schema.TRACK_ID).to_numpy()

    assert np.unique(track_ids).size == track_ids.size
    assert track_ids.max() > 30 * track_ids.size


def test_files_carry_the_mess_of_real_files(tiny_raw_dir: Path, listens: pd.DataFrame) -> None:
    tracks = pq.read_table(tiny_raw_dir / schema.TRACKS_FILE).to_pandas()
    names = pq.read_table(tiny_raw_dir / schema.CATALOG_NAMES_FILE).to_pandas()
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


def test_track_popularity_is_heavy_tailed(tiny_raw_dir: Path, listens: pd.DataFrame) -> None:
    track_ids = pq.read_table(tiny_raw_dir / schema.TRACKS_FILE).column(schema.TRACK_ID).to_pandas()
    counts = listens[schema.TRACK_ID].value_counts().reindex(track_ids, fill_value=0).sort_values().to_numpy()
    top_share = counts[-len(counts) // 100 :].sum() / counts.sum()

    assert top_share > 0.08  # uniform: about 0.015
    assert np.median(counts) < counts.mean() / 2  # uniform: about equal


def test_user_activity_is_heavy_tailed(listens: pd.DataFrame) -> None:
    per_user = listens[schema.USER_ID].value_counts()

    assert per_user.quantile(0.9) > 3 * per_user.median()  # uniform: about 1.2x
    assert per_user.max() > 10 * per_user.median()


def test_users_concentrate_on_a_few_genres(listens: pd.DataFrame) -> None:
    def top3_share(frame: pd.DataFrame) -> float:
        known = frame[frame[schema.GENRES] >= 0]
        per_genre = known.groupby([schema.USER_ID, schema.GENRES]).size()
        top3 = per_genre.groupby(level=0).nlargest(3).groupby(level=0).sum()
        total = per_genre.groupby(level=0).sum()
        return float((top3 / total)[total >= 20].median())

    shuffled_genres = listens[schema.GENRES].sample(frac=1, random_state=0).to_numpy()
    random_tracks = listens.assign(**{schema.GENRES: shuffled_genres})
    assert top3_share(listens) > 0.7
    assert top3_share(listens) > top3_share(random_tracks) + 0.25


def test_consecutive_listens_stay_with_the_artist_and_genre(listens: pd.DataFrame) -> None:
    shuffled = _shuffled_within_users(listens)

    assert _same_as_previous(listens, schema.ARTISTS) > 2.5 * _same_as_previous(shuffled, schema.ARTISTS)
    assert _same_as_previous(listens, schema.GENRES) > 1.3 * _same_as_previous(shuffled, schema.GENRES)


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
