"""Listeners to try the service with, on the tiny artifact set (users 1, 2 and 5 have personal lists)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.errors import NotFound
from musicrec.serving import listeners
from musicrec.serving.artifact_reading import load_recommendations
from musicrec.serving.listeners import Listener, load_listener_sampler
from tests.artifact_factory import write_artifact_set


def write_listening_log(folder: Path, users: list[int], row_group_size: int | None = None) -> None:
    """events.parquet with one listen (of track 10) per entry of `users`."""
    table = pa.table({schema.USER_ID: pa.array(users, pa.int32()),
                      schema.ITEM_ID: pa.array([10] * len(users), pa.int32())})
    pq.write_table(table, folder / schema.EVENTS_FILE, row_group_size=row_group_size)


def test_heaviest_listeners_with_a_personal_list(tmp_path: Path) -> None:
    folder = write_artifact_set(tmp_path)
    write_listening_log(folder, [1] * 3 + [2] * 5 + [3] * 9 + [5] * 2)
    sampler = load_listener_sampler(folder, load_recommendations(folder))
    assert sampler.heavy.tolist() == [2, 1, 5] and sampler.heavy_listens.tolist() == [5, 3, 2]
    picked = {sampler.pick("long", np.random.default_rng(seed)) for seed in range(30)}
    assert picked == {Listener(2, "long", 5), Listener(1, "long", 3), Listener(5, "long", 2)}


def test_only_the_middle_row_group_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_artifact_set(tmp_path)
    write_listening_log(folder, [1] * 4 + [2] * 4 + [5] * 4, row_group_size=4)  # groups: 1s, 2s, 5s
    monkeypatch.setattr(listeners, "LONG_HISTORY_USERS", 1)
    assert load_listener_sampler(folder, load_recommendations(folder)).heavy.tolist() == [2]


def test_known_and_cold_users(tmp_path: Path) -> None:
    folder = write_artifact_set(tmp_path)
    sampler = load_listener_sampler(folder, load_recommendations(folder))
    rng = np.random.default_rng(1)
    assert {sampler.pick("known", rng).user_id for _ in range(40)} == {1, 2, 5}
    cold = [sampler.pick("cold", rng).user_id for _ in range(40)]
    assert all(5 < user <= 5 + 1 + listeners.COLD_ID_RANGE for user in cold) and len(set(cold)) > 1
    with pytest.raises(NotFound, match="events.parquet is missing"):
        sampler.pick("long", rng)
