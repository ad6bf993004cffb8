"""How every process of the project writes its log: dated lines, as text or as JSON (`[logging]`).

The services (`musicrec.runtime.server`, through uvicorn's `log_config`) and the command line
(`musicrec.cli`) both configure logging from `log_config`, which fills in the template
`musicrec/runtime/logging.json` (which loggers go where) with the formatter `[logging] format` names:

- `text`: `2026-12-04T18:31:26.120+00:00 INFO musicrec.api.factory: events loaded in 0.12 s`, the
  readable line `make run` shows, now with its date and zone;
- `json`: one object a line, `{"time": ..., "level": ..., "service": ..., "logger": ...,
  "message": ...}`, plus `method`, `path`, `status`, `client` and `duration_ms` when the line is about
  one request (uvicorn's access log, or a record logged with those `extra` fields), and `exception`
  with its traceback.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from importlib.resources import files
from typing import Any

from musicrec.settings import LoggingSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a record may carry about the request it is about (logged with `extra=`).
REQUEST_FIELDS = ("method", "path", "status", "client", "duration_ms")
ACCESS_LOGGER = "uvicorn.access"


def iso_time(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601, in the local zone with its offset, to the millisecond."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """The readable line, its time as an ISO 8601 date and time with the zone."""

    def __init__(self, fmt: str = TEXT_FORMAT, service: str = "") -> None:
        super().__init__(fmt)
        self.service = service

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors: what was logged, by whom, about which request."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record), "level": record.levelname, "service": self.service,
            "logger": record.name, "message": record.getMessage(),
        }
        line.update(request_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def request_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request a record is about: uvicorn's access-log arguments, or fields given with `extra=`."""
    fields = {name: getattr(record, name) for name in REQUEST_FIELDS if hasattr(record, name)}
    if record.name == ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, _http_version, status = record.args
        fields.update(client=client, method=method, path=path, status=status)
    return fields


def log_config(settings: LoggingSettings, service: str, everything: bool = False) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: the project's and uvicorn's loggers (and, with
    `everything`, all others through the root logger) at `[logging] level`, in its format."""
    config: dict[str, Any] = json.loads(files("musicrec.runtime").joinpath("logging.json").read_text("utf-8"))
    for formatter in config["formatters"].values():
        formatter["service"] = service
    config["handlers"]["stderr"]["formatter"] = settings.format
    for logger in config["loggers"].values():
        logger["level"] = settings.level
    config["root"]["level"] = settings.level if everything else logging.getLevelName(logging.WARNING)
    return config
