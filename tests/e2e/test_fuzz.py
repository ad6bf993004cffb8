"""Schemathesis against the three running services: no request gets a 5xx.

Valid and invalid requests are generated from each service's own OpenAPI document and sent over
HTTP to the real processes (the recommendations service really calls the other two), of a trio of
the module's own: its own events store (the fuzzer's listens land nowhere else), an API key,
which every generated request carries, and an A/B experiment of two arms. Bounded to a fixed
number of examples per service so the suite stays quick.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import Trio, started_trio

pytestmark = pytest.mark.slow
EXAMPLES = 120
KEY = "fuzz-key"


@pytest.fixture(scope="module")
def keyed_trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    folder = tmp_path_factory.mktemp("fuzz")
    experiment = {"MUSICREC_EXPERIMENTS__NAME": "fuzz", "MUSICREC_EXPERIMENTS__ARMS": "a:1, b:1",
                  "MUSICREC_EXPERIMENTS__ARM_B": "max_per_artist=0, blend=weighted",
                  "MUSICREC_EXPERIMENTS__EXPOSURE_LOG": str(folder / "exposures.jsonl")}
    with started_trio(folder, MUSICREC_SERVING__API_KEY=KEY, **experiment) as running:
        yield running


def test_the_recommendations_service_sends_the_key_to_the_events_service(keyed_trio: Trio) -> None:
    headers = {"X-API-Key": KEY}
    httpx.post(f"{keyed_trio.url('events')}/put", params={"user_id": 1, "item_id": 40},
               headers=headers).raise_for_status()
    answer = httpx.get(f"{keyed_trio.url('recommendations')}/recommendations_online", params={"user_id": 1})
    assert answer.json()["degraded"] is False
    assert answer.json()["recs"]


@pytest.mark.parametrize("service", ["events", "features", "recommendations"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_never_get_a_server_error(
    keyed_trio: Trio, service: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{keyed_trio.url(service)}/openapi.json")

    @hypothesis.given(case=schema.as_strategy(mode))
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-API-Key": KEY})
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    call()
