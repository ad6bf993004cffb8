"""Settings: `config.ini` plus `MUSICREC_<SECTION>__<KEY>` environment overrides, read once.

Precedence, lowest first: defaults below < `config.ini` < environment. One typed object is built at
start-up, so a wrong or missing value fails at once with the key's name instead of deep inside a
request. Values may be wrapped in double or single quotes: the course's `config.ini` quoted its
URLs, and configparser keeps quotes, which made the course services call `"http://..."/get`.
"""

from __future__ import annotations

import configparser
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from musicrec.serving.blending import BLENDS, MERGES, implemented

ENV_PREFIX = "MUSICREC_"
CONFIG_ENV = "MUSICREC_CONFIG"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.ini"


class SettingsError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlSettings(_Section):
    features_store_url: str = "http://127.0.0.1:8010"
    events_store_url: str = "http://127.0.0.1:8020"
    recommendations_url: str = "http://127.0.0.1:8000"

    @field_validator("*")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(f"expected http://host:port, got {value!r}")
        return value.rstrip("/")


class PathSettings(_Section):
    raw: Path = Path("data/raw")
    artifacts: Path = Path("data/artifacts")


class DataSettings(_Section):
    scale: Literal["tiny", "small", "medium", "full"] = "small"
    seed: int = 42


class ServingSettings(_Section):
    host: str = "127.0.0.1"
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1)
    # Blending defaults chosen by the replay evaluation (bench/results/replay.md); the course rule
    # is online_history=3, blend=alternate, filter_heard=false.
    online_history: int = Field(1, ge=1)
    similar_per_listen: int = Field(10, ge=1)
    blend: str = "weighted"  # a name in musicrec.serving.blending.BLENDS
    online_weight: float = Field(0.7, ge=0, le=1)
    online_merge: str = "max"  # a name in musicrec.serving.blending.MERGES
    filter_heard: bool = True
    # Tracks of one main artist per 10 tracks of a blended list (scaled with k); 0: no cap.
    max_per_artist: int = Field(2, ge=0, le=10)
    connect_timeout: float = Field(1.0, gt=0)
    request_timeout: float = Field(0.5, gt=0)
    # A dependency that failed `breaker_failures` times in a row is skipped for `breaker_reset` s.
    breaker_failures: int = Field(5, ge=1)
    breaker_reset: float = Field(1.0, gt=0)
    # What one request may send (README, "Limits and the API key").
    max_body_bytes: int = Field(32768, ge=1024)
    max_header_bytes: int = Field(16384, ge=1024)
    read_timeout: float = Field(10.0, gt=0)
    # Empty: no key. Set: writes and /get need it (X-API-Key or Authorization: Bearer).
    api_key: SecretStr = SecretStr("")
    open_reads: bool = True
    # Hot reload: seconds between looks at the current-set pointer (0: only POST /admin/reload), and
    # which pointer: local (the [paths] artifacts symlink) or s3 (the bucket's LATEST, fetched first).
    reload_interval: float = Field(2.0, ge=0)
    reload_from: Literal["local", "s3"] = "local"

    @field_validator("blend")
    @classmethod
    def _implemented_blend(cls, name: str) -> str:
        return implemented(BLENDS, name)

    @field_validator("online_merge")
    @classmethod
    def _implemented_merge(cls, name: str) -> str:
        return implemented(MERGES, name)


class EventSettings(_Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path = Path("data/events.sqlite3")
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_per_user: int = Field(20, ge=1)
    max_dislikes_per_user: int = Field(1000, ge=1)


class PipelineSettings(_Section):
    """The offline pipeline's settings. A model setting left empty (None) is learned from the data by
    the `tune` stage; a value given here is pinned and used as it is."""

    test_start: str | None = None
    test_days: int = Field(14, ge=1)
    target_days: int = Field(14, ge=1)
    top_popular: int = Field(100, ge=1)
    tune: bool = True
    tune_minutes: float = Field(6.0, gt=0)
    tune_users: int = Field(10_000, ge=100)
    sources: tuple[str, ...] = ("als", "itemknn", "ease", "popular", "artist")
    candidates_per_source: int = Field(50, ge=1)
    als_factors: int | None = Field(None, ge=1)
    als_iterations: int | None = Field(None, ge=1)
    als_regularization: float | None = Field(None, ge=0)
    als_weighting: Literal["binary", "log", "bm25"] | None = None
    als_alpha: float | None = Field(None, gt=0)
    itemknn_neighbours: int | None = Field(None, ge=1)
    itemknn_weighting: Literal["cosine", "bm25"] | None = None
    ease_items: int = Field(5_000, ge=10)
    ease_lambda: float | None = Field(None, gt=0)
    popular_window: Literal["recent", "all"] | None = None
    artist_tracks: int | None = Field(None, ge=1)
    similar_per_item: int = Field(20, ge=1)
    ranker_users: int = Field(20_000, ge=10)
    ranker_iterations: int = Field(300, ge=1)
    ranker_loss: Literal["Logloss", "YetiRank", "PairLogit"] | None = None
    recommendations_per_user: int = Field(50, ge=1)
    evaluation_users: int = Field(200_000, ge=1)
    seed: int = 42

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty value in config.ini means "not pinned": learned from the data, or the default."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sources", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value


class S3Settings(_Section):
    endpoint_url: str = ""
    bucket: str = "musicrec"
    prefix: str = "artifacts"
    region: str = "us-east-1"


# The [serving] options an A/B arm may set differently (musicrec.serving.experiments).
ARM_OPTIONS = ("online_history", "similar_per_listen", "blend", "online_weight", "online_merge", "filter_heard",
               "max_per_artist")
ARM_PREFIX = "arm_"


class ExperimentSettings(BaseModel):
    """One A/B experiment: off while `name` is empty.

    `arms` lists each arm and its share ("control:50, capped:50"; shares are relative weights), and
    `arm_<name>` gives that arm's serving options ("max_per_artist=3, blend=alternate"); an arm
    without one serves `[serving]` as it is. Every answer for a user names the user's arm, and one
    JSON line per answer goes to `exposure_log`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = ""
    arms: tuple[tuple[str, float], ...] = ()
    exposure_log: Path = Path("data/exposures.jsonl")

    @field_validator("arms", mode="before")
    @classmethod
    def _arm_list(cls, value: object) -> object:
        """"control:50, capped:50" -> (("control", 50.0), ("capped", 50.0))."""
        if not isinstance(value, str):
            return value
        arms = []
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            name, _, share = part.partition(":")
            if not name.strip().isidentifier():
                raise ValueError(f"arm name {name.strip()!r} should be a word of letters, digits and _")
            try:
                weight = float(share) if share.strip() else 1.0
            except ValueError:
                raise ValueError(f"arm {name.strip()!r}: share {share.strip()!r} is not a number") from None
            if not weight > 0:
                raise ValueError(f"arm {name.strip()!r}: share should be above 0, got {share.strip()}")
            arms.append((name.strip(), weight))
        if len({name for name, _ in arms}) != len(arms):
            raise ValueError("arm names repeat")
        return tuple(arms)

    @model_validator(mode="after")
    def _complete(self) -> ExperimentSettings:
        if self.name and len(self.arms) < 2:
            raise ValueError(f"experiment {self.name!r} needs at least two arms in 'arms' (name:share, ...)")
        names = {name for name, _ in self.arms}
        for key in self.model_extra or {}:
            if not key.startswith(ARM_PREFIX):
                raise ValueError(f"unknown key {key!r}: expected name, arms, exposure_log or {ARM_PREFIX}<arm>")
            if key[len(ARM_PREFIX):] not in names:
                raise ValueError(f"{key}: no arm {key[len(ARM_PREFIX):]!r} in 'arms'")
        return self

    def overrides(self, arm: str) -> dict[str, str]:
        """The serving options `arm_<arm>` sets, as text ("online_weight=0.5, ..." -> {...})."""
        text = str((self.model_extra or {}).get(f"{ARM_PREFIX}{arm}", ""))
        options: dict[str, str] = {}
        for part in (part.strip() for part in text.split(",")):
            if part:
                key, equals, value = part.partition("=")
                key = key.strip()
                if not equals or key not in ARM_OPTIONS:
                    raise ValueError(f"{ARM_PREFIX}{arm}: {part!r} should be one of {', '.join(ARM_OPTIONS)} "
                                     "=value")
                options[key] = _unquote(value)
        return options


class Settings(_Section):
    """Everything configurable, one frozen object per process."""

    urls: UrlSettings = UrlSettings()
    paths: PathSettings = PathSettings()
    data: DataSettings = DataSettings()
    serving: ServingSettings = ServingSettings()
    events: EventSettings = EventSettings()
    pipeline: PipelineSettings = PipelineSettings()
    s3: S3Settings = S3Settings()
    experiments: ExperimentSettings = ExperimentSettings()

    @model_validator(mode="after")
    def _arms_serve(self) -> Settings:
        """Every arm's serving options must make valid `[serving]` settings (checked at start-up)."""
        for arm, _ in self.experiments.arms:
            try:
                self.serving_of(arm)
            except ValidationError as exc:
                problem = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
                key = f"{ARM_PREFIX}{arm}"
                raise ValueError(f"[experiments] {key} (or {ENV_PREFIX}EXPERIMENTS__{key.upper()}): {problem}"
                                 ) from None
        return self

    def serving_of(self, arm: str) -> ServingSettings:
        """`[serving]` with the options the experiment's `arm` sets instead."""
        return ServingSettings.model_validate({**self.serving.model_dump(), **self.experiments.overrides(arm)})


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _raw_values(config_path: Path, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Collect section -> key -> text from the file, then let the environment win."""
    sections = Settings.model_fields
    values: dict[str, dict[str, str]] = {name: {} for name in sections}
    parser = configparser.ConfigParser(interpolation=None)
    if config_path.exists():
        parser.read(config_path, encoding="utf-8")
    for section in parser.sections():
        if section not in sections:
            raise SettingsError(f"{config_path}: unknown section [{section}]")
        for key, value in parser.items(section):
            values[section][key] = _unquote(value)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == CONFIG_ENV:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        if section not in sections:
            raise SettingsError(f"{name}: unknown section [{section}]")
        values[section][key] = _unquote(value)
    return values


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the config are relative to the project root, not the working directory."""
    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    paths = settings.paths.model_copy(
        update={"raw": absolute(settings.paths.raw), "artifacts": absolute(settings.paths.artifacts)}
    )
    events = settings.events.model_copy(update={"sqlite_path": absolute(settings.events.sqlite_path)})
    experiments = settings.experiments.model_copy(
        update={"exposure_log": absolute(settings.experiments.exposure_log)})
    return settings.model_copy(update={"paths": paths, "events": events, "experiments": experiments})


def load_settings(
    config_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from a config file and an environment (both default to the real ones)."""
    environ = os.environ if environ is None else environ
    if config_path is None:
        config_path = Path(environ.get(CONFIG_ENV, DEFAULT_CONFIG))
    values = _raw_values(config_path, environ)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [str(part) for part in error["loc"]]
            message = str(error["msg"]).removeprefix("Value error, ")
            if len(location) >= 2:  # a key: name it and its variable
                section, key = location[:2]
                env_name = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
                problems.append(f"[{section}] {key} (or {env_name}): {message}")
            else:  # a whole section (or sections together): the message names what is wrong
                problems.append(f"[{location[0]}]: {message}" if location else message)
        raise SettingsError(f"{config_path}: " + "; ".join(problems)) from None
    return _resolve_paths(settings, PROJECT_ROOT)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()


def port_of(url: str) -> int:
    """The port a service URL names, so each service listens where the others look for it."""
    port = urlsplit(url).port
    assert port is not None  # guaranteed by UrlSettings validation
    return port
