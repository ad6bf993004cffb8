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
import logging
import sys

import uvicorn

from musicrec.api.access import check_bind
from musicrec.api.compat import unsupported
from musicrec.logs import log_config
from musicrec.runtime.http_limits import bounded_protocol
from musicrec.settings import SettingsError, find_config, get_settings

logger = logging.getLogger("musicrec.runtime.server")  # also when run as __main__

# The apps of the three services, made in the package (not the checkout's `*_service.py` files that
# say the same), so an installed package serves from any directory; any other module's `app` is
# served as it is.
SERVICE_APPS = {
    "events_service": "musicrec.api.events_app:create_app",
    "features_service": "musicrec.api.features_app:create_app",
    "recommendations_service": "musicrec.api.recommendations_app:create_app",
}
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
        settings = get_settings()
        check_bind(args.host, settings.serving)
        config_file = find_config()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = SERVICE_APPS.get(args.module)
    config = uvicorn.Config(
        factory or f"{args.module}:app", factory=factory is not None, host=args.host, port=args.port,
        http=bounded_protocol(settings.serving), access_log=settings.logging.access_log,
        log_config=log_config(settings.logging, service=args.module.removesuffix("_service")),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )  # uvicorn.Config sets up logging, so the line below is formatted as configured
    logger.info("settings from %s", config_file)
    for problem in unsupported():  # pip keeps to pyproject's ranges; a hand-made environment may not
        logger.warning("unsupported framework version: %s (musicrec/api/compat.py)", problem)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
