"""`/docs` (Swagger UI) renders in a real browser with every request beyond the service blocked: its
script and styles come from the service itself (musicrec/api/docs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route

from musicrec.runtime.launcher import ServiceSpec, free_port, running
from tests.web.browser import BrowserPage, chromium_page

pytestmark = pytest.mark.slow


class Offline:
    """Aborts every request that leaves the service's own host and port, and remembers them."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.blocked: list[str] = []
        self.served: list[str] = []

    def __call__(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            self.served.append(parts.path)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture()
def events_url(tmp_path: Path) -> Iterator[str]:
    spec = ServiceSpec("events", "events_service", f"http://127.0.0.1:{free_port()}")
    env = {"MUSICREC_EVENTS__BACKEND": "sqlite",
           "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3")}
    with running([spec], "127.0.0.1", env, log_dir=tmp_path):
        yield spec.url


@pytest.fixture()
def offline_browser(events_url: str) -> Iterator[tuple[BrowserPage, Offline]]:
    with chromium_page() as opened:
        network = Offline(events_url)
        opened.page.route("**/*", network)
        yield opened, network


def test_swagger_ui_renders_the_operations_offline(events_url: str,
                                                   offline_browser: tuple[BrowserPage, Offline]) -> None:
    opened, network = offline_browser
    opened.page.goto(f"{events_url}/docs")
    opened.page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=20_000)
    paths = set(opened.page.locator(".swagger-ui .opblock-summary-path").all_inner_texts())
    assert {"/put", "/get", "/health"} <= {path.strip() for path in paths}
    assert opened.page.locator(".swagger-ui .info .title").inner_text().startswith("Events service")
    assert network.blocked == []
    assets = {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"}
    assert assets <= set(network.served)
    assert opened.errors == []

