"""Drawing the replay sample: test period only, time order, seeded, capped, groups marked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.replay.sample import EvaluationPeriod, draw_sample, load_sample, read_test_start
from tests.artifact_factory import write_recommendations

TEST_START = date(2022, 12, 18)
# (user, item, day, track_seq), deliberately out of order; users 1, 2, 5 have offline lists
ROWS = [
    (7, 70, date(2022, 12, 20), 3), (1, 12, date(2022, 12, 19), 9), (1, 11, date(2022, 12, 18), 8),
    (1, 10, date(2022, 12, 1), 7), (7, 71, date(2022, 12, 19), 4), (1, 13, date(2022, 12, 19), 10),
    (7, 72, date(2022, 12, 19), 2), (9, 90, date(2022, 11, 1), 1),
]


def _write_events(folder: Path) -> None:
    users, items, days, seqs = zip(*ROWS)
    table = pa.Table.from_arrays([pa.array(users), pa.array(items), pa.array(days), pa.array(seqs)],
                                 schema=schema.EVENTS_SCHEMA)
    pq.write_table(table, folder / schema.EVENTS_FILE)
    write_recommendations(folder)
    (folder / schema.METRICS_FILE).write_text(json.dumps({"split": {"test_start": TEST_START.isoformat()}}))


def test_load_sample_keeps_test_listens_in_time_order(tmp_path: Path) -> None:
    _write_events(tmp_path)
    sample = load_sample(tmp_path, users=10, seed=1, max_listens=100)
    assert sample.test_start == TEST_START
    assert sample.users.tolist() == [1, 7]  # user 9 listened only before the test period
    assert sample.has_offline.tolist() == [True, False]
    assert sample.listens_of(0).tolist() == [11, 12, 13]  # by day, then track_seq; 10 is before the test
    assert sample.listens_of(1).tolist() == [72, 71, 70]
    assert sample.listen_counts().tolist() == [3, 3]


def test_cap_and_seeded_draw(tmp_path: Path) -> None:
    _write_events(tmp_path)
    capped = load_sample(tmp_path, users=10, seed=1, max_listens=2)
    assert capped.offsets.tolist() == [0, 2, 4]
    assert capped.items.tolist() == [11, 12, 72, 71]
    one = [load_sample(tmp_path, users=1, seed=seed, max_listens=5).users.tolist() for seed in range(12)]
    assert {tuple(users) for users in one} == {(1,), (7,)}  # both can be drawn, one at a time
    assert one == [load_sample(tmp_path, users=1, seed=seed, max_listens=5).users.tolist() for seed in range(12)]


def test_excluded_users_are_never_drawn(tmp_path: Path) -> None:
    _write_events(tmp_path)
    period = EvaluationPeriod(tmp_path)
    first = period.draw(users=1, seed=0, max_listens=5)
    other = period.draw(users=5, seed=0, max_listens=5, exclude=first.users)
    assert sorted(first.users.tolist() + other.users.tolist()) == [1, 7]
    with pytest.raises(ArtifactError, match="no \\(other\\) users"):
        period.draw(users=1, seed=0, max_listens=5, exclude=np.array([1, 7]))


def test_large_draw_is_a_subset_with_whole_histories() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 500, 20_000)
    listens = {schema.USER_ID: users, schema.ITEM_ID: np.arange(len(users)),
               schema.STARTED_AT: rng.integers(0, 14, len(users)), schema.TRACK_SEQ: np.arange(len(users))}
    sample = draw_sample(listens, offline=np.arange(0, 500, 2), users=100, seed=3, max_listens=10**6,
                         test_start=TEST_START)
    assert len(sample) == 100 and np.all(np.diff(sample.users) > 0)
    assert sample.has_offline.tolist() == (sample.users % 2 == 0).tolist()
    for position, user in enumerate(sample.users):
        rows = np.flatnonzero(users == user)
        expected = rows[np.lexsort((rows, listens[schema.STARTED_AT][rows]))]
        assert sample.listens_of(position).tolist() == expected.tolist()


def test_missing_split_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"metrics.json: file is missing \(or pass --test-start"):
        read_test_start(tmp_path)
    (tmp_path / schema.METRICS_FILE).write_text("{}")
    with pytest.raises(ArtifactError, match="has no valid split.test_start"):
        read_test_start(tmp_path)


def test_no_test_listens_is_a_clear_error(tmp_path: Path) -> None:
    _write_events(tmp_path)
    with pytest.raises(ArtifactError, match=r"no \(other\) users with listens on or after 2023-01-01"):
        load_sample(tmp_path, users=5, seed=0, max_listens=5, test_start=date(2023, 1, 1))
