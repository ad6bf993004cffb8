"""Schemathesis against the running features and recommendations services: no request gets a 5xx.

Valid and invalid requests are generated from each service's own OpenAPI document and sent over
HTTP to the real processes (the recommendations service really calls the other two). Bounded to a
fixed number of examples per service so the suite stays quick.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import Trio

pytestmark = pytest.mark.slow
EXAMPLES = 120


@pytest.mark.parametrize("service", ["features", "recommendations"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_never_get_a_server_error(
    shared_trio: Trio, service: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{shared_trio.url(service)}/openapi.json")

    @hypothesis.given(case=schema.as_strategy(mode))
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def call(case: schemathesis.Case) -> None:
        response = case.call()
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    call()
