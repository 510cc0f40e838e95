"""Staff PIN login, lockout per staff member and per device, idle expiry, logout."""

from __future__ import annotations

import pytest

from appliance.errors import Locked, Unauthorized
from appliance.staff.registers import get_register
from appliance.staff.sessions import resolve, start_session
from tests.conftest import PINS, FakeWall, Store


def test_login_gives_a_session_that_resolves_to_staff_and_register(store: Store) -> None:
    token = store.login("cashier")
    caller = resolve(store.rt, token)
    assert caller.staff is not None and caller.staff.id == store.staff["cashier"]
    assert caller.register.id == store.register_id
    assert token.startswith("tbs_")


def test_tokens_are_stored_only_as_hashes(store: Store) -> None:
    token = store.login("cashier")
    dump = "\n".join(store.rt.db.connection().iterdump())
    assert token not in dump
    assert store.device not in dump
    hashes = [row[0] for row in store.rt.db.query("SELECT pin_hash FROM staff")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_wrong_pin_is_refused(store: Store) -> None:
    register = get_register(store.rt, store.register_id)
    with pytest.raises(Unauthorized):
        start_session(store.rt, register, staff_id=store.staff["cashier"], pin="0000")


def test_five_failures_lock_the_staff_member_for_five_minutes(store: Store, wall: FakeWall) -> None:
    register = get_register(store.rt, store.register_id)
    _, other_device = store.new_register("Back till")
    other = get_register(store.rt, _register_id(store, other_device))
    # Spread over two devices, so only the staff counter reaches five.
    for attempt in range(5):
        on = register if attempt % 2 else other
        # The fifth wrong PIN already answers "locked", not just "wrong".
        with pytest.raises(Locked if attempt == 4 else Unauthorized):
            start_session(store.rt, on, staff_id=store.staff["cashier"], pin="0000")
    # Even the right PIN is refused while locked, from any device.
    with pytest.raises(Locked) as locked:
        start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])
    assert locked.value.details["locked"] == "staff"
    # Other staff can still log in on that register.
    start_session(store.rt, register, staff_id=store.staff["supervisor"], pin=PINS["supervisor"])
    wall.advance(4 * 60 + 59)
    with pytest.raises(Locked):
        start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])
    wall.advance(2)
    start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])


def _register_id(store: Store, device_token: str) -> str:
    return resolve(store.rt, device_token).register.id


def test_five_failures_on_one_device_lock_the_device(store: Store, wall: FakeWall) -> None:
    register = get_register(store.rt, store.register_id)
    # Guessing across different staff members still locks the device.
    targets = ["cashier", "supervisor", "manager", "cashier2", "cashier"]
    for attempt, who in enumerate(targets):
        with pytest.raises(Locked if attempt == 4 else Unauthorized):
            start_session(store.rt, register, staff_id=store.staff[who], pin="0000")
    with pytest.raises(Locked) as locked:
        start_session(store.rt, register, staff_id=store.staff["manager"], pin=PINS["manager"])
    assert locked.value.details["locked"] == "register"
    # Another register is not affected.
    _, other_device = store.new_register("Back till")
    other = get_register(store.rt, _register_id(store, other_device))
    start_session(store.rt, other, staff_id=store.staff["manager"], pin=PINS["manager"])
    wall.advance(5 * 60 + 1)
    start_session(store.rt, register, staff_id=store.staff["manager"], pin=PINS["manager"])


def test_unknown_staff_counts_against_the_device(store: Store) -> None:
    register = get_register(store.rt, store.register_id)
    for attempt in range(5):
        with pytest.raises(Locked if attempt == 4 else Unauthorized):
            start_session(store.rt, register, staff_id="s01-staff-999", pin="1234")
    with pytest.raises(Locked):
        start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])


def test_wrong_pins_are_forgotten_after_the_window(store: Store, wall: FakeWall) -> None:
    """Four typos, a quiet quarter of an hour, then four more: still nobody is locked."""
    register = get_register(store.rt, store.register_id)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            start_session(store.rt, register, staff_id=store.staff["cashier"], pin="0000")
    wall.advance(store.rt.settings.pin_failure_window_minutes * 60 + 1)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            start_session(store.rt, register, staff_id=store.staff["cashier"], pin="0000")
    start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])


def test_a_right_pin_resets_the_count(store: Store) -> None:
    register = get_register(store.rt, store.register_id)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            start_session(store.rt, register, staff_id=store.staff["cashier"], pin="0000")
    start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])
    for _ in range(4):
        with pytest.raises(Unauthorized):
            start_session(store.rt, register, staff_id=store.staff["cashier"], pin="0000")
    start_session(store.rt, register, staff_id=store.staff["cashier"], pin=PINS["cashier"])


def test_idle_session_expires_and_activity_keeps_it_alive(store: Store, wall: FakeWall) -> None:
    token = store.login("cashier")
    idle = store.rt.settings.staff_idle_minutes * 60
    for _ in range(4):  # used every idle-1 minutes for a while: still alive
        wall.advance(idle - 60)
        resolve(store.rt, token)
    wall.advance(idle + 1)
    with pytest.raises(Unauthorized) as expired:
        resolve(store.rt, token)
    assert expired.value.code == "session_expired"


def test_sessions_have_a_maximum_age(store: Store, wall: FakeWall) -> None:
    token = store.login("cashier")
    for _ in range(store.rt.settings.staff_session_max_hours * 6):
        wall.advance(10 * 60)
        resolve(store.rt, token)
    wall.advance(10 * 60)
    with pytest.raises(Unauthorized):
        resolve(store.rt, token)


def test_logout_ends_the_session(store: Store) -> None:
    token = store.login("cashier")
    response = store.client.delete("/api/v1/sessions/current", headers=store.bearer(token))
    assert response.status_code == 204
    response = store.client.get("/api/v1/sessions/current", headers=store.bearer(token))
    assert response.status_code == 401
    assert response.get_json()["error"] == "session_ended"
    # The device token still works.
    assert store.client.get("/api/v1/staff", headers=store.bearer(store.device)).status_code == 200


def test_login_over_http(store: Store) -> None:
    response = store.client.post(
        "/api/v1/sessions",
        json={"staff": store.staff["supervisor"], "pin": PINS["supervisor"]},
        headers=store.bearer(store.device),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["staff"]["role"] == "supervisor"
    assert body["register"]["id"] == store.register_id
    assert body["idle_timeout_s"] == store.rt.settings.staff_idle_minutes * 60
    me = store.client.get("/api/v1/sessions/current", headers=store.bearer(body["token"]))
    assert me.get_json()["staff"]["id"] == store.staff["supervisor"]


def test_locked_login_over_http_is_429(store: Store) -> None:
    for attempt in range(5):
        response = store.client.post(
            "/api/v1/sessions",
            json={"staff": store.staff["cashier"], "pin": "0000"},
            headers=store.bearer(store.device),
        )
        assert response.status_code == (429 if attempt == 4 else 401)
    response = store.client.post(
        "/api/v1/sessions",
        json={"staff": store.staff["cashier"], "pin": PINS["cashier"]},
        headers=store.bearer(store.device),
    )
    assert response.status_code == 429
    assert response.get_json()["details"]["retry_after_s"] == 300
    assert response.headers["Retry-After"] == "300"
    listed = store.client.get("/api/v1/staff", headers=store.bearer(store.device)).get_json()
    cashier = next(s for s in listed["staff"] if s["id"] == store.staff["cashier"])
    assert cashier["locked"] is True


def test_deactivated_staff_lose_their_sessions(store: Store) -> None:
    token = store.login("cashier")
    manager = store.login("manager")
    response = store.client.patch(
        f"/api/v1/staff/{store.staff['cashier']}",
        json={"active": False},
        headers=store.bearer(manager),
    )
    assert response.status_code == 200
    assert (
        store.client.get("/api/v1/sessions/current", headers=store.bearer(token)).status_code == 401
    )
