from pathlib import Path

import pytest

from musicrec.settings import (
    CONFIG_ENV,
    PACKAGED_CONFIG,
    PROJECT_ROOT,
    LoggingSettings,
    SettingsError,
    find_config,
    load_settings,
    packaged_config,
    port_of,
)

CONFIG = """
[urls]
features_store_url = "http://127.0.0.1:9010"
events_store_url = http://127.0.0.1:9020
recommendations_url = 'http://127.0.0.1:9000/'

[paths]
artifacts = /srv/artifacts

[serving]
max_k = 50
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.ini"
    path.write_text(CONFIG)
    return path


def test_file_values_override_defaults_and_quotes_are_stripped(config_file: Path) -> None:
    settings = load_settings(config_file, environ={})
    assert settings.urls.features_store_url == "http://127.0.0.1:9010"
    assert settings.urls.recommendations_url == "http://127.0.0.1:9000"
    assert settings.serving.max_k == 50
    assert settings.serving.default_k == 10  # untouched default
    assert port_of(settings.urls.events_store_url) == 9020


def test_environment_overrides_file(config_file: Path) -> None:
    environ = {"MUSICREC_SERVING__MAX_K": "7", "MUSICREC_PATHS__ARTIFACTS": "/tmp/elsewhere"}
    settings = load_settings(config_file, environ=environ)
    assert settings.serving.max_k == 7
    assert settings.paths.artifacts == Path("/tmp/elsewhere")


def test_relative_paths_are_relative_to_the_working_directory(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(config_file, environ={"MUSICREC_EVENTS__SQLITE_PATH": "data/x.db"})
    assert settings.events.sqlite_path == elsewhere / "data" / "x.db"
    assert settings.paths.raw == elsewhere / "data" / "raw"
    assert settings.experiments.exposure_log == elsewhere / "data" / "exposures.jsonl"
    assert settings.paths.artifacts == Path("/srv/artifacts")  # absolute: as given


def test_config_is_found_from_the_variable_then_the_working_directory_then_the_package(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    packaged = find_config({})
    assert packaged.path == packaged_config() and packaged.reason == "the packaged defaults"
    assert load_settings(environ={}).serving.max_k == 100  # the defaults' value
    (here / "config.ini").write_text("[serving]\nmax_k = 60\n")
    assert find_config({}).path == here / "config.ini"
    assert load_settings(environ={}).serving.max_k == 60
    chosen = find_config({CONFIG_ENV: str(config_file)})
    assert chosen.path == config_file and CONFIG_ENV in str(chosen)
    assert load_settings(environ={CONFIG_ENV: str(config_file)}).serving.max_k == 50


def test_a_config_variable_naming_no_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"MUSICREC_CONFIG \(or --config\) names .*missing.ini, which"):
        load_settings(environ={CONFIG_ENV: str(tmp_path / "missing.ini")})


def test_the_packaged_defaults_are_the_checkouts_config_ini() -> None:
    """In a checkout the defaults are its config.ini; the wheel ships that file
    (tests/e2e/test_installed_package.py checks the installed copy)."""
    assert packaged_config() in (PACKAGED_CONFIG, PROJECT_ROOT / "config.ini")
    assert packaged_config().read_text() == (PROJECT_ROOT / "config.ini").read_text()


def test_logging_settings_come_from_the_file_and_the_environment(config_file: Path) -> None:
    assert load_settings(config_file, environ={}).logging == LoggingSettings()
    settings = load_settings(config_file, environ={"MUSICREC_LOGGING__FORMAT": "json",
                                                   "MUSICREC_LOGGING__ACCESS_LOG": "true"})
    assert settings.logging.format == "json" and settings.logging.access_log is True
    with pytest.raises(SettingsError, match=r"\[logging\] format \(or MUSICREC_LOGGING__FORMAT\)"):
        load_settings(config_file, environ={"MUSICREC_LOGGING__FORMAT": "xml"})


def test_wrong_value_names_the_key_and_its_environment_variable(config_file: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[serving\] max_k .*MUSICREC_SERVING__MAX_K"):
        load_settings(config_file, environ={"MUSICREC_SERVING__MAX_K": "many"})


def test_a_blend_or_merge_without_an_implementation_is_refused_with_the_choices(config_file: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[serving\] blend .*'nonsense' is not implemented; "
                                            r"choose one of alternate, weighted"):
        load_settings(config_file, environ={"MUSICREC_SERVING__BLEND": "nonsense"})
    with pytest.raises(SettingsError, match=r"\[serving\] online_merge .*'mean' is not implemented"):
        load_settings(config_file, environ={"MUSICREC_SERVING__ONLINE_MERGE": "mean"})


def test_unknown_key_and_section_are_refused(config_file: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[serving\] maxk"):
        load_settings(config_file, environ={"MUSICREC_SERVING__MAXK": "5"})
    with pytest.raises(SettingsError, match=r"unknown section \[nope\]"):
        load_settings(config_file, environ={"MUSICREC_NOPE__X": "1"})


def test_url_without_port_is_refused(config_file: Path) -> None:
    with pytest.raises(SettingsError, match="events_store_url"):
        load_settings(config_file, environ={"MUSICREC_URLS__EVENTS_STORE_URL": "events.local"})


def test_project_config_ini_is_valid() -> None:
    settings = load_settings(PROJECT_ROOT / "config.ini", environ={})
    assert settings.events.backend == "sqlite"
    assert port_of(settings.urls.recommendations_url) == 8000


def test_spark_conf_passes_any_spark_setting_with_its_case_and_commas(config_file: Path) -> None:
    conf = "spark.executor.memoryOverhead=1g, spark.jars.packages=org.a:b:1,org.c:d:2"
    settings = load_settings(config_file, environ={"MUSICREC_SPARK__CONF": conf,
                                                   "MUSICREC_PIPELINE__ENGINE": "spark"})
    assert settings.spark.conf == {"spark.executor.memoryOverhead": "1g", "spark.jars.packages": "org.a:b:1,org.c:d:2"}
    assert settings.pipeline.engine == "spark" and settings.spark.master == "local[*]"
    with pytest.raises(SettingsError, match=r"\[spark\] conf .*MUSICREC_SPARK__CONF.*'executor.memory=1g'"):
        load_settings(config_file, environ={"MUSICREC_SPARK__CONF": "executor.memory=1g"})
    with pytest.raises(SettingsError, match=r"\[pipeline\] engine"):
        load_settings(config_file, environ={"MUSICREC_PIPELINE__ENGINE": "dask"})


def test_split_settings_left_empty_are_chosen_by_the_split_and_a_bad_date_is_refused(config_file: Path) -> None:
    settings = load_settings(PROJECT_ROOT / "config.ini", environ={})
    assert (settings.pipeline.test_start, settings.pipeline.test_days, settings.pipeline.target_days) == (
        None, None, None)
    with pytest.raises(SettingsError, match=r"\[pipeline\] test_start .*MUSICREC_PIPELINE__TEST_START.*"
                                            r"YYYY-MM-DD, got '2022-13-01'"):
        load_settings(config_file, environ={"MUSICREC_PIPELINE__TEST_START": "2022-13-01"})
