"""schemathesis against the live OpenAPI document: no server error, every response as documented."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from appliance import __version__
from appliance.api import PREFIX, api, openapi
from appliance.runtime import Runtime
from appliance.server import RunningServer
from appliance.staff.registers import get_register
from appliance.staff.sessions import start_session
from tests.conftest import PINS, Store

EXAMPLES = 60


def _document() -> dict[str, Any]:
    """The same document GET /api/v1/openapi.json serves (checked below), built without a server."""
    return openapi.build(
        api.operations, prefix=PREFIX, title="Tillbox appliance API", version=__version__
    )


# The scan stream never ends by itself, and schemathesis reads a whole body: it has its own
# tests (test_scans_api.py).
schema = schemathesis.openapi.from_dict(_document()).exclude(path=f"{PREFIX}/scans/stream")
schema.config.generation.update(max_examples=EXAMPLES)


def test_served_document_is_the_tested_one(store: Store) -> None:
    served = store.client.get("/api/v1/openapi.json").get_json()
    assert served == json.loads(json.dumps(_document()))
    assert served["openapi"] == "3.1.0"
    assert len(served["paths"]) >= 14


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_conforms(case: Any, server: RunningServer, store: Store, catalog: Runtime) -> None:
    """Positive and negative (fuzzed) cases against the real waitress server, with a fresh
    manager session each time (so role-gated operations are exercised, not just refused)."""
    register = get_register(store.rt, store.register_id)
    session = start_session(
        store.rt, register, staff_id=store.staff["manager"], pin=PINS["manager"]
    )
    headers = dict(case.headers or {})
    # A negative case may leave out the token on purpose; then it must stay out.
    if not schema.is_security_param_negated(case):
        headers.setdefault("Authorization", f"Bearer {session.token}")
    case.call_and_validate(base_url=server.url, headers=headers)
