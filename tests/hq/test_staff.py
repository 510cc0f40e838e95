"""The Staff page over the chain's staff master: adding people, roles and PINs per store, what
each store is sent, store managers limited to their stores, buyers read only, bad input
refused on the form (or in the one error shape) with nothing changed, the CSV, overrides per
person, and the pages in Chromium with axe."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from playwright.sync_api import Browser, Page, expect

from cloud import staff
from tests.cloud.batches import batch, offline_till
from tests.hq.conftest import PASSWORDS, Hq, HqServer, field_errors

_CHEAP = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID)


def cheap_pin(pin: str) -> str:
    """A PIN hash made quickly, for test setup (the appliances verify any argon2id)."""
    return _CHEAP.hash(pin)


def _changes(hq: Hq, store: str, since: int = 0) -> list[Any]:
    import psycopg

    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        return list(staff.changes_since(conn, store, since, 100).changes)


def _form(**form: str) -> dict[str, str]:
    values = {"name": "Robin Till", "store": "s01", "role": "cashier", "pin": "4826"}
    values.update(form)
    values.setdefault("pin_again", values["pin"])
    return values


def _add(browser: Any, **form: str) -> Any:
    return browser.post("/hq/staff", _form(**form))


def test_admin_adds_a_cashier_gives_roles_per_store_and_each_store_is_sent_its_own(
    hq: Hq,
) -> None:
    admin = hq.browser().sign_in("admin")
    added = _add(admin)
    assert added.status_code == 303, added.text
    person = added.headers["Location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"hq-\d+", person)
    shown = admin.get(f"/hq/staff/{person}").text
    assert "Robin Till" in shown and "staff ID " + person in shown
    assert "waiting for store" in shown
    [change] = _changes(hq, "s01")
    assert (change.id, change.name, change.role, change.active) == (
        person,
        "Robin Till",
        "cashier",
        True,
    )
    assert PasswordHasher().verify(change.pin_hash, "4826")
    assert _changes(hq, "s02") == []

    # A second store needs a PIN of its own; then each store has its own role.
    refused = admin.post(f"/hq/staff/{person}/stores", {"store": "s02", "role": "supervisor"})
    assert refused.status_code == 422
    assert "PINs are set per store" in field_errors(refused.text)["pin"]
    assert _changes(hq, "s02") == []
    ok = admin.post(
        f"/hq/staff/{person}/stores",
        {"store": "s02", "role": "supervisor", "pin": "9911", "pin_again": "9911"},
    )
    assert ok.status_code == 303, ok.text
    [s02] = _changes(hq, "s02")
    assert s02.role == "supervisor" and PasswordHasher().verify(s02.pin_hash, "9911")
    since = _changes(hq, "s01")[-1].seq
    # A role change at s01 needs no PIN and is sent only to s01, after what it had.
    assert (
        admin.post(f"/hq/staff/{person}/stores", {"store": "s01", "role": "manager"}).status_code
        == 303
    )
    [later] = _changes(hq, "s01", since)
    assert later.role == "manager" and later.seq > since
    assert [c.role for c in _changes(hq, "s02")] == ["supervisor"]

    # Renamed everywhere; removed from s02 (s01 keeps them); left the chain: sent inactive.
    assert admin.post(f"/hq/staff/{person}/name", {"name": "  Robin   Tillman "}).status_code == 303
    assert {c.name for c in _changes(hq, "s01") + _changes(hq, "s02")} == {"Robin Tillman"}
    assert admin.post(f"/hq/staff/{person}/stores/s02/remove").status_code == 303
    assert [c.active for c in _changes(hq, "s02")] == [False]
    assert [c.active for c in _changes(hq, "s01")] == [True]
    # The only manager at s01 cannot leave it without one.
    last = admin.post(f"/hq/staff/{person}/leave")
    assert last.status_code == 409 and "at least one active manager" in last.text
    assert [c.active for c in _changes(hq, "s01")] == [True]
    assert _add(admin, name="Morgan Boss", role="manager", pin="7301").status_code == 303
    assert admin.post(f"/hq/staff/{person}/leave").status_code == 303
    assert [c.active for c in _changes(hq, "s01") if c.id == person] == [False]
    # Back with a new PIN.
    back = admin.post(f"/hq/staff/{person}/return", {"pin": "5050", "pin_again": "5050"})
    assert back.status_code == 303, back.text
    [again] = [c for c in _changes(hq, "s01") if c.id == person]
    assert again.active and PasswordHasher().verify(again.pin_hash, "5050")
    trail = hq.query("SELECT action FROM hq_audit WHERE target = %s ORDER BY id", (person,))
    assert [r[0] for r in trail] == [
        "staff_add",
        "staff_assign",
        "staff_assign",
        "staff_rename",
        "staff_unassign",
        "staff_leave",
        "staff_return",
    ]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"pin": "12a4"}, "pin", "4 to 6 digits"),
        ({"pin": "123"}, "pin", "4 to 6 digits"),
        ({"pin": "1234567"}, "pin", "4 to 6 digits"),
        ({"pin": "1234", "pin_again": "1235"}, "pin_again", "differ"),
        ({"name": "   "}, "name", "1 to 80"),
        ({"name": "x" * 81}, "name", "1 to 80"),
        ({"role": "owner"}, "role", "from the list"),
        ({"store": ""}, "store", "from the list"),
        ({"store": "s99"}, "store", "from the list"),
    ],
)
def test_bad_input_is_refused_on_the_form_and_nothing_is_stored(
    hq: Hq, form: dict[str, str], field: str, message: str
) -> None:
    admin = hq.browser().sign_in("admin")
    answer = _add(admin, **form)
    assert answer.status_code == 422, answer.text
    assert message in field_errors(answer.text)[field]
    assert 'value="Robin Till"' in answer.text or field == "name"  # what was typed is kept
    assert "4826" not in answer.text  # never a PIN
    # A caller asking for JSON gets the one error shape.
    shaped = admin.client.post(
        "/hq/staff",
        data={"csrf_token": admin.csrf, **_form(**form)},
        headers={"Accept": "application/json"},
    )
    assert shaped.status_code == 422
    assert set(shaped.get_json()) == {"error", "message", "details"}
    assert field in shaped.get_json()["details"]
    assert hq.query("SELECT count(*) FROM staff_person") == [(0,)]


def test_a_pin_already_used_at_the_store_is_refused_there_but_not_elsewhere(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    assert _add(admin, name="First", pin="2580").status_code == 303
    twin = _add(admin, name="Second", pin="2580")
    assert twin.status_code == 409
    assert "already uses this PIN" in field_errors(twin.text)["pin"]
    assert hq.query("SELECT count(*) FROM staff_person") == [(1,)]
    assert _add(admin, name="Second", store="s02", pin="2580").status_code == 303
    # Bad filters and unknown people get clear 4xx answers too.
    assert admin.get("/hq/staff?page=0").status_code == 422
    bad = admin.get("/hq/staff?page=x", headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["error"] == "invalid_filter"
    assert admin.get("/hq/staff/hq-999").status_code == 404


def test_store_managers_manage_their_own_stores_staff_only_and_buyers_only_look(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    assert _add(admin, name="Both Stores", pin="1470").status_code == 303
    both = hq.query("SELECT id FROM staff_person WHERE name = 'Both Stores'")[0][0]
    admin.post(
        f"/hq/staff/{both}/stores",
        {"store": "s02", "role": "cashier", "pin": "3690", "pin_again": "3690"},
    )
    assert _add(admin, name="Only Cork", store="s02", pin="1593").status_code == 303
    cork = hq.query("SELECT id FROM staff_person WHERE name = 'Only Cork'")[0][0]

    manager = hq.browser().sign_in("manager")
    listed = manager.get("/hq/staff").text
    assert "Both Stores" in listed and "Only Cork" not in listed
    assert 'data-store="s02"' not in listed  # only their store's row of a shared person
    assert manager.get(f"/hq/staff/{cork}").status_code == 404
    out = _add(manager, store="s02", pin="8520")
    assert out.status_code == 403 and "not one of your stores" in out.text
    # A shared person: a PIN at s01 only; name and leaving are head office's.
    before = {c.id: c.pin_hash for c in _changes(hq, "s02")}
    pin = manager.post(f"/hq/staff/{both}/pin", {"pin": "7531", "pin_again": "7531"})
    assert pin.status_code == 303
    assert {c.id: c.pin_hash for c in _changes(hq, "s02")} == before
    [s01] = [c for c in _changes(hq, "s01") if c.id == both]
    assert PasswordHasher().verify(s01.pin_hash, "7531")
    renamed = manager.post(f"/hq/staff/{both}/name", {"name": "Mine Now"})
    assert renamed.status_code == 403 and "not yours" in renamed.text
    assert manager.post(f"/hq/staff/{both}/leave").status_code == 403
    assert manager.post(f"/hq/staff/{both}/stores/s02/remove").status_code == 403
    # Their own new cashier they manage entirely.
    assert _add(manager, name="Local Hire", pin="9630").status_code == 303
    local = hq.query("SELECT id FROM staff_person WHERE name = 'Local Hire'")[0][0]
    assert manager.post(f"/hq/staff/{local}/name", {"name": "Local Hire Two"}).status_code == 303

    buyer = hq.browser().sign_in("buyer")
    page = buyer.get("/hq/staff").text
    assert "Only Cork" in page and "Add a person" not in page
    assert "Rename" not in buyer.get(f"/hq/staff/{both}").text
    assert _add(buyer).status_code == 403


def test_csv_overrides_and_lockouts_per_person(hq: Hq) -> None:
    import psycopg

    from cloud.ingest import ingest_batch

    admin = hq.browser().sign_in("admin")
    assert _add(admin, name="=cmd|' /C calc'!A0", pin="1357").status_code == 303
    person = hq.query("SELECT id FROM staff_person")[0][0]
    till = offline_till("s01", "s01-r01")
    events = [
        till.event(
            "override.granted",
            {
                "approval": "0193a000-0000-7000-8000-00000000000" + str(n),
                "action": "price_override",
                "amount": 150 * n,
                "currency": "EUR",
                "requester": person if n != 3 else "s01-staff-1",
                "approver": "s01-staff-2" if n != 3 else person,
                "reason": f"damaged box {n}",
                "expires_at": "2026-12-08T10:00:00Z",
            },
        )
        for n in (1, 2, 3)
    ]
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert ingest_batch(conn, "s01", batch(1, events)) == {"applied_through": 3}
        conn.execute(
            "UPDATE staff_assignment SET lockouts = 2, locked_until = now() + interval '4 minutes',"
            " reported_at = now() WHERE person = %s",
            (person,),
        )
    page = admin.get(f"/hq/staff/{person}").text
    assert re.search(r"Asked for <strong>2</strong>, approved <strong>1</strong>", page), page
    assert "damaged box 3" in page and "1.50 EUR" in page
    assert "locked until" in page and "2 lockout(s)" in page
    listed = admin.get("/hq/staff?store=s01").text
    row = listed.split(f'data-staff="{person}"')[1].split("</tr>")[0]
    assert "locked at s01" in row and "2 / 1" in row
    answer = admin.get("/hq/staff.csv?store=s01")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    [line] = list(csv.DictReader(io.StringIO(answer.text)))
    assert line["name"].startswith("'=")  # no formula in a spreadsheet
    assert (line["staff_id"], line["store"], line["role"], line["lockouts"]) == (
        person,
        "s01",
        "cashier",
        "2",
    )
    assert (line["overrides_requested"], line["overrides_approved"]) == ("2", "1")


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_staff_pages_in_chromium_with_axe(hq: Hq, hq_server: HqServer, axe_page: Page) -> None:
    from tests.pwa.test_accessibility import AXE, serious_violations

    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    page = axe_page
    page.goto(f"{hq_server.url}/hq/login")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(PASSWORDS["manager"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Staff").click()
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    found: dict[str, Any] = {"list": serious_violations(page)}
    # A refused add shows the error by its field, and keeps the name typed.
    page.get_by_label("Name", exact=True).fill("Ari Newhire")
    add = page.locator('form[action$="/hq/staff"][method="post"]')
    add.locator('select[name="store"]').select_option("s01")
    page.get_by_label("First PIN (4 to 6 digits; tell them in person)").fill("12")
    page.get_by_label("First PIN again").fill("12")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#add-pin-error")).to_contain_text("4 to 6 digits")
    found["refused"] = serious_violations(page)
    page.get_by_label("First PIN (4 to 6 digits; tell them in person)").fill("8024")
    page.get_by_label("First PIN again").fill("8024")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name=re.compile("Ari Newhire"))).to_be_visible()
    expect(page.locator('tr[data-store="s01"]')).to_contain_text("waiting for store")
    found["person"] = serious_violations(page)
    assign = page.locator('form[action$="/stores"]')
    assign.locator('select[name="role"]').select_option("supervisor")
    assign.locator('select[name="store"]').select_option("s01")
    page.get_by_role("button", name="Save role").click()
    expect(page.locator('tr[data-store="s01"]')).to_contain_text("supervisor")
    page.get_by_role("link", name="← Staff").click()
    expect(page.locator("tr[data-staff]")).to_have_count(1)
    assert {name: v for name, v in found.items() if v} == {}
