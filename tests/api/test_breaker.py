"""The circuit breaker on a hand-driven clock: opens after N failures, probes once, closes on success."""

from __future__ import annotations

import logging

import pytest

from musicrec.api.breaker import CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("features", failures=3, reset=1.0, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.failed("timed out")


def test_stays_closed_below_the_threshold_and_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, 2)
    breaker.succeeded()
    _fail(breaker, 2)
    breaker.before_call()  # still lets calls through
    assert not breaker.is_open


def test_opens_after_n_failures_in_a_row_and_skips_calls(
    breaker: CircuitBreaker, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        _fail(breaker, 3)
        assert breaker.is_open
        clock.now += 0.4
        with pytest.raises(CircuitOpen, match="skipped: 3 failures in a row, next try in 0.6 s"):
            breaker.before_call()
        for _ in range(100):
            with pytest.raises(CircuitOpen):
                breaker.before_call()
    assert caplog.messages == ["features failed 3 times in a row (last: timed out): skipping it for 1.0 s, "
                               "then probing"]


def test_after_the_reset_one_probe_goes_through_and_its_success_closes(
    breaker: CircuitBreaker, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    _fail(breaker, 3)
    clock.now += 1.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # others still skip while the probe is out
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        breaker.succeeded()
    assert not breaker.is_open
    breaker.before_call()
    assert caplog.messages == ["features is answering again: circuit closed"]


def test_a_failed_probe_opens_it_for_another_interval(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 1.0
    breaker.before_call()
    breaker.failed("refused")
    clock.now += 0.9
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 0.1
    breaker.before_call()  # the next probe


def test_an_abandoned_probe_lets_the_next_call_probe(breaker: CircuitBreaker, clock: Clock) -> None:
    _fail(breaker, 3)
    clock.now += 1.0
    breaker.before_call()
    breaker.abandoned()
    breaker.before_call()  # probes at once instead of waiting another interval
    assert breaker.is_open
