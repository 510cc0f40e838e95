"""Catalog down-sync end to end: the cloud's catalog master on the real PostgreSQL, its
responder and the appliance's uplink on a private Mosquitto, and the appliance's catalog API
showing what the cloud holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.runtime import Runtime, open_runtime
from appliance.sync.catalog_pull import apply_page, read_state
from appliance.sync.uplink import Uplink
from cloud.catalog import changes_since, head_version, import_csv, set_store_price
from cloud.catalog_rpc import CatalogResponder, _Request
from cloud.worker import BrokerSettings
from protocol.catalog import parse_request
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.cloud.test_worker import FAST as WORKER_FAST
from tests.conftest import SMALL_CATALOG, Store, make_settings

Conn = psycopg.Connection[Any]
HEADER = SMALL_CATALOG.split("\r\n", 1)[0]

# The uplink test's fast timers; its batch size is the catalog's page size's business here.
FAST = {**WORKER_FAST, "mqtt_session_expiry_s": 30}
# Pages of 5, and no request asked again on a timeout, so which pages were answered is exact
# even on a loaded machine.
UNHURRIED = {
    "sync_catalog_page": 5,
    "sync_ack_timeout_ms": 10_000,
    "sync_ack_timeout_max_ms": 10_000,
}


def _csv(*rows: str) -> bytes:
    return ("\r\n".join((HEADER, *rows)) + "\r\n").encode()


class GatedResponder(CatalogResponder):
    """A responder that records what it is asked, and while `paused` asks go unanswered
    (a cloud that stops answering mid-pull)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[int] = []
        self.answer_at_most: int | None = None

    def _answer(
        self, conn: psycopg.Connection[Any] | None, request: _Request
    ) -> psycopg.Connection[Any] | None:
        asked = parse_request(request.payload)
        if asked is not None:
            self.asked.append(asked.since)
        if self.answer_at_most is not None and self.answered >= self.answer_at_most:
            return conn
        return super()._answer(conn, request)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker").start()
    yield running
    running.kill()


@pytest.fixture
def responder(cloud_dsn: str, broker: Broker) -> Iterator[GatedResponder]:  # noqa: F811
    running = GatedResponder(cloud_dsn, BrokerSettings(port=broker.port), name="t", poll_s=0.2)
    running.start()
    assert running.wait_subscribed()
    yield running
    running.stop()


class Appliance:
    """The store's appliance with its uplink running, on the store's data directory."""

    def __init__(self, store: Store, broker: Broker, **settings: Any) -> None:
        self.store = store
        self.rt = open_runtime(
            make_settings(
                store.rt.settings.data_dir, **{**FAST, "mqtt_port": broker.port, **settings}
            )
        )
        self.uplink = Uplink(self.rt)
        self.uplink.start()

    def stop(self) -> None:
        self.uplink.stop()
        self.rt.close()

    def version(self) -> int:
        return read_state(self.store.rt).version

    def get(self, path: str) -> tuple[int, Any]:
        response = self.store.client.get(path, headers=self.store.bearer(self.store.device))
        return response.status_code, response.get_json()


@pytest.fixture
def appliance(store: Store, broker: Broker, responder: GatedResponder) -> Iterator[Appliance]:
    running = Appliance(store, broker)
    yield running
    running.stop()


def test_the_cloud_catalog_reaches_the_appliance_and_so_does_a_price_change(
    pg: Conn,  # noqa: F811
    appliance: Appliance,
) -> None:
    version = import_csv(pg, SMALL_CATALOG.encode()).version
    wait_for(lambda: appliance.version() == version, timeout=15, what="the cloud's catalog")
    status, tee = appliance.get("/api/v1/catalog/barcodes/4006381333931")
    assert status == 200, tee
    assert (tee["sku"], tee["title"], tee["price"], tee["category"]) == (
        "TEE-M-RED",
        "Classic Tee — M / Red",
        1299,
        "Apparel",
    )
    status, found = appliance.get("/api/v1/catalog/search?q=mug&limit=5")
    assert status == 200
    assert [v["sku"] for v in found["variants"]] == ["MUG-1"]
    status, sync = appliance.get("/api/v1/sync/status")
    assert sync["catalog"]["version"] == sync["catalog"]["head"] == version
    assert sync["catalog"]["problem"] is None and sync["catalog"]["applied_at"]

    # A price change in the cloud, and this store's own price for the mug.
    repriced = import_csv(
        pg,
        _csv(
            "TEE-M-RED,Classic Tee,Size=M;Color=Red,4006381333931,Apparel,Acme,4.50,10.99,standard,5,24,1,1"
        ),
    ).version
    mine = set_store_price(pg, "s01", "MUG-1", 799)
    assert mine > repriced
    wait_for(lambda: appliance.version() == mine, timeout=15, what="the price change")
    assert appliance.get("/api/v1/catalog/barcodes/4006381333931")[1]["price"] == 1099
    assert appliance.get("/api/v1/catalog/barcodes/96385074")[1]["price"] == 799
    # The register's change feed carries the new documents, for its cache.
    feed = appliance.get("/api/v1/catalog/changes?since=0&limit=100")[1]
    prices = {
        c["data"]["sku"]: c["data"]["price"] for c in feed["changes"] if c["kind"] == "variant"
    }
    assert prices["TEE-M-RED"] == 1099 and prices["MUG-1"] == 799


def test_a_pull_stopped_midway_resumes_from_the_last_page_applied(
    pg: Conn,  # noqa: F811
    store: Store,
    broker: Broker,
    responder: GatedResponder,
) -> None:
    rows = [f"SKU-{n:02d},Thing {n},,,Misc,,1.00,{n}.00,standard,,,1,1" for n in range(1, 24)]
    head = import_csv(pg, _csv(*rows)).version
    responder.answer_at_most = 2
    first = Appliance(store, broker, **UNHURRIED)
    try:
        wait_for(lambda: len(responder.asked) >= 3, timeout=15, what="a third request")
    finally:
        first.stop()
    midway = first.version()
    assert midway == changes_since(pg, 0, 10, "s01").next  # two pages of 5
    assert store.rt.db.scalar("SELECT count(*) FROM variant") == 10
    assert read_state(store.rt).head == head

    # Started again (as after a crash or a restart), it asks from where it stopped.
    responder.answer_at_most = None
    asked_before = len(responder.asked)
    second = Appliance(store, broker, **UNHURRIED)
    try:
        wait_for(lambda: second.version() == head, timeout=15, what="the rest of the catalog")
    finally:
        second.stop()
    assert responder.asked[asked_before] == midway
    assert 0 not in responder.asked[asked_before:]
    assert store.rt.db.scalar("SELECT count(*) FROM variant") == 23
    status, thing = second.get("/api/v1/catalog/search?q=thing%2023&limit=5")
    assert status == 200
    assert [v["price"] for v in thing["variants"]] == [2300]


def test_a_page_the_appliance_cannot_apply_is_not_half_applied_and_is_reported(
    pg: Conn,  # noqa: F811
    appliance: Appliance,
) -> None:
    # A tax class the cloud has and this store is not configured for.
    pg.execute("INSERT INTO catalog_tax_class (code, position) VALUES ('luxury', 4)")
    before = head_version(pg)
    refused = import_csv(
        pg,
        _csv(
            "OK-1,Fine Thing,,,Misc,,1.00,2.00,standard,,,1,1",
            "LUX-1,Fancy Thing,,,Misc,,1.00,200.00,luxury,,,1,1",
        ),
    ).version
    wait_for(
        lambda: appliance.get("/api/v1/sync/status")[1]["catalog"]["problem"],
        timeout=15,
        what="the refused page reported",
    )
    catalog = appliance.get("/api/v1/sync/status")[1]["catalog"]
    assert "tax class 'luxury' is not one of standard" in catalog["problem"]
    assert catalog["problem_at"]
    assert catalog["version"] <= before and catalog["head"] == refused
    assert appliance.store.rt.db.scalar("SELECT count(*) FROM variant") == 0  # not even OK-1

    # Corrected in the cloud: the new head brings the page again, and it applies.
    fixed = import_csv(pg, _csv("LUX-1,Fancy Thing,,,Misc,,1.00,200.00,standard,,,1,1")).version
    wait_for(lambda: appliance.version() == fixed, timeout=15, what="the corrected page")
    catalog = appliance.get("/api/v1/sync/status")[1]["catalog"]
    assert catalog["problem"] is None
    assert appliance.store.rt.db.scalar("SELECT count(*) FROM variant") == 2


def test_a_page_applied_twice_changes_nothing_and_a_moved_barcode_follows_the_cloud(
    pg: Conn,  # noqa: F811
    store: Store,
) -> None:
    rt: Runtime = store.rt
    import_csv(pg, SMALL_CATALOG.encode())
    page = changes_since(pg, 0, 100, "s01")
    assert apply_page(rt, 0, page) == page.head
    feed_head = rt.db.scalar("SELECT MAX(version) FROM catalog_feed")
    # The same page again (a late duplicate reply) is not applied over a newer version…
    assert apply_page(rt, 0, page) == page.head
    # …and applied again from scratch it changes nothing.
    rt.db.execute("UPDATE cloud_catalog SET version = 0")
    assert apply_page(rt, 0, page) == page.head
    assert rt.db.scalar("SELECT MAX(version) FROM catalog_feed") == feed_head
    # The cloud moves TB-0001 to TEE-M-RED; a page with only that variant takes it over.
    import_csv(
        pg,
        _csv(
            "TEE-M-RED,Classic Tee,Size=M;Color=Red,4006381333931|TB-0001,Apparel,Acme,4.50,12.99,standard,5,24,1,1",
            "TEE-L-RED,Classic Tee,Size=L;Color=Red,036000291452,Apparel,Acme,4.50,12.99,standard,5,24,1,1",
        ),
    )
    first = changes_since(pg, page.head, 1, "s01")
    assert [c.sku for c in first.changes] == ["TEE-M-RED"]
    assert apply_page(rt, page.head, first) == first.next
    owner = rt.db.scalar(
        "SELECT v.sku FROM barcode b JOIN variant v ON v.id = b.variant_id WHERE b.code = 'TB-0001'"
    )
    assert owner == "TEE-M-RED"
    rest = changes_since(pg, first.next, 100, "s01")
    assert apply_page(rt, first.next, rest) == rest.head
