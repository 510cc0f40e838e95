"""Pairing tablets as registers, device tokens, revocation."""

from __future__ import annotations

import pytest

from appliance.errors import Invalid
from appliance.staff.registers import clean_register_name
from tests.conftest import PINS, FakeWall, Store


def _pair(
    store: Store, pin: str, name: str = "Tablet 3", addr: str = "10.0.0.7"
) -> tuple[int, dict[str, object]]:
    response = store.client.post(
        "/api/v1/registers",
        json={"name": name, "manager_pin": pin},
        environ_base={"REMOTE_ADDR": addr},
    )
    body: dict[str, object] = response.get_json()
    return response.status_code, body


def test_a_manager_pin_pairs_a_tablet(store: Store) -> None:
    status, body = _pair(store, PINS["manager"])
    assert status == 201, body
    register = body["register"]
    assert register["id"] == "s01-r02"  # type: ignore[index]
    assert register["paired_by"] == store.staff["manager"]  # type: ignore[index]
    assert body["store"] == "s01"
    token = str(body["token"])
    assert token.startswith("tbd_")
    current = store.client.get("/api/v1/registers/current", headers=store.bearer(token))
    assert current.get_json()["name"] == "Tablet 3"


def test_only_a_manager_pin_pairs(store: Store) -> None:
    for who in ("cashier", "supervisor"):
        status, body = _pair(store, PINS[who])
        assert status == 401 and body["error"] == "wrong_pin"
    assert store.rt.db.scalar("SELECT count(*) FROM register") == 1


def test_pairing_guesses_lock_the_address(store: Store, wall: FakeWall) -> None:
    for attempt in range(5):
        assert _pair(store, "0000")[0] == (429 if attempt == 4 else 401)
    status, body = _pair(store, PINS["manager"])
    assert status == 429
    assert body["error"] == "locked"
    # Another address is not locked, and the lock lifts after five minutes.
    assert _pair(store, PINS["manager"], addr="10.0.0.8")[0] == 201
    wall.advance(301)
    assert _pair(store, PINS["manager"])[0] == 201


def test_revoked_register_loses_device_and_sessions(store: Store) -> None:
    cashier = store.login("cashier")
    manager_device_id, manager_device = store.new_register("Office")
    manager = store.login("manager", device=manager_device)
    response = store.client.delete(
        f"/api/v1/registers/{store.register_id}", headers=store.bearer(manager)
    )
    assert response.status_code == 200
    assert response.get_json()["revoked"] is True
    for token in (store.device, cashier):
        refused = store.client.get("/api/v1/staff", headers=store.bearer(token))
        assert refused.status_code == 401
    listed = store.client.get("/api/v1/registers", headers=store.bearer(manager)).get_json()
    assert {r["id"]: r["revoked"] for r in listed["registers"]} == {
        store.register_id: True,
        manager_device_id: False,
    }


def test_revoking_an_unknown_register_is_404(store: Store) -> None:
    manager = store.login("manager")
    response = store.client.delete("/api/v1/registers/s01-r99", headers=store.bearer(manager))
    assert response.status_code == 404


def test_register_names_are_checked(store: Store) -> None:
    for name in ("two\nlines", "   ", "\u2028", "x" * 61):
        status, body = _pair(store, PINS["manager"], name=name)
        assert status == 422, name
        assert body["details"] == {"path": "$.name"}
    with pytest.raises(Invalid) as refused:
        clean_register_name("tab\there")
    assert refused.value.code == "invalid_name"
    assert clean_register_name("  Front till ") == "Front till"


def test_a_locked_register_can_be_unlocked_early(store: Store, wall: FakeWall) -> None:
    """Five wrong PINs lock the front till; a supervisor lifts it from the back office."""
    # Wrong PINs for different people: only the register reaches five.
    for attempt, who in enumerate(["cashier", "supervisor", "manager", "cashier2", "cashier"]):
        response = store.client.post(
            "/api/v1/sessions",
            json={"staff": store.staff[who], "pin": "0000"},
            headers=store.bearer(store.device),
        )
        assert response.status_code == (429 if attempt == 4 else 401)
        assert attempt < 4 or response.get_json()["details"]["locked"] == "register"
    _, office = store.new_register("Office")
    cashier_elsewhere = store.login("cashier2", device=office)
    refused = store.client.post(
        f"/api/v1/registers/{store.register_id}/unlock",
        json={},
        headers=store.bearer(cashier_elsewhere),
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "override_required"
    supervisor = store.login("supervisor", device=office)
    done = store.client.post(
        f"/api/v1/registers/{store.register_id}/unlock", json={}, headers=store.bearer(supervisor)
    )
    assert done.status_code == 200
    assert done.get_json()["locked_until_ms"] is None
    store.login("cashier")  # the front till works again, long before five minutes
