"""A real service's log as configured by `[logging]`: JSON lines with the access log on, and the
readable dated text without it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from musicrec.runtime.launcher import ServiceSpec, free_port, running

pytestmark = pytest.mark.slow


def _events(tmp_path: Path, **logging: str) -> tuple[ServiceSpec, dict[str, str]]:
    spec = ServiceSpec("events", "events_service", f"http://127.0.0.1:{free_port()}")
    env = {"MUSICREC_EVENTS__BACKEND": "sqlite",
           "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
           **{f"MUSICREC_LOGGING__{key.upper()}": value for key, value in logging.items()}}
    return spec, env


def test_json_lines_with_the_access_log(tmp_path: Path) -> None:
    spec, env = _events(tmp_path, format="json", access_log="true")
    with running([spec], "127.0.0.1", env, log_dir=tmp_path):
        assert httpx.post(f"{spec.url}/put", params={"user_id": 3, "item_id": 9}).status_code == 200
        assert httpx.get(f"{spec.url}/nowhere").status_code == 404
    lines = [json.loads(line) for line in (tmp_path / "events.log").read_text().splitlines() if line.strip()]
    assert all({"time", "level", "service", "logger", "message"} <= line.keys() for line in lines)
    assert {line["service"] for line in lines} == {"events"}
    assert all(datetime.fromisoformat(line["time"]).utcoffset() is not None for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    requests = [(line["method"], line["path"], line["status"]) for line in access if line["path"] != "/ready"]
    assert requests == [("POST", "/put?user_id=3&item_id=9", 200), ("GET", "/nowhere", 404)]
    assert any("settings from" in line["message"] for line in lines)
    assert any(line["message"].startswith("events loaded in") for line in lines)


def test_text_lines_are_dated_and_the_access_log_is_off_by_default(tmp_path: Path) -> None:
    spec, env = _events(tmp_path)
    with running([spec], "127.0.0.1", env, log_dir=tmp_path):
        assert httpx.post(f"{spec.url}/put", params={"user_id": 3, "item_id": 9}).status_code == 200
    lines = [line for line in (tmp_path / "events.log").read_text().splitlines() if line.strip()]
    stamps = [datetime.fromisoformat(line.split(" ", 1)[0]) for line in lines]
    assert stamps and all(stamp.utcoffset() is not None for stamp in stamps)
    assert any(" INFO musicrec.api.factory: events loaded in " in line for line in lines)
    assert not any("/put" in line for line in lines)
