"""The `musicrec` command: its version, and the config file it is told to use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from musicrec import __version__
from musicrec.cli import _chosen_command, build_parser, main
from musicrec.settings import CONFIG_ENV, get_settings


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser(["--version"]).parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"musicrec {__version__}"


def test_the_command_is_found_after_the_config_option() -> None:
    assert _chosen_command(["--config", "serve.ini", "pipeline", "--quick"]) == "pipeline"
    assert _chosen_command(["--config=x.ini", "data"]) == "data"
    argv = ["--config", "a.ini", "data", "--scale", "tiny"]
    args = build_parser(argv).parse_args(argv)
    assert (args.command, args.config, args.scale) == ("data", Path("a.ini"), "tiny")


@pytest.fixture()
def fresh_settings() -> Iterator[None]:
    """No MUSICREC_CONFIG and freshly read settings; main() sets both, so both are put back after."""
    before = os.environ.pop(CONFIG_ENV, None)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.pop(CONFIG_ENV, None)
        if before is not None:
            os.environ[CONFIG_ENV] = before
        get_settings.cache_clear()


def test_config_option_is_read_and_passed_on_to_the_processes_started(
    tmp_path: Path, fresh_settings: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mine.ini"
    config.write_text("[serving]\nmax_k = lots\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "mine.ini", "data", "--scale", "tiny"]) == 2
    assert f"error: {config}: [serving] max_k" in capsys.readouterr().err
    assert Path(os.environ[CONFIG_ENV]) == config  # absolute, for the services started


def test_a_config_option_naming_no_file_is_refused(
    tmp_path: Path, fresh_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "nowhere.ini"), "data"]) == 2
    assert "nowhere.ini, which is not a file" in capsys.readouterr().err
