"""The register app with a cloud behind its appliance, in Chromium: other stores' stock on
the Stock screen, and a gift card checked and held in the cloud when it pays (and its hold
given back when the payment is removed). Real PostgreSQL and a private Mosquitto."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

from appliance.runtime import Runtime
from appliance.server import RunningServer
from appliance.settings import Settings
from appliance.sync.uplink import Uplink
from cloud.balances import issue
from protocol.ids import new_id
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import other_store
from tests.appliance.sync.test_chain import responder as responder
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.cloud.test_worker import FAST
from tests.conftest import Store, make_settings
from tests.pwa.test_sell import start_selling

Conn = psycopg.Connection[Any]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker").start()
    yield running
    running.kill()


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})


@pytest.fixture
def uplink(store: Store, catalog: Runtime) -> Iterator[Uplink]:
    """The uplink on the served app's own runtime, so its API asks through it."""
    running = Uplink(store.rt)
    running.start()
    wait_for(lambda: store.rt.link.connected, what="the uplink's connection")
    yield running
    running.stop()


def test_other_stores_stock_shows_on_the_stock_screen(
    page: Page,
    store: Store,
    pg: Conn,  # noqa: F811
    responder: object,
    uplink: Uplink,
    server: RunningServer,
) -> None:
    mug = new_id()
    other_store(pg, "s02", {mug: "MUG-1"}, {mug: 6})
    pg.execute("UPDATE store SET name = 'Harbour Street' WHERE id = 's02'")
    start_selling(page, server.url)
    page.get_by_role("button", name="Stock", exact=True).click()
    page.get_by_label("Find a product's stock").fill("mug")
    page.get_by_role("button", name=re.compile("MUG-1")).click()
    row = page.get_by_test_id("other-store-s02")
    expect(row).to_contain_text("Harbour Street")
    expect(row).to_contain_text("6")
    expect(row).to_contain_text("just now")


def test_a_gift_card_is_held_in_the_cloud_and_given_back_when_removed(
    page: Page,
    store: Store,
    pg: Conn,  # noqa: F811
    responder: object,
    uplink: Uplink,
    server: RunningServer,
) -> None:
    issue(pg, "gift_card", "GC-1001", 1500, "EUR")
    start_selling(page, server.url)
    search = page.get_by_label("Search products")
    search.fill("96385074")
    search.press("Enter")
    page.get_by_role("button", name=re.compile("^Pay")).click()

    # A card with too little says what it has; an unknown one says so; nothing is taken.
    page.get_by_label("Reference").fill("GC-404")
    page.get_by_role("button", name="Gift card").click()
    expect(page.get_by_role("alert")).to_have_text("No gift card GC-404.")

    page.get_by_label("Amount").fill("5")
    page.get_by_label("Reference").fill("GC-1001")
    page.get_by_role("button", name="Gift card").click()
    expect(page.get_by_test_id("left")).to_have_text("€4.50")
    held = "SELECT count(*) FROM balance_hold WHERE state = 'held'"
    assert pg.execute(held).fetchone() == (1,)
    page.get_by_role("button", name=re.compile("^Remove Gift card")).click()
    wait_for(lambda: pg.execute(held).fetchone() == (0,), what="the hold given back")

    page.get_by_label("Reference").fill("GC-1001")
    page.get_by_role("button", name="Gift card").click()
    page.get_by_role("button", name="No receipt").click()
    expect(page.get_by_label("Search products")).to_be_enabled()
    assert store.rt.db.scalar("SELECT count(*) FROM balance_hold WHERE event IS NOT NULL") == 1
    assert store.rt.db.scalar("SELECT count(*) FROM offline_redemption") == 0
