"""schemathesis over the OpenAPI schema, with valid keys: no input causes a 5xx, and every
answer matches the schema (status code, content type, body)."""

import collections

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from services.api.app import create_app
from tests.conftest import test_settings

EXAMPLES_PER_ENDPOINT = 110  # 10 operations: over 1,000 examples a run
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Who calls each operation: the role allowed to, so the fuzzing reaches past authorisation.
CALLER = {
    ("POST", "/v1/cases"): "upstream",
    ("POST", "/v1/cases/{case_id}/resume"): "mod-ana",
    ("POST", "/v1/cases/{case_id}/rollback"): "sup-cy",
    ("POST", "/v1/cases/{case_id}/retry"): "admin",
}
examples_run: collections.Counter = collections.Counter()


# Built at import (schemathesis' lazy fixture loader does not run under pytest 9), from the app's
# schema without a request: a request would start the app (and its database pool) before the
# fixtures have made the database. The first fuzzed request starts it.
app = create_app(test_settings())
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app, schema.location = app, "/openapi.json"


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(f"\nschemathesis: {sum(examples_run.values())} examples over {len(examples_run)} operations")


@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None,
                     suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, keys, settings):
    caller = CALLER.get((case.method, case.path), "admin")
    case.call_and_validate(headers={"X-API-Key": keys[caller]}, checks=CHECKS)
    examples_run[case.operation.label] += 1
