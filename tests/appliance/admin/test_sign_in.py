"""Signing in to the admin pages: PINs and lockouts, the throttle, roles, cookies, sessions."""

from __future__ import annotations

from typing import Any

from appliance.staff.directory import update_staff
from protocol.permissions import Role
from tests.appliance.admin.conftest import AdminBrowser, csrf_of
from tests.conftest import PINS, FakeWall, Store


def audit_actions(store: Store) -> list[tuple[str, str]]:
    return [
        tuple(r) for r in store.rt.db.query("SELECT action, staff_id FROM admin_audit ORDER BY id")
    ]


def test_a_manager_signs_in_with_staff_number_and_pin_and_goes_where_they_asked(
    browser_for: Any, store: Store
) -> None:
    browser: AdminBrowser = browser_for()
    assert browser.get("/admin/devices").headers["Location"] == "/admin/login?next=/admin/devices"
    page = browser.get("/admin/login?next=/admin/devices")
    token = csrf_of(page.text)
    number = store.staff["manager"].rsplit("-", 1)[1]
    answer = browser.client.post(
        "/admin/login",
        data={
            "csrf_token": token,
            "staff_id": number,
            "pin": PINS["manager"],
            "next": "/admin/devices",
        },
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/devices"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tillbox_admin="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain HTTP here, and admin_cookie_secure is auto
    stored = store.rt.db.one("SELECT token_hash, staff_id FROM admin_session")
    assert stored is not None and stored["staff_id"] == store.staff["manager"]
    assert cookie.split(";")[0].split("=", 1)[1] not in stored["token_hash"]  # only its hash
    assert browser.get("/admin/devices").status_code == 200
    assert ("sign_in", store.staff["manager"]) in audit_actions(store)


def test_the_cookie_is_secure_over_https(browser_for: Any, store: Store) -> None:
    browser: AdminBrowser = browser_for()
    answer = browser.try_sign_in(
        store.staff["manager"], PINS["manager"], base_url="https://localhost"
    )
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("tillbox_admin="))
    assert "Secure" in cookie


def test_only_local_admin_paths_are_followed_after_sign_in(browser_for: Any, store: Store) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/admin",
        "/api/v1/health",
        "/admin/logout",
    ):
        browser: AdminBrowser = browser_for()
        token = browser.login_form()
        answer = browser.client.post(
            "/admin/login",
            data={
                "csrf_token": token,
                "staff_id": store.staff["manager"],
                "pin": PINS["manager"],
                "next": target,
            },
        )
        assert answer.headers["Location"] == "/admin/", target


def test_a_wrong_pin_is_shown_by_the_field_and_five_lock_the_staff_member_everywhere(
    browser_for: Any, store: Store
) -> None:
    manager = store.staff["manager"]
    for attempt in range(4):
        # A new address each time, so only the staff member's count adds up.
        answer = browser_for(f"192.0.2.{20 + attempt}").try_sign_in(manager, "0000")
        assert answer.status_code == 401
        assert "wrong staff ID or PIN" in answer.text and 'aria-invalid="true"' in answer.text
    locked = browser_for("192.0.2.30").try_sign_in(manager, "0000")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "locked" in locked.text
    # Locked: even the right PIN is refused, here and on the registers.
    again = browser_for("192.0.2.31").try_sign_in(manager, PINS["manager"])
    assert again.status_code == 429
    register = store.client.post(
        "/api/v1/sessions",
        json={"staff": manager, "pin": PINS["manager"]},
        headers=store.bearer(store.device),
    )
    assert register.status_code == 429 and register.get_json()["error"] == "locked"
    assert store.rt.db.scalar("SELECT count(*) FROM admin_session") == 0


def test_wrong_pins_from_one_address_lock_that_address(browser_for: Any, store: Store) -> None:
    browser: AdminBrowser = browser_for("192.0.2.40")
    for n in range(5):
        browser.try_sign_in(f"s01-staff-{900 + n}", "1234")
    answer = browser.try_sign_in(store.staff["manager"], PINS["manager"])
    assert answer.status_code == 429 and answer.headers["Retry-After"]
    assert (
        browser_for("192.0.2.41").try_sign_in(store.staff["manager"], PINS["manager"]).status_code
        == 303
    )


def test_sign_in_is_rate_limited_per_address_and_per_staff_member(
    browser_for: Any, store: Store
) -> None:
    # The default allows 10 a minute; right PINs clear the lockouts, so only the throttle stops these.
    browser: AdminBrowser = browser_for("192.0.2.50")
    for _ in range(10):
        assert browser.try_sign_in(store.staff["manager"], PINS["manager"]).status_code == 303
    answer = browser.try_sign_in(store.staff["supervisor"], PINS["supervisor"])
    assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in answer.text
    json_answer = browser.client.post(
        "/admin/login",
        data={"csrf_token": browser.login_form(), "staff_id": "x", "pin": "1234"},
        headers={"Accept": "application/json"},
    )
    assert json_answer.status_code == 429
    assert json_answer.get_json()["error"] == "rate_limited"
    # The same staff member from other addresses is limited too.
    limited = browser_for("192.0.2.51").try_sign_in(store.staff["manager"], PINS["manager"])
    assert limited.status_code == 429


def test_cashiers_cannot_sign_in_and_a_demoted_member_is_signed_out(
    browser_for: Any, store: Store
) -> None:
    cashier = browser_for().try_sign_in(store.staff["cashier"], PINS["cashier"])
    assert cashier.status_code == 403 and "for supervisors and managers" in cashier.text
    supervisor: AdminBrowser = browser_for().sign_in("supervisor")
    assert supervisor.get("/admin/").status_code == 200
    update_staff(store.rt, store.staff["supervisor"], role=Role.CASHIER)
    assert supervisor.get("/admin/").status_code == 302


def test_the_sign_in_form_needs_its_csrf_token_and_valid_fields(
    browser_for: Any, store: Store
) -> None:
    browser: AdminBrowser = browser_for()
    browser.login_form()
    answer = browser.client.post(
        "/admin/login", data={"staff_id": store.staff["manager"], "pin": PINS["manager"]}
    )
    assert answer.status_code == 403 and "expired" in answer.text
    token = browser.login_form()
    answer = browser.client.post(
        "/admin/login", data={"csrf_token": token, "staff_id": "", "pin": "12"}
    )
    assert answer.status_code == 422
    assert "Type your staff ID" in answer.text and "4 to 6 digits" in answer.text
    assert store.rt.db.scalar("SELECT count(*) FROM admin_session") == 0


def test_an_idle_session_expires_and_sign_out_ends_it(
    browser_for: Any, store: Store, wall: FakeWall
) -> None:
    browser: AdminBrowser = browser_for().sign_in("manager")
    wall.advance(14 * 60)
    assert browser.get("/admin/").status_code == 200  # used within the idle time: still on
    wall.advance(14 * 60)
    assert browser.get("/admin/").status_code == 200
    wall.advance(16 * 60)
    assert browser.get("/admin/").headers["Location"].startswith("/admin/login")

    browser = browser_for().sign_in("manager")
    assert browser.post("/admin/logout").status_code == 303
    assert browser.get("/admin/").status_code == 302
    assert ("sign_out", store.staff["manager"]) in audit_actions(store)
