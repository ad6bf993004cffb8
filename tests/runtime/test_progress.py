"""The record of finished stages that `pipeline --resume` goes on from, and the work folder's lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from musicrec.errors import MusicRecError
from musicrec.runtime import progress


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "interactions.parquet").write_bytes(b"listens")
    return folder


def test_finished_stages_are_recorded_in_order(tmp_path: Path, raw: Path) -> None:
    origin = progress.made_from(raw, {"tune": True})
    assert progress.done_stages(tmp_path, origin) == []
    progress.mark_done(tmp_path, origin, "prepare")
    progress.mark_done(tmp_path, origin, "split")
    assert progress.done_stages(tmp_path, origin) == ["prepare", "split"]
    assert progress.done_stages(tmp_path) == ["prepare", "split"]  # without origin: whatever is recorded
    progress.clear(tmp_path)
    assert progress.done_stages(tmp_path) == []


def test_other_parameters_or_changed_raw_files_start_over(tmp_path: Path, raw: Path) -> None:
    origin = progress.made_from(raw, {"tune": True})
    progress.mark_done(tmp_path, origin, "prepare")
    assert progress.done_stages(tmp_path, progress.made_from(raw, {"tune": False})) == []
    os.utime(raw / "interactions.parquet", (1, 1))  # new data with the same name and size
    assert progress.done_stages(tmp_path, progress.made_from(raw, {"tune": True})) == []


def test_an_unreadable_record_is_no_progress(tmp_path: Path) -> None:
    (tmp_path / progress.PROGRESS_FILE).write_text("{half a rec")
    assert progress.done_stages(tmp_path) == []


def test_a_second_run_on_a_claimed_folder_stops_with_the_holders_pid(tmp_path: Path) -> None:
    with progress.claim(tmp_path), \
            pytest.raises(MusicRecError, match=rf"another pipeline run \(pid {os.getpid()}\) is using"), \
            progress.claim(tmp_path):
        pass
    with progress.claim(tmp_path):  # released with its holder
        pass
