"""HQ's staff on the appliance's admin pages, through real sync (the uplink on a private
Mosquitto, the real store responder and PostgreSQL): HQ adds a cashier at s01; the Staff
page marks them as head office's (and says what that means) while the store's own staff are
not marked; the Sync page shows the HQ staff change applied, and a refused answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from appliance.sync.staff_pull import read_state
from appliance.sync.status import sync_state
from cloud.store_rpc import StoreResponder
from tests.appliance.admin.conftest import AdminBrowser
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_catalog_pull import Appliance
from tests.appliance.sync.test_chain import broker, responder
from tests.appliance.sync.test_staff_pull import admin
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import Store
from tests.hq.conftest import HqBrowser

__all__ = ["admin", "broker", "responder"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def appliance(store: Store, broker: Broker, responder: StoreResponder) -> Iterator[Appliance]:
    running = Appliance(store, broker)
    yield running
    running.stop()


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_hq_staff_are_marked_and_the_staff_pull_shows_on_the_sync_page(
    store: Store,
    pg: Conn,  # noqa: F811
    appliance: Appliance,
    admin: HqBrowser,
) -> None:
    # Before anything came from head office: the Sync page says so, nobody is marked.
    client = store.client.application.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.30"
    manager = AdminBrowser(client=client, store=store).sign_in("manager")
    staff_page = manager.get("/admin/staff").text
    assert "from head office" not in staff_page and 'id="from-hq-note"' not in staff_page

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
    assert person.startswith("hq-")
    latest = int(pg.execute("SELECT max(change_seq) FROM staff_assignment").fetchone()[0])  # type: ignore[index]
    wait_for(lambda: read_state(store.rt).version == latest, timeout=20, what="HQ's cashier at s01")

    staff_page = manager.get("/admin/staff").text
    robin = staff_page.split(f'data-testid="staff-{person}"')[1].split("</tr>")[0]
    assert f'data-testid="from-hq-{person}"' in robin and "from head office" in robin
    assert 'aria-describedby="from-hq-note"' in robin
    note = _text(staff_page.split('data-testid="from-hq-note">')[1].split("</p>")[0])
    assert "head office manages them" in note and "hq-" in note
    # The store's own staff are not marked.
    own = store.staff["cashier"]
    row = staff_page.split(f'data-testid="staff-{own}"')[1].split("</tr>")[0]
    assert "from head office" not in row

    state = sync_state(store.rt).staff
    assert (state.version, state.problem) == (latest, None) and state.applied_ms is not None
    sync_page = manager.get("/admin/sync").text
    assert f'data-testid="sync-staff">change {latest}<' in sync_page
    tile = _text(sync_page.split('data-testid="sync-staff"')[1].split("</div>")[0])
    assert "up to date" in tile and "last change applied" in tile
    assert 'data-testid="sync-staff-problem"' not in sync_page

    # An answer the pull refused is shown until a good one clears it (the pull keeps it in
    # cloud_staff; written here as the pull writes it, test_staff_pull_rules covers how).
    store.rt.db.execute(
        "UPDATE cloud_staff SET problem = ?, problem_ms = ? WHERE id = 1",
        ("a staff reply that is not one: expected object", store.rt.now_ms()),
    )
    sync_page = manager.get("/admin/sync").text
    problem = _text(sync_page.split('data-testid="sync-staff-problem"')[1].split("</p>")[0])
    assert "a staff reply that is not one" in problem and "stay as they were" in problem
