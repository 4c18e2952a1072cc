"""The sandbox against our reading of the contract, with schemathesis.

docs/DESIGN.md, "The sandbox".

Schemathesis generates requests from `sandbox/openapi.yaml` (our reading of the Patchworks API)
for every read operation and checks each answer: no server error, a documented status code,
the documented content type, and a body that matches the response schema.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

SCHEMA = schemathesis.openapi.from_path(
    Path(__file__).resolve().parents[2] / "sandbox" / "openapi.yaml"
).include(method="GET")
# Valid requests only: the contract does not list the 400/422 answers the sandbox gives to
# invalid ones (those are covered by the hand-written contract tests).
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE], with_security_parameters=False)


@SCHEMA.auth()
class SandboxKey:
    """The raw demo key in Authorization; schemathesis also checks that a wrong one gets 401."""

    def get(self, case, context):
        return "sandbox-demo-key"

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@SCHEMA.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_read_answers_as_the_contract_says(case, sandbox_server):
    if case.query and "include" in case.query and not case.path.startswith("/api/v1/flow-runs"):
        # The contract types `include` as any string; only its five relation names are valid.
        case.query["include"] = "flowVersion,virtualEnvironment,package,enabledBy,user"
    case.call_and_validate(base_url=sandbox_server.url)
