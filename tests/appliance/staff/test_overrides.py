"""Overrides: a supervisor's PIN gives a single-use token bound to action, amount and requester."""

from __future__ import annotations

import json

import pytest

from appliance.db import IntegrityError
from appliance.errors import Forbidden
from appliance.staff import overrides
from appliance.staff.sessions import resolve
from protocol.envelope import decode_envelope, verify_hash, verify_link
from protocol.permissions import Action
from tests.conftest import PINS, FakeWall, Store


def _lock_out(store: Store, who: str) -> None:
    """Five wrong PINs for `who`, from two registers so only the staff lock trips."""
    _, other = store.new_register("Spare")
    for attempt in range(5):
        store.client.post(
            "/api/v1/sessions",
            json={"staff": store.staff[who], "pin": "0000"},
            headers=store.bearer(other if attempt % 2 else store.device),
        )
    listed = store.client.get("/api/v1/staff", headers=store.bearer(store.device)).get_json()
    assert next(s for s in listed["staff"] if s["id"] == store.staff[who])["locked"]


def _approve(store: Store, token: str, **body: object) -> dict[str, object]:
    payload = {"action": "staff_unlock", "reason": "forgot PIN", "approver_pin": PINS["supervisor"]}
    payload.update(body)
    response = store.client.post("/api/v1/overrides", json=payload, headers=store.bearer(token))
    assert response.status_code == 201, response.get_json()
    result: dict[str, object] = response.get_json()
    return result


def test_supervisor_gated_action_refused_for_cashier_then_allowed_with_approval(
    store: Store,
) -> None:
    """The issue's 'Done when': refused for a cashier; accepted and logged with a token."""
    _lock_out(store, "cashier2")
    cashier = store.login("cashier")
    target = store.staff["cashier2"]

    refused = store.client.post(
        f"/api/v1/staff/{target}/unlock", json={}, headers=store.bearer(cashier)
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "override_required"
    assert refused.get_json()["details"] == {
        "action": "staff_unlock",
        "min_role": "supervisor",
        "approvable": True,
    }

    grant = _approve(store, cashier)
    assert grant["approver"]["id"] == store.staff["supervisor"]  # type: ignore[index]
    accepted = store.client.post(
        f"/api/v1/staff/{target}/unlock",
        json={"approval": grant["approval"]},
        headers=store.bearer(cashier),
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["locked"] is False

    # Logged: in the override log (searchable) and in the hash-chained journal.
    supervisor = store.login("supervisor")
    log = store.client.get("/api/v1/overrides", headers=store.bearer(supervisor)).get_json()
    [entry] = log["overrides"]
    assert entry["action"] == "staff_unlock"
    assert entry["requester"] == store.staff["cashier"]
    assert entry["approver"] == store.staff["supervisor"]
    assert entry["register"] == store.register_id
    assert entry["reason"] == "forgot PIN"
    assert entry["used_for"] == f"unlock {target}"
    [row] = store.rt.db.query("SELECT envelope FROM event WHERE type = 'override.granted'")
    envelope = decode_envelope(json.loads(row["envelope"]))
    assert verify_hash(envelope) and verify_link(None, envelope)
    assert envelope.origin == "s01-ap" and envelope.actor == store.staff["supervisor"]
    assert envelope.body["approval"] == entry["id"]


def test_supervisor_acts_without_override(store: Store) -> None:
    _lock_out(store, "cashier2")
    supervisor = store.login("supervisor")
    response = store.client.post(
        f"/api/v1/staff/{store.staff['cashier2']}/unlock", json={}, headers=store.bearer(supervisor)
    )
    assert response.status_code == 200
    assert store.rt.db.scalar("SELECT count(*) FROM override_log") == 0


def test_approval_is_single_use(store: Store) -> None:
    cashier = store.login("cashier")
    grant = _approve(store, cashier)
    target = store.staff["cashier2"]
    first = store.client.post(
        f"/api/v1/staff/{target}/unlock",
        json={"approval": grant["approval"]},
        headers=store.bearer(cashier),
    )
    assert first.status_code == 200
    again = store.client.post(
        f"/api/v1/staff/{target}/unlock",
        json={"approval": grant["approval"]},
        headers=store.bearer(cashier),
    )
    assert again.status_code == 403
    assert again.get_json()["error"] == "approval_invalid"


def test_approval_expires_after_60_seconds(store: Store, wall: FakeWall) -> None:
    cashier = store.login("cashier")
    grant = _approve(store, cashier)
    wall.advance(60)
    response = store.client.post(
        f"/api/v1/staff/{store.staff['cashier2']}/unlock",
        json={"approval": grant["approval"]},
        headers=store.bearer(cashier),
    )
    assert response.status_code == 403
    assert "expired" in response.get_json()["message"]


def test_approval_is_bound_to_action_amount_requester_and_register(store: Store) -> None:
    cashier = store.login("cashier")
    caller = resolve(store.rt, cashier)
    grant = overrides.grant(
        store.rt,
        caller,
        action=Action.PRICE_OVERRIDE,
        amount=500,
        approver_pin=PINS["supervisor"],
        approver_id=None,
        reason="damaged box",
    )
    with store.rt.db.write(), pytest.raises(Forbidden, match="for price_override, not"):
        overrides.authorize(
            store.rt, caller, Action.POST_VOID, amount=500, approval=grant.token, used_for="x"
        )
    with store.rt.db.write(), pytest.raises(Forbidden, match="different amount"):
        overrides.authorize(
            store.rt, caller, Action.PRICE_OVERRIDE, amount=501, approval=grant.token, used_for="x"
        )
    other = resolve(store.rt, store.login("cashier2"))
    with store.rt.db.write(), pytest.raises(Forbidden, match="someone else"):
        overrides.authorize(
            store.rt, other, Action.PRICE_OVERRIDE, amount=500, approval=grant.token, used_for="x"
        )
    _, other_device = store.new_register("Back till")
    elsewhere = resolve(store.rt, store.login("cashier", device=other_device))
    with store.rt.db.write(), pytest.raises(Forbidden, match="someone else"):
        overrides.authorize(
            store.rt,
            elsewhere,
            Action.PRICE_OVERRIDE,
            amount=500,
            approval=grant.token,
            used_for="x",
        )
    # None of the refusals used it up.
    with store.rt.db.write():
        ok = overrides.authorize(
            store.rt,
            caller,
            Action.PRICE_OVERRIDE,
            amount=500,
            approval=grant.token,
            used_for="line 3",
        )
    assert ok.override_id == grant.id and ok.approver_id == store.staff["supervisor"]


def test_a_refused_action_leaves_the_approval_unused(store: Store) -> None:
    cashier = store.login("cashier")
    caller = resolve(store.rt, cashier)
    grant = overrides.grant(
        store.rt,
        caller,
        action=Action.NO_SALE,
        amount=None,
        approver_pin=PINS["supervisor"],
        approver_id=None,
        reason="change for a customer",
    )

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.rt.db.write():  # noqa: PT012  # authorise, then fail
        overrides.authorize(
            store.rt, caller, Action.NO_SALE, approval=grant.token, used_for="drawer"
        )
        raise Boom  # the action failed after authorising: the transaction rolls back
    with store.rt.db.write():
        overrides.authorize(
            store.rt, caller, Action.NO_SALE, approval=grant.token, used_for="drawer"
        )


def test_cashier_pin_cannot_approve(store: Store) -> None:
    cashier = store.login("cashier")
    response = store.client.post(
        "/api/v1/overrides",
        json={"action": "staff_unlock", "reason": "x", "approver_pin": PINS["cashier2"]},
        headers=store.bearer(cashier),
    )
    assert response.status_code == 401
    named = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "staff_unlock",
            "reason": "x",
            "approver_pin": PINS["cashier2"],
            "approver": store.staff["cashier2"],
        },
        headers=store.bearer(cashier),
    )
    assert named.status_code == 403
    assert named.get_json()["error"] == "approver_not_allowed"


def test_stock_count_approval_needs_a_manager(store: Store) -> None:
    supervisor = store.login("supervisor")
    by_supervisor = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "stock_count_approve",
            "reason": "recount",
            "approver_pin": PINS["supervisor"],
        },
        headers=store.bearer(store.login("cashier")),
    )
    assert by_supervisor.status_code == 401  # a supervisor's PIN is not a manager's
    by_manager = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "stock_count_approve",
            "reason": "recount",
            "approver_pin": PINS["manager"],
        },
        headers=store.bearer(supervisor),
    )
    assert by_manager.status_code == 201


def test_amount_rules(store: Store) -> None:
    cashier = store.login("cashier")
    missing = store.client.post(
        "/api/v1/overrides",
        json={"action": "price_override", "reason": "x", "approver_pin": PINS["supervisor"]},
        headers=store.bearer(cashier),
    )
    assert missing.status_code == 422 and missing.get_json()["error"] == "amount_required"
    extra = store.client.post(
        "/api/v1/overrides",
        json={"action": "no_sale", "reason": "x", "approver_pin": PINS["supervisor"], "amount": 5},
        headers=store.bearer(cashier),
    )
    assert extra.status_code == 422 and extra.get_json()["error"] == "amount_not_allowed"
    grant = _approve(store, cashier, action="price_override", amount=250)
    assert grant["amount"] == 250 and grant["currency"] == "EUR"


def test_override_not_needed_and_not_approvable(store: Store) -> None:
    supervisor = store.login("supervisor")
    response = store.client.post(
        "/api/v1/overrides",
        json={"action": "no_sale", "reason": "x", "approver_pin": PINS["manager"]},
        headers=store.bearer(supervisor),
    )
    assert response.status_code == 409 and response.get_json()["error"] == "override_not_needed"
    response = store.client.post(
        "/api/v1/overrides",
        json={"action": "staff_manage", "reason": "x", "approver_pin": PINS["manager"]},
        headers=store.bearer(store.login("cashier")),
    )
    assert response.status_code == 403 and response.get_json()["error"] == "not_approvable"


def test_wrong_approver_pins_lock_the_register(store: Store) -> None:
    cashier = store.login("cashier")
    for attempt in range(5):
        response = store.client.post(
            "/api/v1/overrides",
            json={"action": "no_sale", "reason": "x", "approver_pin": "0000"},
            headers=store.bearer(cashier),
        )
        assert response.status_code == (429 if attempt == 4 else 401)
    response = store.client.post(
        "/api/v1/overrides",
        json={"action": "no_sale", "reason": "x", "approver_pin": PINS["supervisor"]},
        headers=store.bearer(cashier),
    )
    assert response.status_code == 429


def test_override_log_is_append_only(store: Store) -> None:
    cashier = store.login("cashier")
    _approve(store, cashier)
    for statement in ("UPDATE override_log SET reason = 'nothing'", "DELETE FROM override_log"):
        with pytest.raises(IntegrityError, match="append-only"), store.rt.db.write():
            store.rt.db.execute(statement)
    for statement in ("UPDATE event SET actor = 'x'", "DELETE FROM event"):
        with pytest.raises(IntegrityError, match="append-only"), store.rt.db.write():
            store.rt.db.execute(statement)


def test_override_log_search_filters(store: Store, wall: FakeWall) -> None:
    cashier = store.login("cashier")
    _approve(store, cashier)
    wall.advance(10)
    _approve(store, cashier, action="no_sale", approver_pin=PINS["manager"])
    manager = store.login("manager")
    every = store.client.get("/api/v1/overrides", headers=store.bearer(manager)).get_json()[
        "overrides"
    ]
    assert [e["action"] for e in every] == ["no_sale", "staff_unlock"]
    by_action = store.client.get("/api/v1/overrides?action=no_sale", headers=store.bearer(manager))
    assert [e["approver"] for e in by_action.get_json()["overrides"]] == [store.staff["manager"]]
    by_staff = store.client.get(
        f"/api/v1/overrides?staff={store.staff['supervisor']}", headers=store.bearer(manager)
    )
    assert [e["action"] for e in by_staff.get_json()["overrides"]] == ["staff_unlock"]
    cashier_view = store.client.get("/api/v1/overrides", headers=store.bearer(cashier))
    assert cashier_view.status_code == 403
