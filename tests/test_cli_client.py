"""test_service.py, the command-line client: flags, what it asks the API, what it prints, its errors.

The HTTP calls are replaced by a recorder here; tests/e2e/test_course_scenario.py runs the client
against the real services.
"""

from __future__ import annotations

from typing import Any

import pytest

import test_service
from musicrec.runtime.launcher import free_port
from musicrec.settings import load_settings

URLS = {"MUSICREC_URLS__RECOMMENDATIONS_URL": "http://127.0.0.1:9100",
        "MUSICREC_URLS__EVENTS_STORE_URL": "http://127.0.0.1:9120"}
ANSWER = {"recs": [7, 8], "degraded": False, "details": [
    {"item_id": 7, "name": "Seven", "artists": ["Ann", "Bob"],
     "reason": {"text": "one of the most played tracks"}},
    {"item_id": 8, "name": None, "artists": []},
]}


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, Any]]]:
    """Record each API call instead of sending it; every call gets ANSWER."""
    recorded: list[tuple[str, str, dict[str, Any]]] = []

    def record(base_url: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        recorded.append((base_url, path, params))
        return {"result": "ok"} if path == "/put" else ANSWER

    monkeypatch.setattr(test_service, "post", record)
    monkeypatch.setattr(test_service, "get_settings", lambda: load_settings(environ=URLS))
    return recorded


@pytest.mark.parametrize(
    ("argv", "path", "params"),
    [([], "/recommendations_default", {"k": 10, "details": "true"}),
     (["--k", "3"], "/recommendations_default", {"k": 3, "details": "true"}),
     (["--offline", "--user_id", "5"], "/recommendations_offline",
      {"user_id": 5, "k": 10, "details": "true"}),
     (["--online", "--user_id", "5", "--k", "2"], "/recommendations_online",
      {"user_id": 5, "k": 2, "details": "true"}),
     (["--blended", "--user_id", "0"], "/recommendations", {"user_id": 0, "k": 10, "details": "true"})],
)
def test_each_mode_asks_its_route(calls: list, argv: list[str], path: str, params: dict) -> None:
    assert test_service.main(argv) == 0
    assert calls == [("http://127.0.0.1:9100", path, params)]


def test_add_online_puts_a_listen(calls: list, capsys: pytest.CaptureFixture[str]) -> None:
    assert test_service.main(["--add_online", "--user_id", "3", "--item_id", "9"]) == 0
    assert calls == [("http://127.0.0.1:9120", "/put", {"user_id": 3, "item_id": 9})]
    assert capsys.readouterr().out == "Added listen: user 3, track 9\n"


def test_prints_names_and_artists(calls: list, capsys: pytest.CaptureFixture[str]) -> None:
    test_service.main(["--offline", "--user_id", "5", "--k", "2"])
    assert capsys.readouterr().out.splitlines() == [
        "Offline recommendations for user 5 (k=2):",
        "    1.         7  Seven — Ann, Bob",
        "                 why: one of the most played tracks",
        "    2.         8  (unnamed track) — (unknown artist)",
    ]


def test_degraded_and_empty_answers_are_said(capsys: pytest.CaptureFixture[str]) -> None:
    test_service.print_recs("Online:", {"recs": [], "degraded": True, "details": []})
    assert capsys.readouterr().out.splitlines() == [
        "Online:", "  (none)", "  note: degraded answer (the events or features service did not answer)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--offline"], "--user_id is required"), (["--add_online", "--user_id", "1"], "--item_id is required"),
     (["--item_id", "4"], "--item_id is only used with --add_online"),
     (["--offline", "--online", "--user_id", "1"], "not allowed with"), (["--user_id", "x"], "invalid int")],
)
def test_wrong_arguments_exit_2_with_a_message(argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        test_service.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_unreachable_service_exits_1_naming_the_url(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = load_settings(environ={"MUSICREC_URLS__RECOMMENDATIONS_URL": url})
    monkeypatch.setattr(test_service, "get_settings", lambda: settings)
    assert test_service.main(["--blended", "--user_id", "1"]) == 1
    error = capsys.readouterr().err
    assert f"error: cannot reach {url}/recommendations" in error
    assert "python -m musicrec serve" in error
