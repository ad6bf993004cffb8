"""A real browser for the page's tests and tools: Debian's chromium driven by Playwright for Python.

Playwright's own browser download is not used (nor reachable here): it drives the system's
/usr/bin/chromium (installed by `make test`), headless and without any network of its own.
Every console error and uncaught page error is collected, so a test can assert there were none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from playwright.sync_api import ConsoleMessage, Error, Page, ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}


class ShownTrack(TypedDict):
    """A track of a list as the page shows it; ids are the page's strings."""

    item_id: str
    name: str
    source: str
    because_of: str
    reason: str
    new: bool


@dataclass
class BrowserPage:
    """An open page and the errors its console reported so far."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error.message}")


@contextlib.contextmanager
def chromium_page() -> Iterator[BrowserPage]:
    """A fresh headless chromium page; the browser is closed on exit."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (`make system-test` does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            opened = BrowserPage(page)
            page.on("console", opened._console)
            page.on("pageerror", opened._page_error)
            yield opened
        finally:
            browser.close()


class MusicrecPage:
    """The recommendations service's page as a person uses it: each action waits until it is done."""

    def __init__(self, opened: BrowserPage, url: str) -> None:
        self.page = opened.page
        self.url = url

    def _finished(self) -> int:
        return int(self.page.get_attribute("#status", "data-finished") or 0)

    @contextlib.contextmanager
    def action(self) -> Iterator[None]:
        """Do something on the page, then wait until the page says the action is over."""
        before = self._finished()
        yield
        self.page.wait_for_function(
            f"Number(document.querySelector('#status').dataset.finished || 0) > {before}")

    def load(self, query: str = "") -> None:
        """Open the page (with `query`, e.g. "?user_id=1") and wait until its first action is done."""
        self.page.goto(f"{self.url}/{query}")
        self.page.wait_for_function("Number(document.querySelector('#status').dataset.finished || 0) > 0")

    def open_user(self, user_id: int) -> None:
        with self.action():
            self.page.fill("#user-id", str(user_id))
            self.page.click("#user-form button[type=submit]")

    def sample_user(self, kind: str) -> None:
        with self.action():
            self.page.click(f"button.sample[data-kind={kind}]")

    def play(self, list_name: str, place: int) -> int:
        """Play the track at `place` (1-based) of a list; returns its id."""
        track = self.page.locator(f'.list[data-list="{list_name}"] li.track').nth(place - 1)
        item_id = int(track.get_attribute("data-item") or -1)
        with self.action():
            track.locator("button.play").click()
        return item_id

    def press(self, list_name: str, place: int, button: str) -> int:
        """Press a track's button (play, exclude or dislike) at `place` (1-based) of a list; its id."""
        track = self.page.locator(f'.list[data-list="{list_name}"] li.track').nth(place - 1)
        item_id = int(track.get_attribute("data-item") or -1)
        with self.action():
            track.locator(f"button.{button}").click()
        return item_id

    def choose_cap(self, value: str) -> None:
        with self.action():
            self.page.select_option("#cap", value)

    def cap_note(self, list_name: str) -> str:
        return self.page.inner_text(f'.list[data-list="{list_name}"] .cap')

    def search(self, query: str) -> list[int]:
        with self.action():
            self.page.fill("#search", query)
        return [int(item) for item in self.page.locator("#search-results li.track").evaluate_all(
            "items => items.map(item => item.dataset.item)")]

    def play_found(self, place: int) -> int:
        track = self.page.locator("#search-results li.track").nth(place - 1)
        item_id = int(track.get_attribute("data-item") or -1)
        with self.action():
            track.locator("button.play").click()
        return item_id

    def tracks(self, list_name: str) -> list[ShownTrack]:
        """Each track of a list as shown: id, name, reason source, the listen it follows, highlight."""
        return self.page.locator(f'.list[data-list="{list_name}"] li.track').evaluate_all("""items =>
            items.map(item => {
                const reason = item.querySelector('.reason');
                return {item_id: item.dataset.item, name: item.querySelector('.name').textContent,
                        source: reason ? reason.dataset.source : '',
                        because_of: reason ? reason.dataset.becauseOf : '',
                        reason: reason ? reason.textContent : '', new: item.classList.contains('new')};
            })""")

    def status(self) -> str:
        return self.page.inner_text("#status")

    def last_action_ms(self) -> int:
        return int(self.page.get_attribute("#status", "data-ms") or -1)

    def degraded_banner(self) -> str | None:
        """The degraded banner's text, or None while it is hidden."""
        banner = self.page.locator("#degraded")
        return banner.inner_text() if banner.is_visible() else None
