"""A real redis-server (`musicrec.cluster.redis_server`): started again on its port and files after a
kill, it replays its append-only file, and its report says so."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from musicrec.cluster.redis_server import running_redis_server


def test_a_server_started_again_after_a_kill_replays_its_file_and_says_so(tmp_path: Path) -> None:
    with running_redis_server(tmp_path / "redis") as server:
        assert server.replay_report().endswith("no append-only file yet, 0 keys")
        with redis.Redis.from_url(server.url) as client:
            client.rpush("listens", 1, 2, 3)
        assert server.process is not None
        server.process.kill()  # kill -9: only what the append-only file holds survives
        server.process.wait()
        assert not server.answers()
        process = server.launch()  # as the cluster's supervisor does: no waiting
        deadline = time.monotonic() + 10
        while not server.answers():
            assert process.poll() is None and time.monotonic() < deadline, server.log_file.read_text()
            time.sleep(0.02)
        report = server.replay_report()
        assert f"redis-server at {server.url} (files in {server.data_dir}): append-only file replayed (" in report
        assert "DB loaded from append only file" in report and report.endswith(", 1 keys")
        with redis.Redis.from_url(server.url) as client:
            assert client.lrange("listens", 0, -1) == [b"1", b"2", b"3"]
