"""Staff synced both ways through real sync (decisions.md §57): the appliance's uplink on a
private Mosquitto, the real store responder and PostgreSQL, HQ's pages.

HQ adds a cashier at s01 and the person signs in at the till with their PIN; a role change and
a removal follow; a manager adds someone on the appliance and HQ shows them; a PIN lockout at
the till shows in HQ."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from appliance.sync.staff_pull import read_state
from cloud.store_rpc import StoreResponder
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_catalog_pull import Appliance
from tests.appliance.sync.test_chain import broker, responder
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import PINS, FakeWall, Store
from tests.hq.conftest import HqBrowser, make_hq

__all__ = ["broker", "responder"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def appliance(store: Store, broker: Broker, responder: StoreResponder) -> Iterator[Appliance]:
    running = Appliance(store, broker)
    yield running
    running.stop()


@pytest.fixture
def admin(cloud_dsn: str) -> HqBrowser:  # noqa: F811
    """An HQ admin signed in on HQ over the same database."""
    return make_hq(cloud_dsn).browser().sign_in("admin")


def _sign_in(store: Store, staff_id: str, pin: str) -> Any:
    return store.client.post(
        "/api/v1/sessions",
        json={"staff": staff_id, "pin": pin},
        headers=store.bearer(store.device),
    )


def _row(store: Store, staff_id: str) -> Any:
    return store.rt.db.one(
        "SELECT name, role, active, hq_seq, changed, lockouts FROM staff WHERE id = ?",
        (staff_id,),
    )


def _all_seen(pg: Conn, store: str) -> bool:  # noqa: F811
    row = pg.execute(
        "SELECT count(*), count(*) FILTER (WHERE store_seen_seq >= change_seq)"
        " FROM staff_assignment WHERE store = %s",
        (store,),
    ).fetchone()
    return row is not None and row[0] > 0 and row[0] == row[1]


def test_hq_adds_a_cashier_who_signs_in_at_the_till_then_a_role_change_and_a_removal(
    store: Store,
    pg: Conn,  # noqa: F811
    appliance: Appliance,
    admin: HqBrowser,
) -> None:
    # The store's own four staff join the master through the directory upload, and the
    # cloud's echo of them comes back: nothing left marked as changed here.
    wait_for(lambda: _all_seen(pg, "s01"), timeout=20, what="s01's staff in the master")
    assert pg.execute("SELECT count(*) FROM staff_person WHERE added_by = 's01'").fetchone() == (4,)
    assert {r["changed"] for r in store.rt.db.query("SELECT changed FROM staff")} == {""}

    added = admin.post(
        "/hq/staff",
        {
            "name": "Robin Till",
            "store": "s01",
            "role": "cashier",
            "pin": "4826",
            "pin_again": "4826",
        },
    )
    assert added.status_code == 303, added.text
    person = added.headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: _row(store, person) is not None, timeout=20, what="HQ's cashier at s01")
    signed = _sign_in(store, person, "4826")
    assert signed.status_code == 201, signed.get_json()
    assert signed.get_json()["staff"]["role"] == "cashier"
    assert _sign_in(store, person, "4827").status_code == 401
    # The store reports having it: HQ shows it there, no longer waiting.
    wait_for(lambda: _all_seen(pg, "s01"), timeout=20, what="s01 to report the change")
    page = admin.get(f"/hq/staff/{person}").text
    row = page.split('data-store="s01"')[1].split("</tr>")[0]
    assert "waiting for store" not in row and "cashier" in row

    assert (
        admin.post(f"/hq/staff/{person}/stores", {"store": "s01", "role": "supervisor"}).status_code
        == 303
    )
    wait_for(lambda: _row(store, person)["role"] == "supervisor", timeout=20, what="the new role")
    assert _sign_in(store, person, "4826").get_json()["staff"]["role"] == "supervisor"

    token = _sign_in(store, person, "4826").get_json()["token"]
    assert admin.post(f"/hq/staff/{person}/stores/s01/remove").status_code == 303
    wait_for(lambda: _row(store, person)["active"] == 0, timeout=20, what="the removal")
    assert _sign_in(store, person, "4826").status_code == 401
    # Their open session ended with it.
    ended = store.client.get("/api/v1/sync/status", headers=store.bearer(token))
    assert ended.status_code == 401
    assert (
        read_state(store.rt).version
        == pg.execute("SELECT max(change_seq) FROM staff_assignment").fetchone()[0]
    )


def test_staff_added_on_the_appliance_appear_in_hq_and_a_lockout_shows_there(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    appliance: Appliance,
    admin: HqBrowser,
) -> None:
    wall.ms = int(time.time() * 1000)  # the till's clock, as HQ compares lockouts with now
    manager = store.login("manager")
    made = store.client.post(
        "/api/v1/staff",
        json={"name": "Sam Saturday", "role": "cashier", "pin": "6042"},
        headers=store.bearer(manager),
    )
    assert made.status_code == 201, made.get_json()
    sam = made.get_json()["id"]
    wait_for(
        lambda: (
            pg.execute("SELECT 1 FROM staff_person WHERE id = %s", (sam,)).fetchone() is not None
        ),
        timeout=20,
        what="the appliance's new cashier in the master",
    )
    listed = admin.get("/hq/staff?store=s01&q=saturday").text
    row = listed.split(f'data-staff="{sam}"')[1].split("</tr>")[0]
    assert "Sam Saturday" in row and "cashier" in row
    assert "Added at store s01" in admin.get(f"/hq/staff/{sam}").text

    # Five wrong PINs lock the cashier out at the till; HQ shows it.
    for _ in range(5):
        assert _sign_in(store, store.staff["cashier"], "0000").status_code in (401, 429)
    assert _row(store, store.staff["cashier"])["lockouts"] == 1
    wait_for(
        lambda: (
            pg.execute(
                "SELECT lockouts, locked_until > now() FROM staff_assignment WHERE person = %s",
                (store.staff["cashier"],),
            ).fetchone()
            == (1, True)
        ),
        timeout=20,
        what="the lockout reported to the cloud",
    )
    page = admin.get(f"/hq/staff/{store.staff['cashier']}").text
    cell = page.split('data-lockout="s01"')[1].split("</td>")[0]
    assert "locked until" in cell and "1 lockout(s)" in cell
    assert _sign_in(store, store.staff["cashier"], PINS["cashier"]).status_code == 429
