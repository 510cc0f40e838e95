"""A transfer s01 → s02 end to end through real sync: two appliances on a private Mosquitto,
the ingest worker and the store responder on the real PostgreSQL, each store's admin pages,
and HQ's pages. s02 asks, the cloud hears it, s01 pulls it and approves, ships while its link
is down (its stock moves at once), HQ then shows the units in transit; s02 pulls the shipment,
receives one short with a reason, and HQ shows it received with the difference."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance import transfers as store_transfers
from appliance.app import create_app as create_store_app
from appliance.catalog.csvio import import_csv as import_store_csv
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings
from appliance.setup import init_store
from appliance.staff.directory import add_staff
from appliance.stock import quick_on_hand
from appliance.sync.uplink import Uplink
from cloud.catalog import import_csv
from cloud.hq import create_app
from cloud.store_rpc import StoreResponder
from protocol.permissions import Role
from tests.appliance.admin.conftest import AdminBrowser
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, responder, synced, uid, worker
from tests.cloud.test_worker import FAST
from tests.conftest import PINS, SMALL_CATALOG, FakeWall, Store, make_settings
from tests.hq.conftest import HqBrowser, fast_settings, seed_users

__all__ = ["broker", "responder", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """s01, syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


@pytest.fixture
def second(tmp_path: Path, broker: Broker, wall: FakeWall) -> Iterator[Store]:
    """s02: an appliance of its own, its own variant ids, a manager and a supervisor."""
    root = tmp_path / "s02"
    init_store(root, store="s02", name="Second Store")
    settings = make_settings(root, **{**FAST, "mqtt_port": broker.port})
    rt = open_runtime(settings, wall=wall)
    app = create_store_app(settings, runtime=rt)
    store = Store(rt=rt, client=app.test_client())
    for who, role in (("supervisor", Role.SUPERVISOR), ("manager", Role.MANAGER)):
        store.staff[who] = add_staff(rt, name=who.title(), role=role, pin=PINS[who]).id
    assert import_store_csv(rt, SMALL_CATALOG.encode()).applied
    yield store
    rt.close()


def _uplink(rt: Runtime) -> Uplink:
    link = Uplink(rt)
    link.transfers.interval_s = 0.3  # the test does not wait half a minute for a poll
    link.start()
    wait_for(lambda: rt.link.connected, what="the uplink's connection")
    return link


def _admin(store: Store, who: str) -> AdminBrowser:
    client = store.client.application.test_client()
    return AdminBrowser(client=client, store=store).sign_in(who)


def _state(pg: Conn, transfer: str) -> str | None:
    row = pg.execute("SELECT state FROM transfer WHERE id = %s", (transfer,)).fetchone()
    return None if row is None else str(row[0])


def _local(rt: Runtime, transfer: str) -> store_transfers.Transfer | None:
    try:
        return store_transfers.get(rt, transfer)
    except Exception:
        return None


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_transfer_from_s01_to_s02_through_real_sync(
    store: Store,
    catalog: Runtime,
    second: Store,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
) -> None:
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    hq = create_app(fast_settings(cloud_dsn))
    seed_users(cloud_dsn, hq.extensions["tillbox_hq_passwords"])
    buyer = HqBrowser(client=hq.test_client()).sign_in("buyer")
    s01, s02 = store.rt, second.rt
    mug1, mug2 = uid(s01, "MUG-1"), uid(s02, "MUG-1")
    assert mug1 != mug2  # each store's own ids
    link1, link2 = _uplink(s01), _uplink(s02)
    try:
        m1 = _admin(store, "manager")
        assert m1.post("/admin/stock/deliveries", {"lines": "MUG-1 10"}).status_code == 303
        m2 = _admin(second, "manager")
        asked = m2.post("/admin/transfers", {"direction": "in", "store": "s01", "lines": "MUG-1 4"})
        assert asked.status_code == 303, asked.text[:500]
        transfer = asked.headers["Location"].rsplit("/", 1)[1]
        page = m2.get(f"/admin/transfers/{transfer}").text
        assert "requested" in page and "not at head office yet" in page

        # The request reaches the cloud; s01 pulls it and its manager approves.
        wait_for(lambda: _state(pg, transfer) == "requested", timeout=20, what="the request")
        wait_for(
            lambda: (t := _local(s01, transfer)) is not None and t.may_approve,
            timeout=20,
            what="s01 pulling the request",
        )
        listed = buyer.get("/hq/transfers").text
        assert f'data-transfer="{transfer}"' in listed
        assert m1.post(f"/admin/transfers/{transfer}/approve").status_code == 303
        wait_for(lambda: _state(pg, transfer) == "approved", timeout=20, what="the approval")

        # s01 ships with its link down: the stock leaves at once, the cloud hears later.
        link1.stop()
        shipped = _admin(store, "supervisor").post(
            f"/admin/transfers/{transfer}/ship", {"qty-MUG-1": "4"}
        )
        assert shipped.status_code == 303, shipped.text[:500]
        assert quick_on_hand(s01, mug1) == 6
        assert _state(pg, transfer) == "approved"
        assert _local(s01, transfer).state == "shipped"  # type: ignore[union-attr]
        link1 = _uplink(s01)
        synced(s01)
        wait_for(lambda: _state(pg, transfer) == "shipped", timeout=20, what="the shipment")
        wait_for(
            lambda: (
                'data-in-transit="4">+4 in transit' in buyer.get("/hq/stock?q=MUG&store=s02").text
            ),
            timeout=20,
            what="HQ's in transit",
        )

        # s02 pulls the shipment and receives one short, with a reason.
        wait_for(
            lambda: (t := _local(s02, transfer)) is not None and t.may_receive,
            timeout=20,
            what="s02 pulling the shipment",
        )
        s2 = _admin(second, "supervisor")
        short = s2.post(f"/admin/transfers/{transfer}/receive", {"qty-MUG-1": "3"})
        assert short.status_code == 422  # a different count needs a reason
        assert quick_on_hand(s02, mug2) == 0
        received = s2.post(
            f"/admin/transfers/{transfer}/receive",
            {"qty-MUG-1": "3", "reason": "one broken in the van"},
        )
        assert received.status_code == 303, received.text[:500]
        assert quick_on_hand(s02, mug2) == 3
        synced(s02)
        wait_for(lambda: _state(pg, transfer) == "received", timeout=20, what="the receipt")
        detail = buyer.get(f"/hq/transfers/{transfer}").text
        assert "one broken in the van" in detail
        assert re.search(
            r'data-sku="MUG-1">\s*<td>MUG-1</td>\s*<td class="num">4</td>\s*'
            r'<td class="num">4</td>\s*<td class="num">3</td>\s*<td class="num low"><strong>-1</strong></td>',
            detail,
        ), _text(detail)
        assert 'data-in-transit="0">0</td>' in buyer.get("/hq/stock?q=MUG&store=s02").text
        assert pg.execute(
            "SELECT count(*) FROM alert WHERE kind = 'transfer_problem'"
        ).fetchone() == (0,)
        # s01 hears it was received, too.
        wait_for(
            lambda: (t := _local(s01, transfer)) is not None and t.cloud_state == "received",
            timeout=20,
            what="s01 hearing of the receipt",
        )
    finally:
        link1.stop()
        link2.stop()
