"""Every endpoint × every kind of caller: who gets in and who is refused with 401 or 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from appliance.api import api
from appliance.staff.directory import add_staff
from protocol.permissions import Role
from tests.conftest import PINS, Store

CALLERS = ("anonymous", "device", "cashier", "supervisor", "manager")
LEVEL = {name: rank for rank, name in enumerate(CALLERS)}

Request = Callable[[Store], tuple[str, Any]]


def _plain(path: str) -> Request:
    return lambda store: (path, None)


def _unlock(store: Store) -> tuple[str, Any]:
    return f"/api/v1/staff/{store.staff['cashier2']}/unlock", {}


def _revoke(store: Store) -> tuple[str, Any]:
    throwaway, _ = store.new_register("Throwaway")
    return f"/api/v1/registers/{throwaway}", None


_NO_SUCH_ID = "01a21413-8c7e-75a6-a275-979e269c5337"

_new_pins = iter(f"{n:05d}" for n in range(30000, 40000))


def _new_staff(store: Store) -> tuple[str, Any]:
    return "/api/v1/staff", {"name": "New", "role": "cashier", "pin": next(_new_pins)}


def _change_staff(store: Store) -> tuple[str, Any]:
    member = add_staff(store.rt, name="Temp", role=Role.CASHIER, pin=next(_new_pins))
    return f"/api/v1/staff/{member.id}", {"name": "Temp renamed"}


# The expected minimum caller for every operation. Written out by hand on purpose: the test
# fails when an endpoint is added without deciding who may call it.
EXPECTED: dict[tuple[str, str], tuple[str, Request]] = {
    ("GET", "/health"): ("anonymous", _plain("/api/v1/health")),
    ("GET", "/openapi.json"): ("anonymous", _plain("/api/v1/openapi.json")),
    ("GET", "/permissions"): ("device", _plain("/api/v1/permissions")),
    ("POST", "/registers"): (
        "anonymous",
        lambda store: ("/api/v1/registers", {"name": "Tab", "manager_pin": PINS["manager"]}),
    ),
    ("GET", "/registers"): ("manager", _plain("/api/v1/registers")),
    ("GET", "/registers/current"): ("device", _plain("/api/v1/registers/current")),
    ("DELETE", "/registers/<register_id>"): ("manager", _revoke),
    ("POST", "/registers/<register_id>/unlock"): (
        "supervisor",
        lambda store: (f"/api/v1/registers/{store.register_id}/unlock", {}),
    ),
    ("GET", "/staff"): ("device", _plain("/api/v1/staff")),
    ("POST", "/staff"): ("manager", _new_staff),
    ("PATCH", "/staff/<staff_id>"): ("manager", _change_staff),
    ("POST", "/staff/<staff_id>/unlock"): ("supervisor", _unlock),
    (
        "POST",
        "/sessions",
    ): (
        "device",
        lambda store: (
            "/api/v1/sessions",
            {"staff": store.staff["cashier"], "pin": PINS["cashier"]},
        ),
    ),
    ("GET", "/sessions/current"): ("cashier", _plain("/api/v1/sessions/current")),
    ("DELETE", "/sessions/current"): ("cashier", _plain("/api/v1/sessions/current")),
    ("POST", "/overrides"): (
        "cashier",
        lambda store: (
            "/api/v1/overrides",
            {"action": "stock_count_approve", "reason": "count", "approver_pin": PINS["manager"]},
        ),
    ),
    ("GET", "/overrides"): ("supervisor", _plain("/api/v1/overrides")),
    ("GET", "/catalog/changes"): ("device", _plain("/api/v1/catalog/changes?since=0")),
    ("GET", "/catalog/search"): ("device", _plain("/api/v1/catalog/search?q=tee")),
    ("GET", "/catalog/barcodes/<code>"): (
        "device",
        _plain("/api/v1/catalog/barcodes/4006381333931"),
    ),
    ("GET", "/catalog/variants/<variant_id>"): (
        "device",
        _plain("/api/v1/catalog/variants/unknown"),
    ),
    ("POST", "/events"): (
        "device",
        lambda store: ("/api/v1/events", {"events": [{}], "mode": "replay"}),
    ),
    ("GET", "/receipts/<number>"): ("device", _plain("/api/v1/receipts/s01-r01-000001")),
    ("GET", "/shifts/current"): ("device", _plain("/api/v1/shifts/current")),
    ("GET", "/shifts"): ("supervisor", _plain("/api/v1/shifts")),
    ("GET", "/shifts/<shift_id>/report"): (
        "cashier",
        _plain(f"/api/v1/shifts/{_NO_SUCH_ID}/report?kind=z"),
    ),
    ("POST", "/shifts/<shift_id>/report/print"): (
        "cashier",
        _plain(f"/api/v1/shifts/{_NO_SUCH_ID}/report/print?kind=z"),
    ),
    ("GET", "/reports/day"): ("supervisor", _plain("/api/v1/reports/day?date=2026-11-25")),
    ("GET", "/stock"): ("device", _plain("/api/v1/stock?variant=TEE-M-RED")),
    # Any register; with no cloud here it answers 503 once past the token check.
    ("GET", "/stock/chain"): ("device", _plain("/api/v1/stock/chain?variant=TEE-M-RED")),
    # Shipments from other stores to receive (appliance/api/transfers.py).
    ("GET", "/transfers/inbound"): ("device", _plain("/api/v1/transfers/inbound")),
    ("GET", "/stock/counts/<count_id>"): (
        "supervisor",
        _plain(f"/api/v1/stock/counts/{_NO_SUCH_ID}"),
    ),
    ("GET", "/reasons"): ("device", _plain("/api/v1/reasons")),
    ("GET", "/store"): ("device", _plain("/api/v1/store")),
    ("GET", "/review"): ("manager", _plain("/api/v1/review")),
    ("GET", "/scans/stream"): ("device", _plain("/api/v1/scans/stream")),
    # A manager, or any register when the fake_scanner setting is on (off here).
    ("POST", "/scans"): (
        "manager",
        lambda store: ("/api/v1/scans", {"register": store.register_id, "code": "96385074"}),
    ),
    ("GET", "/sync/status"): ("device", _plain("/api/v1/sync/status")),
    # With no cloud here these answer 503 once past the token and role checks.
    ("GET", "/balances/<kind>/<reference>"): ("device", _plain("/api/v1/balances/gift_card/G-1")),
    ("POST", "/balances/holds"): (
        "cashier",
        lambda store: (
            "/api/v1/balances/holds",
            {"kind": "gift_card", "reference": "G-1", "amount": 500},
        ),
    ),
    ("DELETE", "/balances/holds/<hold_id>"): (
        "cashier",
        _plain(f"/api/v1/balances/holds/{_NO_SUCH_ID}"),
    ),
    ("GET", "/printer"): ("device", _plain("/api/v1/printer")),
    ("POST", "/review/<int:flag_id>/resolve"): (
        "manager",
        lambda store: ("/api/v1/review/1/resolve", {"note": "looked at it"}),
    ),
}


def test_every_operation_is_in_the_matrix() -> None:
    declared = {(op.method, op.rule) for op in api.operations}
    assert declared == set(EXPECTED)


def _token(store: Store, caller: str) -> str | None:
    if caller == "anonymous":
        return None
    if caller == "device":
        return store.device
    return store.login(caller)


@pytest.mark.parametrize("operation", sorted(EXPECTED), ids=lambda op: f"{op[0]} {op[1]}")
def test_matrix(store: Store, catalog: object, operation: tuple[str, str]) -> None:
    method, _ = operation
    minimum, request = EXPECTED[operation]
    for caller in CALLERS:
        path, body = request(store)
        token = _token(store, caller)
        headers = store.bearer(token) if token else {}
        response = store.client.open(path, method=method, json=body, headers=headers)
        allowed = LEVEL[caller] >= LEVEL[minimum]
        if allowed:
            assert response.status_code not in (401, 403), (caller, response.get_json())
        else:
            expected = (
                401
                if caller == "anonymous" or (caller == "device" and minimum != "device")
                else 403
            )
            assert response.status_code == expected, (
                caller,
                response.status_code,
                response.get_json(),
            )
            assert set(response.get_json()) == {"error", "message", "details"}
