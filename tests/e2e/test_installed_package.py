"""The package as a new user gets it: the wheel built, installed into a new virtualenv outside the
checkout, and the `musicrec` command run from another directory: data, pipeline, serve, and one
request of each kind over HTTP.

The virtualenv is a real install: the wheel with its declared dependencies, each at its locked version
(`pip install <wheel> -c requirements.lock`), so a dependency missing from pyproject.toml fails here.
Nothing of the checkout is on its path: the working directory is elsewhere, no config.ini is there
(the packaged defaults are used), and every file it writes lands under that directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from musicrec import __version__
from musicrec.runtime.launcher import free_port
from musicrec.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow
INSTALL_TIMEOUT = 900  # seconds: pip resolves and unpacks the runtime dependencies (from its cache when warm)
READY_TIMEOUT = 180


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"{command}: exit {done.returncode}\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the built wheel and its dependencies at the locked versions."""
    root = tmp_path_factory.mktemp("installed")
    dist = root / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
          str(PROJECT_ROOT)], cwd=root, env=dict(os.environ))
    (wheel,) = dist.glob(f"musicrec-{__version__}-py3-none-any.whl")
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    _run([str(base_python), "-m", "venv", str(root / "venv")], cwd=root, env=env)
    _run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel),
          "-c", str(PROJECT_ROOT / "requirements.lock")], cwd=root, env=env, timeout=INSTALL_TIMEOUT)
    return root / "venv"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


def _environment(venv: Path) -> dict[str, str]:
    """The user's shell: the venv's bin first, no MUSICREC_* of ours, the services on free ports."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MUSICREC_") and key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["OPENBLAS_NUM_THREADS"] = "1"
    for key in ("EVENTS_STORE_URL", "FEATURES_STORE_URL", "RECOMMENDATIONS_URL"):
        env[f"MUSICREC_URLS__{key}"] = f"http://127.0.0.1:{free_port()}"
    env["MUSICREC_PIPELINE__TUNE_MINUTES"] = "0.25"  # a short settings search: the test is about installing
    return env


def test_the_package_installs_outside_the_checkout(venv: Path, workdir: Path) -> None:
    env = _environment(venv)
    python = str(venv / "bin" / "python")
    where = _run([python, "-c", "import musicrec, musicrec.settings as s; print(musicrec.__file__); "
                  "print(s.packaged_config())"], cwd=workdir, env=env).split()
    assert Path(where[0]).is_relative_to(venv) and not Path(where[0]).is_relative_to(PROJECT_ROOT)
    assert Path(where[1]).is_relative_to(venv)  # the defaults shipped in the wheel, equal to config.ini
    assert Path(where[1]).read_text() == (PROJECT_ROOT / "config.ini").read_text()
    assert _run(["musicrec", "--version"], cwd=workdir, env=env).strip() == f"musicrec {__version__}"


@contextlib.contextmanager
def _serving(workdir: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    command = ["musicrec", "serve", "--ready-timeout", str(READY_TIMEOUT)]
    with open(log, "w") as output, subprocess.Popen(command, cwd=workdir, env=env, stdout=output,
                                                     stderr=subprocess.STDOUT, text=True) as serve:
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while "All three services are ready" not in log.read_text():
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            yield serve
        finally:
            serve.send_signal(signal.SIGINT)
            serve.wait(30)


def test_data_pipeline_and_serve_from_another_directory(venv: Path, workdir: Path) -> None:
    env = _environment(venv)
    printed = _run(["musicrec", "data", "--scale", "tiny"], cwd=workdir, env=env)
    assert "the packaged defaults" in printed  # no config.ini here: the one shipped in the wheel
    assert (workdir / "data" / "raw" / "interactions.parquet").is_file()
    _run(["musicrec", "pipeline"], cwd=workdir, env=env, timeout=900)
    assert (workdir / "data" / "artifacts" / "manifest.json").is_file()

    urls = {name: env[f"MUSICREC_URLS__{key}"] for name, key in
            (("events", "EVENTS_STORE_URL"), ("features", "FEATURES_STORE_URL"),
             ("recommendations", "RECOMMENDATIONS_URL"))}
    with _serving(workdir, env, workdir / "serve.log"), httpx.Client(timeout=10) as client:
        recommendations = urls["recommendations"]
        default = client.post(f"{recommendations}/recommendations_default", params={"k": 5}).json()["recs"]
        assert len(default) == 5
        user = client.get(f"{recommendations}/sample_user", params={"kind": "known"}).json()["user_id"]
        offline = client.post(f"{recommendations}/recommendations_offline", params={"user_id": user, "k": 5})
        assert len(offline.json()["recs"]) == 5

        similar = client.post(f"{urls['features']}/similar_items",
                              params={"item_id": default[0], "k": 3}).json()
        assert len(similar["item_id_2"]) == len(similar["score"]) > 0

        put = client.post(f"{urls['events']}/put", params={"user_id": user, "item_id": default[0]})
        assert put.json() == {"result": "ok"}
        got = client.post(f"{urls['events']}/get", params={"user_id": user, "k": 3})
        assert got.json()["events"] == [default[0]]

        online = client.post(f"{recommendations}/recommendations_online", params={"user_id": user, "k": 3})
        assert online.status_code == 200 and online.json()["recs"] and default[0] not in online.json()["recs"]
        blended = client.post(f"{recommendations}/recommendations", params={"user_id": user, "k": 6})
        assert blended.status_code == 200 and len(blended.json()["recs"]) == 6
        assert not any(answer.json().get("degraded") for answer in (offline, online, blended))

        docs = client.get(f"{recommendations}/docs")
        assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
        assert client.get(f"{recommendations}/docs/assets/swagger-ui-bundle.js").status_code == 200
    log = (workdir / "serve.log").read_text()
    assert "settings from" in log and "the packaged defaults" in log
    assert (workdir / "data" / "events.sqlite3").is_file()  # relative paths: under the working directory
    assert json.loads((workdir / "data" / "artifacts" / "manifest.json").read_text())
