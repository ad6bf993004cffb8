"""Run one service in this process: uvicorn with the services' request limits, on an allowed address.

    python -m musicrec.runtime.server events_service --host 127.0.0.1 --port 8020

The launcher (`python -m musicrec serve`, the cluster, the tests and benchmarks) starts every service
this way rather than with the `uvicorn` command, so that each one
- bounds request heads and their arrival time (`musicrec.runtime.http_limits`, `[serving]
  max_header_bytes`, `read_timeout`), which the uvicorn command cannot be told;
- refuses to listen beyond loopback without an API key (`musicrec.api.access.check_bind`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from musicrec.api.access import check_bind
from musicrec.runtime.http_limits import bounded_protocol
from musicrec.settings import SettingsError, get_settings

# uvicorn configures only its own loggers; this also shows the services' load logs (rows, seconds).
LOG_CONFIG = Path(__file__).with_name("logging.json")
# Seconds an idle keep-alive connection stays open (uvicorn's default); the services' own clients
# drop idle connections sooner (`musicrec.api.clients.IDLE_CONNECTION_SECONDS`).
KEEP_ALIVE_SECONDS = 5
STARTUP_FAILED = 3  # uvicorn's own exit code when a server cannot start


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m musicrec.runtime.server", description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the module holding `app`, e.g. events_service")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        serving = get_settings().serving
        check_bind(args.host, serving)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        f"{args.module}:app", host=args.host, port=args.port, http=bounded_protocol(serving),
        access_log=False, log_config=str(LOG_CONFIG), timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
