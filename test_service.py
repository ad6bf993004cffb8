"""Command-line client of the recommendations trio, with the course project's flags.

    python test_service.py                                   # top 10 default recommendations
    python test_service.py --offline --user_id 42 [--k 5]    # personal offline
    python test_service.py --online --user_id 42 [--k 5]     # from the user's latest listens
    python test_service.py --blended --user_id 42 [--k 5]    # offline and online blended
    python test_service.py --add_online --user_id 42 --item_id 7   # record a listen

It only calls the HTTP API at the URLs in the settings (config.ini or MUSICREC_URLS__* variables)
and prints the answer with track and artist names. Unlike the course script it exits non-zero, with
a message, when a service cannot be reached or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from musicrec.api.access import key_headers
from musicrec.settings import SettingsError, get_settings

TIMEOUT_SECONDS = 10.0


class ClientError(Exception):
    """A service could not be reached or refused the request; the message is for the user."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="personal offline recommendations")
    mode.add_argument("--online", action="store_true", help="recommendations from the latest listens")
    mode.add_argument("--blended", action="store_true", help="offline and online blended")
    mode.add_argument("--add_online", action="store_true", help="record that --user_id listened to --item_id")
    parser.add_argument("--user_id", type=int, help="the user (needed by every mode but the default)")
    parser.add_argument("--item_id", type=int, help="the track listened to (with --add_online)")
    parser.add_argument("--k", type=int, default=10, help="how many recommendations (default 10)")
    args = parser.parse_args(argv)
    if (args.offline or args.online or args.blended or args.add_online) and args.user_id is None:
        parser.error("--user_id is required with --offline, --online, --blended and --add_online")
    if args.add_online and args.item_id is None:
        parser.error("--item_id is required with --add_online")
    if args.item_id is not None and not args.add_online:
        parser.error("--item_id is only used with --add_online")
    return args


def post(base_url: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
    """POST as the course clients do, with the API key if one is set; a failure is a ClientError."""
    url = f"{base_url}{path}"
    try:
        headers = key_headers(get_settings().serving)
        response = httpx.post(url, params=params, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach {url}: {str(exc) or type(exc).__name__} (is the service running? "
                          "start the trio with: python -m musicrec serve)") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ClientError(f"{url} answered {response.status_code}: {detail}")
    return response.json()


def print_recs(title: str, answer: dict[str, Any]) -> None:
    print(title)
    if not answer["recs"]:
        print("  (none)")
    for place, track in enumerate(answer.get("details") or [], start=1):
        name = track["name"] or "(unnamed track)"
        artists = ", ".join(track["artists"]) or "(unknown artist)"
        print(f"  {place:>3}. {track['item_id']:>9}  {name} — {artists}")
        if track.get("reason"):
            print(f"{'':17}why: {track['reason']['text']}")
    if answer.get("degraded"):
        print("  note: degraded answer (the events or features service did not answer)")


# mode flag -> (title word, route)
PERSONAL_MODES = {
    "offline": ("Offline", "/recommendations_offline"),
    "online": ("Online", "/recommendations_online"),
    "blended": ("Blended", "/recommendations"),
}


def run(args: argparse.Namespace) -> None:
    urls = get_settings().urls
    if args.add_online:
        post(urls.events_store_url, "/put", {"user_id": args.user_id, "item_id": args.item_id})
        print(f"Added listen: user {args.user_id}, track {args.item_id}")
        return
    mode = next((name for name in PERSONAL_MODES if getattr(args, name)), None)
    if mode is None:
        answer = post(urls.recommendations_url, "/recommendations_default", {"k": args.k, "details": "true"})
        print_recs(f"Default recommendations (top {args.k} popular):", answer)
        return
    word, path = PERSONAL_MODES[mode]
    answer = post(urls.recommendations_url, path, {"user_id": args.user_id, "k": args.k, "details": "true"})
    print_recs(f"{word} recommendations for user {args.user_id} (k={args.k}):", answer)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except (ClientError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
