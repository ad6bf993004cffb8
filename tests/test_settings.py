from pathlib import Path

import pytest

from musicrec.settings import PROJECT_ROOT, SettingsError, load_settings, port_of

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


def test_relative_paths_are_relative_to_the_project_root(config_file: Path) -> None:
    settings = load_settings(config_file, environ={"MUSICREC_EVENTS__SQLITE_PATH": "data/x.db"})
    assert settings.events.sqlite_path == PROJECT_ROOT / "data" / "x.db"
    assert settings.paths.raw == PROJECT_ROOT / "data" / "raw"


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


def test_split_settings_left_empty_are_chosen_by_the_split_and_a_bad_date_is_refused(config_file: Path) -> None:
    settings = load_settings(PROJECT_ROOT / "config.ini", environ={})
    assert (settings.pipeline.test_start, settings.pipeline.test_days, settings.pipeline.target_days) == (
        None, None, None)
    with pytest.raises(SettingsError, match=r"\[pipeline\] test_start .*MUSICREC_PIPELINE__TEST_START.*"
                                            r"YYYY-MM-DD, got '2022-13-01'"):
        load_settings(config_file, environ={"MUSICREC_PIPELINE__TEST_START": "2022-13-01"})
