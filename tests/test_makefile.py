"""What each make command installs: `make run` no Debian package; without root, a step that needs
apt-get prints the command to run and stops (make's dry runs and a shell whose `id -u` is not 0)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from musicrec.settings import PROJECT_ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path} if path is not None else dict(os.environ)
    assert MAKE is not None
    return subprocess.run([MAKE, "--no-print-directory", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_make_run_installs_no_debian_package_and_the_others_do() -> None:
    run = _make("-n", "-B", "run")
    assert run.returncode == 0, run.stderr
    assert "pip install" in run.stdout and "-r requirements.lock" in run.stdout
    assert "apt-get" not in run.stdout
    for target, packages in (("test", ("openjdk-17-jre-headless", "redis-server", "nginx", "chromium")),
                             ("cluster", ("redis-server", "nginx")), ("bench", ("wrk",))):
        planned = _make("-n", "-B", target).stdout
        assert "apt-get install" in planned, target
        assert all(package in planned for package in packages), target


def test_without_root_a_missing_package_is_named_with_the_apt_get_line_and_make_stops(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("#!/bin/sh\necho 1000\n")  # a user, not root
    (tmp_path / "id").chmod(0o755)
    stopped = _make("system-bench", path=str(tmp_path))  # nothing else on PATH: wrk is missing
    assert stopped.returncode != 0
    assert "error: system-bench needs Debian packages that are missing" in stopped.stderr
    assert "sudo apt-get update && sudo apt-get install -y wrk" in stopped.stderr
    assert "Installing" not in stopped.stdout
