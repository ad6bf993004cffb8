"""Settings: `config.ini` plus `MUSICREC_<SECTION>__<KEY>` environment overrides, read once.

Precedence, lowest first: defaults below < the config file < environment. The config file is the
first of: `--config FILE` (the CLI puts it in `MUSICREC_CONFIG`, so the services it starts read the
same one), `MUSICREC_CONFIG`, `./config.ini`, the defaults shipped in the package (`find_config`);
relative paths in it are relative to the working directory. One typed object is built at
start-up, so a wrong or missing value fails at once with the key's name instead of deep inside a
request. Values may be wrapped in double or single quotes: the course's `config.ini` quoted its
URLs, and configparser keeps quotes, which made the course services call `"http://..."/get`.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

ENV_PREFIX = "MUSICREC_"
CONFIG_ENV = "MUSICREC_CONFIG"
PACKAGE_DIR = Path(__file__).resolve().parent
# The source checkout, for the tests and benchmarks that live in it (not part of an installed package).
PROJECT_ROOT = PACKAGE_DIR.parent
# The defaults shipped in the wheel: the checkout's config.ini, copied in at build (pyproject.toml).
PACKAGED_CONFIG = PACKAGE_DIR / "defaults" / "config.ini"
LOCAL_CONFIG = Path("config.ini")


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


# The blends and online merges that musicrec.serving.blending implements, named here so that settings
# import nothing above them; tests/serving/test_blending.py checks its registries hold exactly these.
BLEND_NAMES = ("alternate", "weighted")
MERGE_NAMES = ("max", "sum")


Number = TypeVar("Number", int, float)


def _each(values: tuple[Number, ...], fits: Callable[[Number], bool], expected: str) -> tuple[Number, ...]:
    """`values` when there are some and each `fits`; the error says what was `expected`."""
    if not values or not all(fits(value) for value in values):
        raise ValueError(f"expected {expected}, got {values}")
    return values


def implemented(names: tuple[str, ...], name: str) -> str:
    """`name` if it is one of `names`; the error lists them."""
    if name not in names:
        raise ValueError(f"{name!r} is not implemented; choose one of {', '.join(names)}")
    return name


class ServingSettings(_Section):
    host: str = "127.0.0.1"
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1)
    # Blending defaults chosen by the replay evaluation (bench/results/replay.md); the course rule
    # is online_history=3, blend=alternate, filter_heard=false.
    online_history: int = Field(1, ge=1)
    similar_per_listen: int = Field(10, ge=1)
    blend: str = "weighted"  # one of BLEND_NAMES
    online_weight: float = Field(0.7, ge=0, le=1)
    online_merge: str = "max"  # one of MERGE_NAMES
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
        return implemented(BLEND_NAMES, name)

    @field_validator("online_merge")
    @classmethod
    def _implemented_merge(cls, name: str) -> str:
        return implemented(MERGE_NAMES, name)


class EventSettings(_Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: Path = Path("data/events.sqlite3")
    redis_url: str = "redis://127.0.0.1:6379/0"
    max_per_user: int = Field(20, ge=1)
    max_dislikes_per_user: int = Field(1000, ge=1)


class SourceSettings(_Section):
    """One candidate source's settings (`[pipeline.<source>]`): a value left empty (None) is learned
    from the data by the `tune` stage; a value given is pinned and used as it is. Field names are
    the source's own parameter names (checked by a test), so a renamed one cannot silently stop
    being pinned."""

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class AlsSettings(SourceSettings):
    factors: int | None = Field(None, ge=1)
    regularization: float | None = Field(None, ge=0)
    iterations: int | None = Field(None, ge=1)
    weighting: Literal["binary", "log", "bm25"] | None = None
    alpha: float | None = Field(None, gt=0)


class ItemKnnSettings(SourceSettings):
    neighbours: int | None = Field(None, ge=1)
    weighting: Literal["cosine", "bm25"] | None = None


class EaseSettings(SourceSettings):
    items: int = Field(5_000, ge=10)  # the most listened tracks it models (its weights: items^2 floats)
    lambda_: float | None = Field(None, gt=0, alias="lambda")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PopularSettings(SourceSettings):
    window: Literal["recent", "all"] | None = None


class ArtistSettings(SourceSettings):
    tracks: int | None = Field(None, ge=1)


def _comma_tuple(value: object) -> object:
    """"1, 3, 5" (config.ini) -> ("1", "3", "5"), for pydantic to turn into numbers."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class SimilarSettings(_Section):
    """How similar.parquet is made (`[pipeline.similar]`; musicrec/pipeline/similar.py): ALS
    neighbours, tracks played soon after in the same user's history (sequential), or a merge of the
    two, chosen on the target window by next-listen HitRate@10 unless `choose` pins one."""

    choose: Literal["auto", "als", "sequential", "merged"] = "auto"
    windows: tuple[int, ...] = (1, 3, 5)
    decays: tuple[float, ...] = (1.0, 0.7)
    dampings: tuple[float, ...] = (0.0, 0.5)
    merge_weights: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
    validation_pairs: int = Field(200_000, ge=100)
    choice_pairs: int = Field(20_000_000, ge=1_000)
    chunk_listens: int = Field(10_000_000, ge=1_000)
    part_pairs: int = Field(50_000_000, ge=1_000)

    @field_validator("windows", "decays", "dampings", "merge_weights", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _comma_tuple(value)

    @field_validator("windows")
    @classmethod
    def _windows(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        return _each(values, lambda value: 1 <= value <= 8, "window sizes from 1 to 8")

    @field_validator("decays", "merge_weights")
    @classmethod
    def _shares(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        return _each(values, lambda value: 0 < value <= 1, "values in (0, 1]")

    @field_validator("dampings")
    @classmethod
    def _dampings(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        return _each(values, lambda value: 0 <= value <= 2, "values from 0 to 2")


class PipelineSettings(_Section):
    """The offline pipeline's settings; each candidate source's own in a section of its own."""

    # The split's windows (musicrec/pipeline/split.py). Left empty, each takes the default length,
    # widened where the data is too thin there, or the split holds out each user's last listens
    # instead; given, they are honoured as they are or refused with a message naming them.
    test_start: str | None = None
    test_days: int | None = Field(None, ge=1)
    target_days: int | None = Field(None, ge=1)
    # What the target window and the test period must each hold: listens, and users who listened
    # before the window (the users a model can be judged on).
    min_window_listens: int = Field(1_000, ge=1)
    min_window_users: int = Field(100, ge=1)
    top_popular: int = Field(100, ge=1)
    budget_minutes: float = Field(45.0, gt=0)
    tune: bool = True
    tune_minutes: float = Field(6.0, gt=0)
    tune_users: int = Field(10_000, ge=100)
    engine: Literal["local", "spark"] = "local"  # where the heavy steps run (musicrec/pipeline/engine.py)
    sources: tuple[str, ...] = ("als", "itemknn", "ease", "popular", "artist")
    candidates_per_source: int = Field(50, ge=1)
    forward_iterations: int = Field(2, ge=1)
    similar_per_item: int = Field(20, ge=1)
    ranker_users: int = Field(20_000, ge=10)
    ranker_iterations: int = Field(300, ge=1)
    # Folds by user of the ranker's users (crossfit.py): each fold is judged by a ranker and a fusion
    # learnt on the others, so the choice of the published list sees every user and every positive.
    ranker_folds: int = Field(3, ge=2, le=10)
    ranker_loss: Literal["Logloss", "YetiRank", "PairLogit"] | None = None
    recommendations_per_user: int = Field(50, ge=1)
    evaluation_users: int = Field(200_000, ge=1)
    seed: int = 42
    als: AlsSettings = AlsSettings()
    itemknn: ItemKnnSettings = ItemKnnSettings()
    ease: EaseSettings = EaseSettings()
    popular: PopularSettings = PopularSettings()
    artist: ArtistSettings = ArtistSettings()
    similar: SimilarSettings = SimilarSettings()

    @field_validator("test_start", "test_days", "target_days", "ranker_loss", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty value in config.ini means "not given": the default."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("test_start")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}") from None
        return value

    @field_validator("sources", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        known = source_names()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}; expected some of {', '.join(known)}")
        return names

    def source_settings(self, name: str) -> SourceSettings:
        """The `[pipeline.<name>]` section of a source."""
        section = getattr(self, name)
        assert isinstance(section, SourceSettings)
        return section


def source_names() -> tuple[str, ...]:
    """Every candidate source that has a settings section (the pipeline's registry must match)."""
    return tuple(name for name, info in PipelineSettings.model_fields.items()
                 if isinstance(info.annotation, type) and issubclass(info.annotation, SourceSettings))


class SparkSettings(_Section):
    """How the pipeline reaches Spark when `[pipeline] engine = spark` (musicrec/pipeline/spark/)."""

    master: str = "local[*]"
    app_name: str = "musicrec-pipeline"
    # ALS blocks of users and of tracks (numUserBlocks, numItemBlocks); 0: Spark's default parallelism.
    als_blocks: int = Field(0, ge=0)
    # Where ALS checkpoints its factors (cuts the lineage of long fits); empty: the work folder.
    checkpoint_dir: str = ""
    # Any other Spark setting, passed as it is: "spark.key=value, spark.other=value" (keys keep their case).
    conf: dict[str, str] = {}

    @field_validator("conf", mode="before")
    @classmethod
    def _key_value_pairs(cls, value: object) -> object:
        """Parse "spark.a=1, spark.b=x,y": a comma starts a new pair only before a `spark.` key,
        so values that hold commas (package lists) pass whole."""
        if not isinstance(value, str):
            return value
        pairs = {}
        for part in re.split(r",\s*(?=spark\.[\w.]+\s*=)", value.strip()):
            if not part.strip():
                continue
            key, equals, setting = part.partition("=")
            if not equals or not key.strip().startswith("spark."):
                raise ValueError(f"expected spark.<key>=<value> pairs separated by commas, got {part.strip()!r}")
            pairs[key.strip()] = setting.strip()
        return pairs


class RunSettings(_Section):
    """What `make run` (`python -m musicrec run`) does besides serving. Without an artifact set it makes
    a quick one first, so the trio answers within minutes; with `tune_in_background`, an untuned set
    is then improved by the tuned pipeline at a lower CPU priority while the trio serves, and the
    services switch to the new set by hot reload."""

    tune_in_background: bool = True


class LoggingSettings(_Section):
    """How every process of the project writes its log (musicrec/logs.py): each line dated (ISO 8601
    with the zone), as readable text or as one JSON object a line for a log collector."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One line per HTTP request answered by a service (uvicorn's access log).
    access_log: bool = False


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
    run: RunSettings = RunSettings()
    spark: SparkSettings = SparkSettings()
    s3: S3Settings = S3Settings()
    logging: LoggingSettings = LoggingSettings()
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


def _raw_values(config_path: Path, environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Collect section -> key -> text from the file, then let the environment win. A section
    `[a.b]` (or a variable MUSICREC_A__B__KEY) is the nested section `b` of `[a]`."""
    sections = Settings.model_fields
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    parser = configparser.ConfigParser(interpolation=None)
    if config_path.exists():
        parser.read(config_path, encoding="utf-8")
    for section in parser.sections():
        top, *nested = section.split(".")
        if top not in sections or len(nested) > 1:
            raise SettingsError(f"{config_path}: unknown section [{section}]")
        target = values[top].setdefault(nested[0], {}) if nested else values[top]
        for key, value in parser.items(section):
            target[key] = _unquote(value)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == CONFIG_ENV:
            continue
        section, *keys = name[len(ENV_PREFIX):].lower().split("__")
        if section not in sections:
            raise SettingsError(f"{name}: unknown section [{section}]")
        target = values[section]
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = _unquote(value)
    return values


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the config are made absolute against `base` (the working directory) once,
    so what a process reads and writes does not change if it changes directory later."""
    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    paths = settings.paths.model_copy(
        update={"raw": absolute(settings.paths.raw), "artifacts": absolute(settings.paths.artifacts)}
    )
    events = settings.events.model_copy(update={"sqlite_path": absolute(settings.events.sqlite_path)})
    experiments = settings.experiments.model_copy(
        update={"exposure_log": absolute(settings.experiments.exposure_log)})
    return settings.model_copy(update={"paths": paths, "events": events, "experiments": experiments})


@dataclass(frozen=True)
class ConfigFile:
    """The config file settings come from, and why that one (for the log line at start-up)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


def find_config(environ: Mapping[str, str] | None = None) -> ConfigFile:
    """The config file in use: `MUSICREC_CONFIG` (where `--config` puts it), else `./config.ini`, else
    the packaged defaults. A `MUSICREC_CONFIG` naming no file is refused rather than ignored."""
    environ = os.environ if environ is None else environ
    if named := environ.get(CONFIG_ENV, "").strip():
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"{CONFIG_ENV} (or --config) names {path}, which is not a file")
        return ConfigFile(path.resolve(), f"from {CONFIG_ENV} or --config")
    if LOCAL_CONFIG.is_file():
        return ConfigFile(LOCAL_CONFIG.resolve(), "./config.ini of the working directory")
    return ConfigFile(packaged_config(), "the packaged defaults")


def packaged_config() -> Path:
    """The defaults shipped in the wheel; in a source checkout, the checkout's config.ini (the same file)."""
    return PACKAGED_CONFIG if PACKAGED_CONFIG.is_file() else PROJECT_ROOT / "config.ini"


def load_settings(
    config_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from a config file (default: `find_config`) and an environment (default: the real
    one)."""
    environ = os.environ if environ is None else environ
    if config_path is None:
        config_path = find_config(environ).path
    values = _raw_values(config_path, environ)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [str(part) for part in error["loc"]]
            message = str(error["msg"]).removeprefix("Value error, ")
            if len(location) >= 2:  # a key, in a section or a nested one: name it and its variable
                *where, key = location
                env_name = ENV_PREFIX + "__".join(part.upper() for part in (*where, key))
                problems.append(f"[{'.'.join(where)}] {key} (or {env_name}): {message}")
            else:  # a whole section (or sections together): the message names what is wrong
                problems.append(f"[{location[0]}]: {message}" if location else message)
        raise SettingsError(f"{config_path}: " + "; ".join(problems)) from None
    return _resolve_paths(settings, Path.cwd())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()


def port_of(url: str) -> int:
    """The port a service URL names, so each service listens where the others look for it."""
    port = urlsplit(url).port
    assert port is not None  # guaranteed by UrlSettings validation
    return port
