"""Repeated warnings: the first of a kind at once, then one line per interval saying how many were left out."""

from __future__ import annotations

import logging

import pytest

from musicrec.throttled_log import ThrottledWarnings


def test_one_line_per_kind_and_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    warnings = ThrottledWarnings(logging.getLogger("test.throttled"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for second in range(25):  # 10 a second for 25 s
            for _ in range(10):
                now[0] = float(second)
                warnings.warn("features", f"features down at {second}")
        warnings.warn("events", "events down")
    assert caplog.messages == [
        "features down at 0",
        "features down at 10 (and 99 more like it in the last 10 s)",
        "features down at 20 (and 99 more like it in the last 10 s)",
        "events down",
    ]
