"""Log lines: dated with the zone, as text or one JSON object a line, with the request they are about."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import datetime

import pytest

from musicrec.logs import JsonFormatter, TextFormatter, log_config
from musicrec.settings import LoggingSettings

CREATED = datetime(2026, 12, 4, 18, 31, 26, 120000).astimezone()


def _record(name: str = "musicrec.api.factory", message: str = "%s loaded in %.2f s",
            args: tuple[object, ...] = ("events", 0.123), level: int = logging.INFO) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, args, None)
    record.created = CREATED.timestamp()
    return record


def test_a_text_line_starts_with_an_iso_date_and_time_with_its_zone() -> None:
    line = TextFormatter().format(_record())
    stamp, rest = line.split(" ", 1)
    assert datetime.fromisoformat(stamp) == CREATED
    assert datetime.fromisoformat(stamp).utcoffset() is not None  # the zone is written
    assert stamp.startswith("2026-12-04T") and stamp[-6] in "+-"
    assert rest == "INFO musicrec.api.factory: events loaded in 0.12 s"


def test_a_json_line_is_one_object_with_service_level_logger_and_message() -> None:
    line = JsonFormatter(service="events").format(_record())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {"time": entry["time"], "level": "INFO", "service": "events",
                     "logger": "musicrec.api.factory", "message": "events loaded in 0.12 s"}
    assert datetime.fromisoformat(entry["time"]) == CREATED


def test_an_access_line_carries_the_request_fields() -> None:
    record = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d',
                     ("127.0.0.1:5000", "GET", "/get?user_id=1", "1.1", 200))
    entry = json.loads(JsonFormatter(service="events").format(record))
    assert entry["message"] == '127.0.0.1:5000 - "GET /get?user_id=1 HTTP/1.1" 200'
    assert (entry["client"], entry["method"], entry["path"], entry["status"]) == (
        "127.0.0.1:5000", "GET", "/get?user_id=1", 200)


def test_fields_given_with_extra_and_a_traceback_are_kept() -> None:
    logger = logging.getLogger("musicrec.test_logs")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="recommendations"))
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.error("unexpected error on %s %s", "GET", "/x", exc_info=True,
                         extra={"method": "GET", "path": "/x", "status": 500})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert (entry["method"], entry["path"], entry["status"], entry["level"]) == ("GET", "/x", 500, "ERROR")
    assert "ValueError: boom" in entry["exception"]


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    loggers = {"": root, "musicrec": logging.getLogger("musicrec"), "uvicorn": logging.getLogger("uvicorn")}
    saved = {name: (logger.handlers[:], logger.level, logger.propagate) for name, logger in loggers.items()}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_config_sends_the_projects_and_uvicorns_loggers_in_the_chosen_format(
    fmt: str, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = LoggingSettings(format=fmt, level="DEBUG")
    logging.config.dictConfig(log_config(settings, service="features"))
    logging.getLogger("musicrec.api.factory").debug("features loaded")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("some.library").info("not shown: only warnings from other loggers")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    if fmt == "json":
        messages = [json.loads(line)["message"] for line in lines]
        assert messages == ["features loaded", "Application startup complete."]
        assert {json.loads(line)["service"] for line in lines} == {"features"}
    else:
        assert lines[0].endswith(" DEBUG musicrec.api.factory: features loaded")
        datetime.fromisoformat(lines[0].split(" ", 1)[0])


def test_log_config_for_a_command_lets_every_logger_through(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(log_config(LoggingSettings(), service="pipeline", everything=True))
    logging.getLogger("some.library").info("shown")
    assert capsys.readouterr().err.rstrip().endswith(" INFO some.library: shown")
