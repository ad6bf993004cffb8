"""`python -m musicrec pipeline`: `--quick` and `--resume` on the tiny data (the stages run for real)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from musicrec.cli import build_parser, main
from musicrec.commands.pipeline import QUICK, parameters
from musicrec.runtime import progress
from musicrec.settings import load_settings


def _args(*argv: str):
    argv = ("pipeline", *argv)
    return build_parser(list(argv)).parse_args(list(argv))


def test_quick_is_untuned_with_lighter_settings_and_excludes_tune() -> None:
    settings = load_settings(environ={})
    quick = parameters(_args("--quick"), settings)
    assert quick.tune is False and quick.sources == QUICK["sources"] and "popular" in quick.sources
    assert quick.model_copy(update={name: getattr(settings.pipeline, name) for name in QUICK}) == settings.pipeline
    assert parameters(_args("--tune", "off"), settings) == settings.pipeline.model_copy(update={"tune": False})
    with pytest.raises(SystemExit):
        _args("--quick", "--tune", "on")


def test_resume_skips_the_stages_done_and_starts_over_on_new_data(tmp_path: Path, tiny_raw_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    raw, work = tmp_path / "raw", tmp_path / "work"
    shutil.copytree(tiny_raw_dir, raw)
    command = ["pipeline", "--raw", str(raw), "--artifacts", str(tmp_path / "artifacts"), "--work", str(work),
               "--resume", "--stages"]
    assert main([*command, "prepare"]) == 0
    assert progress.done_stages(work) == ["prepare"]
    capsys.readouterr()

    assert main([*command, "prepare", "split"]) == 0
    printed = capsys.readouterr().out
    assert "resuming: stages prepare were done earlier" in printed
    assert "\nsplit " in printed and "\nprepare " not in printed  # only split ran
    assert progress.done_stages(work) == ["prepare", "split"]

    for path in raw.iterdir():
        path.touch()  # new data: what was done no longer counts
    assert main([*command, "prepare"]) == 0
    assert "resuming" not in capsys.readouterr().out
    assert progress.done_stages(work) == ["prepare"]
