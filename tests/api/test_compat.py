"""The framework seam: the installed and locked FastAPI, Starlette and uvicorn are the supported ones,
pyproject.toml asks for the same ranges, and no module but `musicrec.api.compat` reaches inside them."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from musicrec.api.compat import SUPPORTED, UnsupportedFramework, check_versions, unsupported
from musicrec.settings import PROJECT_ROOT

# Internals: private modules and names, and uvicorn's protocol implementation.
INTERNAL_IMPORT = re.compile(
    r"^\s*(from|import)\s+(fastapi\._|fastapi\.dependencies|starlette\._|uvicorn\.)", re.MULTILINE)


def _locked() -> dict[str, str]:
    pins = (line.split("==") for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
            if "==" in line and not line.startswith("#"))
    return {name.strip().lower(): pinned.strip() for name, pinned in pins}


def test_the_installed_frameworks_are_supported() -> None:
    assert unsupported() == []
    check_versions()


def test_an_unsupported_version_is_refused_with_its_name_and_the_range() -> None:
    installed = {name: version(name) for name in SUPPORTED}
    newer = {**installed, "starlette": "99.0.0"}
    with pytest.raises(UnsupportedFramework, match=r"starlette 99\.0\.0 \(supported: >=1\.10,<1\.11\)"):
        check_versions(newer)
    assert unsupported({**installed, "fastapi": "0.164.9"}) == ["fastapi 0.164.9 (supported: >=0.165,<0.166)"]


def test_the_locked_versions_are_inside_the_supported_ranges() -> None:
    locked = _locked()
    assert unsupported({name: locked[name] for name in SUPPORTED}) == []
    for name in SUPPORTED:  # and they are what is installed: the lock is what runs
        assert Version(locked[name]) == Version(version(name)), name


def test_pyproject_asks_for_exactly_the_supported_ranges() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    asked = {(requirement := Requirement(line)).name: str(requirement.specifier)
             for line in project["dependencies"]}
    for name, supported in SUPPORTED.items():
        assert asked[name] == str(Requirement(f"{name}{supported}").specifier), name


def test_no_module_but_compat_imports_framework_internals() -> None:
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "musicrec").rglob("*.py")
                 if path.name != "compat.py" and INTERNAL_IMPORT.search(path.read_text())]
    assert offenders == []


def test_the_pattern_finds_an_internal_import() -> None:
    assert INTERNAL_IMPORT.search("from fastapi._compat import ModelField")
    assert INTERNAL_IMPORT.search("from uvicorn.protocols.http.httptools_impl import STATUS_LINE")
    assert not INTERNAL_IMPORT.search("import uvicorn\nfrom fastapi.routing import APIRoute")


def test_nothing_but_compat_reads_a_private_framework_attribute() -> None:
    private = re.compile(r"\._embed_body_fields|\.middleware_stack\s*=")
    offenders = [str(path.relative_to(PROJECT_ROOT)) for path in (PROJECT_ROOT / "musicrec").rglob("*.py")
                 if path.name != "compat.py" and private.search(path.read_text())]
    assert offenders == []

