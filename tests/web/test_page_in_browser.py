"""The web page in a real browser (Debian's chromium via Playwright) against the real uvicorn trio.

The trio serves the tiny artifact set of tests/artifact_factory.py with the course's blending rule
(the latest three listens): user 1's personal list is 10, 11, 12, 13; similar tracks:
10 -> 11, 12, 40; 40 -> 41, 10; 20 -> 21, 42. Tracks are named "Track <id>".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from musicrec.runtime.launcher import stop_service
from tests.e2e.conftest import Trio, started_trio
from tests.web.browser import BrowserPage, MusicrecPage, ShownTrack, chromium_page

pytestmark = pytest.mark.slow


@pytest.fixture()
def trio(tmp_path: Path) -> Iterator[Trio]:
    with started_trio(tmp_path) as running_trio:
        yield running_trio


@pytest.fixture()
def browser() -> Iterator[BrowserPage]:
    with chromium_page() as opened:
        yield opened


def _ids(tracks: list[ShownTrack]) -> list[int]:
    return [int(track["item_id"]) for track in tracks]


def _follows(tracks: list[ShownTrack], played: int) -> list[ShownTrack]:
    """The online tracks whose reason names the listen just played."""
    return [track for track in tracks if track["source"] == "online" and track["because_of"] == str(played)]


def test_play_three_tracks_and_watch_online_change(trio: Trio, browser: BrowserPage) -> None:
    page = MusicrecPage(browser, trio.url("recommendations"))
    page.load()
    assert _ids(page.tracks("default")) == [30, 10, 20, 40, 41]
    assert page.page.inner_text("#quality-table") == "This artifact set has no metrics.json."
    assert page.page.locator("#docs a").count() == 3
    assert page.page.inner_text("#set") == "artifact set: artifacts"  # the tiny set's folder, no manifest

    page.open_user(1)
    assert _ids(page.tracks("offline")) == [10, 11, 12, 13]
    assert page.tracks("online") == []
    assert {track["source"] for track in page.tracks("blended")} == {"offline"}

    # 1: track 10 from the offline list
    played = page.play("offline", 1)
    online = page.tracks("online")
    assert played == 10 and _ids(online) == [11, 12, 40]
    assert _follows(online, 10) == online
    assert "similar to 'Track 10' by Artist A, which you just played" in online[0]["reason"]

    # 2: track 40 from the online list
    before = _ids(online)
    played = page.play("online", 3)
    online = page.tracks("online")
    assert played == 40 and _ids(online) != before and _ids(online) == [41, 11, 12]
    assert [track["item_id"] for track in _follows(online, 40)] == ["41"]
    assert [track["new"] for track in online] == [True, False, False]  # what changed is highlighted

    # 3: track 20, found by the search box
    assert page.search("track 2") == [20, 21]
    played = page.play_found(1)
    online = page.tracks("online")
    assert played == 20 and 21 in _ids(online) and _ids(online) != [41, 11, 12]
    (after_20,) = [track for track in _follows(online, 20) if track["item_id"] == "21"]
    assert "similar to 'Track 20' by Artist C, which you just played" in after_20["reason"]
    assert page.page.inner_text("#played").startswith("Track 20")
    assert page.degraded_banner() is None

    stop_service(trio.services["features"])
    page.open_user(1)
    banner = page.degraded_banner()
    assert banner is not None and "online and blended answers were made without a service" in banner
    assert page.tracks("online") == [] and _ids(page.tracks("blended")) == [10, 11, 12, 13]
    assert page.page.get_attribute("body", "data-degraded") == "true"
    page.play("blended", 2)  # the listen is still recorded (events is up); the lists stay degraded
    assert page.degraded_banner() is not None and page.tracks("online") == []
    assert page.page.inner_text("#played").startswith("Track 11")
    assert browser.errors == []


def test_sample_users_and_plain_errors(trio: Trio, browser: BrowserPage) -> None:
    page = MusicrecPage(browser, trio.url("recommendations"))
    page.load()
    page.sample_user("known")
    assert int(page.page.input_value("#user-id")) in (1, 2, 5)
    assert {track["source"] for track in page.tracks("offline")} == {"offline"}
    page.sample_user("cold")
    assert {track["source"] for track in page.tracks("offline")} == {"popular"}
    assert "no personal list for this listener yet" in page.tracks("offline")[0]["reason"]
    assert page.search("no such song") == []
    assert page.page.inner_text("#search-results") == "no track or artist by that name"
    assert browser.errors == []


def test_the_page_asks_for_the_key_when_the_services_need_one(tmp_path: Path, browser: BrowserPage) -> None:
    with started_trio(tmp_path, MUSICREC_SERVING__API_KEY="s3cret") as keyed:
        page = MusicrecPage(browser, keyed.url("recommendations"))
        page.load()
        page.open_user(1)  # reads are open (open_reads = true); the listen is a write
        assert page.page.locator("#key-form").is_hidden()
        page.play("offline", 1)
        assert page.page.locator("#key-form").is_visible() and "needs the API key" in page.status()
        assert page.tracks("online") == []
        with page.action():
            page.page.fill("#api-key", "s3cret")
            page.page.click("#key-form button[type=submit]")
        assert page.page.locator("#key-form").is_hidden()
        assert _ids(page.tracks("online")) == [11, 12, 40]  # the listen went through with the key
    # the failed write's 401 is the one console error: Chromium logs every failed response
    assert len(browser.errors) == 1 and "status of 401" in browser.errors[0], browser.errors


def test_a_link_opens_a_listener_who_excludes_and_dislikes_tracks(trio: Trio, browser: BrowserPage) -> None:
    page = MusicrecPage(browser, trio.url("recommendations"))
    page.load("?user_id=1")
    assert page.page.input_value("#user-id") == "1"
    assert _ids(page.tracks("offline")) == [10, 11, 12, 13]
    assert page.cap_note("blended") == "at most 2 tracks of one artist"
    assert page.cap_note("offline") == "no cap per artist"

    assert page.press("offline", 1, "exclude") == 10  # left out of every list, top popular fills in
    assert _ids(page.tracks("offline")) == [11, 12, 13, 30]
    assert 10 not in _ids(page.tracks("default"))
    assert page.page.inner_text("#excluded").startswith("Track 10")
    assert page.press("offline", 2, "dislike") == 12  # stored: the events service has it
    assert _ids(page.tracks("offline")) == [11, 13, 30, 20]
    assert _ids(page.tracks("blended")) == [11, 13, 30, 20]

    page.choose_cap("1")
    assert page.cap_note("offline") == "at most 1 track of one artist"
    page.load("?user_id=1")  # a new visit: the exclusion is gone, the dislike stays
    assert _ids(page.tracks("offline")) == [10, 11, 13, 30]
    assert browser.errors == []


def test_with_filter_heard_a_listen_refreshes_the_offline_list_too(tmp_path: Path,
                                                                   browser: BrowserPage) -> None:
    with started_trio(tmp_path, MUSICREC_SERVING__FILTER_HEARD="true") as trio:
        page = MusicrecPage(browser, trio.url("recommendations"))
        page.load("?user_id=1")
        assert _ids(page.tracks("offline")) == [10, 11, 12, 13]
        assert page.play("offline", 1) == 10
        assert _ids(page.tracks("offline")) == [11, 12, 13, 30]  # just heard: gone, top popular fills in
        assert 10 not in _ids(page.tracks("blended"))
    assert browser.errors == []


def test_the_page_shows_the_listeners_arm_of_an_experiment(tmp_path: Path, browser: BrowserPage) -> None:
    experiment = {"MUSICREC_EXPERIMENTS__NAME": "cap-test", "MUSICREC_EXPERIMENTS__ARMS": "uncapped:1, capped:1",
                  "MUSICREC_EXPERIMENTS__ARM_CAPPED": "max_per_artist=1",
                  "MUSICREC_EXPERIMENTS__EXPOSURE_LOG": str(tmp_path / "exposures.jsonl")}
    with started_trio(tmp_path, **experiment) as trio:
        page = MusicrecPage(browser, trio.url("recommendations"))
        page.load()
        assert page.page.locator("#arm").is_hidden()  # no listener, no arm
        page.open_user(1)  # in the capped arm (tests/e2e/test_listener_requests.py): one of Artist A's tracks
        assert page.page.inner_text("#arm") == "A/B arm: capped"
        assert _ids(page.tracks("blended")) == [10, 12, 13, 30]
        page.open_user(2)
        assert page.page.inner_text("#arm") == "A/B arm: uncapped"
    assert browser.errors == []
