"""A real `redis-server` for the tests (`musicrec.cluster.redis_server`), started only when a test
asks for `redis_url`, once per session, and stopped at the end. Loaded as a pytest plugin from
`tests/conftest.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from musicrec.cluster.redis_server import running_redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running redis-server owned by this test session."""
    with running_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url
