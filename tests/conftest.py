"""Test-wide set-up: tests never read the developer's config.ini values for paths or ports."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# A real redis-server, started only for tests that ask for the `redis_url` fixture.
pytest_plugins = ["tests.redis_server"]
