"""/docs loads its script and styles from the service itself, never from a CDN; /redoc is gone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from musicrec.api.docs import ASSETS, ASSETS_URL, assets_dir
from musicrec.api.events_app import create_app
from musicrec.settings import load_settings

ASSET_LINK = re.compile(r"""(?:src|href)=["']?([^"' >]+)""")


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(environ={"MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
                                      "MUSICREC_SERVING__API_KEY": "a-key-for-the-test"})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_docs_page_links_only_to_the_services_own_files(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    links = ASSET_LINK.findall(answer.text)
    assert links and all(link.startswith(f"{ASSETS_URL}/") for link in links), links
    assert "http" not in answer.text.replace("'/openapi.json'", "").split("<body>")[0].lower()
    assert "/openapi.json" in answer.text
    for link in links:  # each one is served (without the API key: the docs stay open)
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert asset.content == (assets_dir() / link.rsplit("/", 1)[1]).read_bytes()


def test_each_asset_is_served_with_its_type_and_none_is_in_the_schema(client: TestClient) -> None:
    for name, media_type in ASSETS.items():
        answer = client.get(f"{ASSETS_URL}/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media_type), name
        assert len(answer.content) > 1000
    assert client.get(f"{ASSETS_URL}/nothing.js").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc would load its logo from its vendor's CDN
