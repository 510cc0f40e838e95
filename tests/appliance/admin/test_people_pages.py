"""The registers and staff pages, pairing codes, CSRF, and the overview."""

from __future__ import annotations

import re
from typing import Any

import pytest

from appliance.staff.directory import get_staff
from appliance.staff.registers import PAIRING_CODE_TTL_MS, get_register
from protocol.permissions import Role
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.conftest import PINS, FakeWall, Store


def make_code(manager: AdminBrowser) -> str:
    page = manager.post("/admin/registers/pairing-code")
    assert page.status_code == 200
    match = re.search(r'data-testid="pairing-code"[^>]*>([0-9]{8})<', page.text)
    assert match, page.text
    return match.group(1)


def pair(store: Store, name: str, code: str, address: str = "192.0.2.77") -> Any:
    return store.client.post(
        "/api/v1/registers",
        json={"name": name, "manager_pin": code},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_pairing_code_pairs_one_tablet_once(manager: AdminBrowser, store: Store) -> None:
    code = make_code(manager)
    assert store.rt.db.scalar("SELECT code_hash FROM pairing_code") != code  # stored hashed
    answer = pair(store, "Till by the door", code)
    assert answer.status_code == 201, answer.get_json()
    paired = answer.get_json()
    assert paired["token"].startswith("tbd_")
    register = get_register(store.rt, paired["register"]["id"])
    assert register.paired_by == store.staff["manager"]
    again = pair(store, "Another", code)
    assert again.status_code == 401 and again.get_json()["error"] == "wrong_code"
    page = manager.get("/admin/registers")
    assert "Till by the door" in page.text and register.id in page.text
    assert store.rt.db.scalar("SELECT register_id FROM pairing_code") == register.id


def test_a_pairing_code_expires_and_dies_with_its_manager(
    manager: AdminBrowser, store: Store, wall: FakeWall
) -> None:
    code = make_code(manager)
    wall.advance(PAIRING_CODE_TTL_MS / 1000 + 1)
    assert pair(store, "Late", code).get_json()["error"] == "wrong_code"
    code = make_code(manager)
    other = store.client.application.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.99"
    from appliance.staff.directory import add_staff, update_staff

    add_staff(store.rt, name="Second manager", role=Role.MANAGER, pin="5555")
    update_staff(store.rt, store.staff["manager"], role=Role.SUPERVISOR)
    assert pair(store, "Orphan", code).get_json()["error"] == "wrong_code"
    assert store.rt.db.scalar("SELECT count(*) FROM register") == 1


def test_wrong_pairing_codes_lock_the_address(store: Store) -> None:
    for _ in range(5):
        assert pair(store, "Guess", "12345678", "192.0.2.88").status_code in (401, 429)
    assert pair(store, "Guess", "12345678", "192.0.2.88").status_code == 429


def test_revoking_a_register_from_the_page(manager: AdminBrowser, store: Store) -> None:
    answer = manager.post(f"/admin/registers/{store.register_id}/revoke")
    assert answer.status_code == 303
    assert get_register(store.rt, store.register_id).revoked_at is not None
    who = store.client.get("/api/v1/registers/current", headers=store.bearer(store.device))
    assert who.status_code == 401
    assert "revoked" in manager.get("/admin/registers").text
    assert manager.post("/admin/registers/s01-r99/revoke").status_code == 404


def test_csrf_missing_or_wrong_is_refused_and_changes_nothing(
    manager: AdminBrowser, store: Store
) -> None:
    for data in ({}, {"csrf_token": "not-the-token"}):
        answer = manager.client.post(f"/admin/registers/{store.register_id}/revoke", data=data)
        assert answer.status_code == 403
        assert "did not come from this page" in answer.text and "<html" in answer.text
        shaped = manager.client.post(
            f"/admin/registers/{store.register_id}/revoke",
            data=data,
            headers={"Accept": "application/json"},
        )
        assert shaped.status_code == 403
        assert shaped.get_json() == {
            "error": "csrf_failed",
            "message": "this form has expired or did not come from this page; reload the page and try again",
            "details": None,
        }
    assert get_register(store.rt, store.register_id).revoked_at is None
    # Another session's token does not do either.
    other = AdminBrowser(client=store.client.application.test_client(), store=store).sign_in(
        "manager"
    )
    answer = manager.client.post(
        f"/admin/registers/{store.register_id}/revoke", data={"csrf_token": other.csrf}
    )
    assert answer.status_code == 403
    assert get_register(store.rt, store.register_id).revoked_at is None


def test_adding_staff_and_the_errors_by_their_fields(manager: AdminBrowser, store: Store) -> None:
    count = store.rt.db.scalar("SELECT count(*) FROM staff")
    cases = [
        ({"name": "", "role": "cashier", "pin": "4321", "pin_again": "4321"}, "name"),
        ({"name": "Ann", "role": "boss", "pin": "4321", "pin_again": "4321"}, "role"),
        ({"name": "Ann", "role": "cashier", "pin": "43", "pin_again": "43"}, "pin"),
        ({"name": "Ann", "role": "cashier", "pin": "4321", "pin_again": "4322"}, "pin_again"),
        (
            {
                "name": "Ann",
                "role": "cashier",
                "pin": PINS["cashier"],
                "pin_again": PINS["cashier"],
            },
            "pin",
        ),
    ]
    for form, field in cases:
        answer = manager.post("/admin/staff", form)
        assert answer.status_code in (409, 422), form
        assert field in field_errors(answer.text), (form, field_errors(answer.text))
        assert "4321" not in answer.text  # PINs are never echoed back
    assert store.rt.db.scalar("SELECT count(*) FROM staff") == count
    answer = manager.post(
        "/admin/staff", {"name": "Ann", "role": "supervisor", "pin": "4321", "pin_again": "4321"}
    )
    assert answer.status_code == 303
    page = manager.get("/admin/staff")
    assert "Ann added as supervisor" in page.text
    new_id = store.rt.db.scalar("SELECT id FROM staff WHERE name = 'Ann'")
    assert get_staff(store.rt, new_id).role is Role.SUPERVISOR


def test_pin_reset_role_change_deactivate_and_unlock(
    manager: AdminBrowser, store: Store, browser_for: Any
) -> None:
    cashier = store.staff["cashier"]
    # Five wrong PINs on the register lock the cashier.
    for _ in range(5):
        store.client.post(
            "/api/v1/sessions",
            json={"staff": cashier, "pin": "0000"},
            headers=store.bearer(store.device),
        )
    assert "locked out" in manager.get("/admin/staff").text
    # A supervisor may unlock (the staff page shows only that to them).
    supervisor: AdminBrowser = browser_for("192.0.2.12").sign_in("supervisor")
    page = supervisor.get("/admin/staff")
    assert "Add a staff member" not in page.text and "Unlock Cashier" in page.text
    assert supervisor.post(f"/admin/staff/{cashier}/unlock").status_code == 303
    assert get_staff(store.rt, cashier).locked_until_ms is None
    # The register was locked too (the same lockout as on the tills); a supervisor lifts that.
    assert "locked out" in supervisor.get("/admin/").text
    unlocked = supervisor.post(f"/admin/registers/{store.register_id}/unlock")
    assert unlocked.status_code == 303 and unlocked.headers["Location"] == "/admin/"
    assert get_register(store.rt, store.register_id).locked_until_ms is None
    # Their PIN reset: the old one stops working, the new one works on the register.
    assert (
        manager.post(
            f"/admin/staff/{cashier}/pin", {"pin": "8642", "pin_again": "8642"}
        ).status_code
        == 303
    )
    login = store.client.post(
        "/api/v1/sessions",
        json={"staff": cashier, "pin": "8642"},
        headers=store.bearer(store.device),
    )
    assert login.status_code == 201
    # A new role.
    assert manager.post(f"/admin/staff/{cashier}/role", {"role": "supervisor"}).status_code == 303
    assert get_staff(store.rt, cashier).role is Role.SUPERVISOR
    # The last manager stays a manager.
    answer = manager.post(f"/admin/staff/{store.staff['manager']}/role", {"role": "cashier"})
    assert (
        answer.status_code == 409
        and "at least one active manager" in field_errors(answer.text)["role"]
    )
    assert get_staff(store.rt, store.staff["manager"]).role is Role.MANAGER
    # Deactivated: their sessions end; bringing them back needs a new PIN.
    assert manager.post(f"/admin/staff/{cashier}/deactivate").status_code == 303
    assert not get_staff(store.rt, cashier).active
    assert manager.post(f"/admin/staff/{store.staff['manager']}/deactivate").status_code == 422
    answer = manager.post(
        f"/admin/staff/{cashier}/pin", {"pin": "7531", "pin_again": "7531", "reactivate": "1"}
    )
    assert answer.status_code == 303 and get_staff(store.rt, cashier).active
    actions = [
        r[0]
        for r in store.rt.db.query(
            "SELECT action FROM admin_audit WHERE action LIKE 'staff%' ORDER BY id"
        )
    ]
    assert actions == [
        "staff_unlock",
        "staff_pin_reset",
        "staff_role",
        "staff_deactivate",
        "staff_reactivate",
    ]
    assert store.rt.db.scalar("SELECT count(*) FROM admin_audit WHERE details LIKE '%8642%'") == 0


@pytest.mark.parametrize("path", ["/admin/staff/nobody/pin", "/admin/staff/nobody/role"])
def test_unknown_staff_is_404(manager: AdminBrowser, path: str) -> None:
    assert (
        manager.post(path, {"pin": "1234", "pin_again": "1234", "role": "cashier"}).status_code
        == 404
    )


def test_the_overview_shows_the_store_at_a_glance(supervisor: AdminBrowser, store: Store) -> None:
    page = supervisor.get("/admin/")
    assert page.status_code == 200
    assert "Test Store" in page.text
    assert re.search(r'data-testid="registers-online">0 of 1<', page.text)
    assert re.search(r'data-testid="outbox-depth">0 waiting<', page.text)
    assert re.search(r'data-testid="open-flags">0<', page.text)
    assert "No cloud set up" in page.text
    # A supervisor's navigation has no manager pages.
    assert 'href="/admin/devices"' not in page.text and 'href="/admin/staff"' in page.text
    stream, _ = store.rt.scans.subscribe(store.register_id, None, limit=4)
    assert re.search(r'data-testid="registers-online">1 of 1<', supervisor.get("/admin/").text)
    store.rt.scans.unsubscribe(stream)
