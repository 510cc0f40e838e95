"""Receiving a transfer on the register, in Chromium against a real appliance: the shipment
pulled from head office is listed, a short count needs a reason, and a receipt made with the
appliance away is kept on the tablet and books the stock in once it is back. axe-core finds
nothing serious on the screen."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from appliance import transfers
from appliance.runtime import Runtime
from appliance.server import RunningServer
from protocol.ids import new_id
from protocol.transfers import SkuLine, TransfersReply, TransferState
from tests.appliance.selling.helpers import on_hand
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.conftest import Store
from tests.pwa.test_accessibility import serious_violations
from tests.pwa.test_sell import start_selling


def _shipment(rt: Runtime, seq: int, mugs: int) -> str:
    transfer = new_id()
    state = TransferState(
        seq=seq,
        id=transfer,
        from_store="s02",
        to_store="s01",
        state="shipped",
        requested_in="hq",
        requested_at="2026-12-08T09:00:00+00:00",
        note=f"{mugs} mugs",
        lines=[SkuLine(sku="MUG-1", qty=mugs)],
        shipped=[SkuLine(sku="MUG-1", qty=mugs)],
    )
    transfers.apply_page(
        rt, transfers.version(rt), TransfersReply(transfers=[state], next=seq, head=seq)
    )
    return transfer


def test_a_cashier_receives_a_transfer_short_with_a_reason_and_offline(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    rt = store.rt
    first = _shipment(rt, 1, 4)
    second = _shipment(rt, 2, 2)
    start_selling(page, server.url)
    page.get_by_role("button", name="Receive", exact=True).click()
    expect(page.get_by_role("heading", name="Receive a transfer")).to_be_visible()
    page.locator(f'[data-transfer="{first}"]').click()
    count = page.get_by_label("Crème Brûlée Mug")
    expect(count).to_have_value("4")
    assert serious_violations(page) == []
    count.fill("3")
    page.get_by_role("button", name="Receive", exact=True).last.click()
    expect(page.get_by_text("what arrived differs from what was shipped: say why")).to_be_visible()
    assert on_hand(store, "MUG-1") == 0
    page.get_by_label("If the count differs from what was shipped: why").fill("one chipped")
    page.get_by_role("button", name="Receive", exact=True).last.click()
    expect(page.get_by_test_id("receive-done")).to_contain_text("Received from s02")
    assert on_hand(store, "MUG-1") == 3
    shown = transfers.get(rt, first)
    assert shown.state == "received" and shown.receive_reason == "one chipped"
    expect(page.locator(f'[data-transfer="{first}"]')).to_have_count(0)

    # With the appliance away: the list last seen, the receipt kept on the tablet.
    page.context.set_offline(True)
    page.get_by_role("button", name="Check again").click()
    expect(page.get_by_text("showing the shipments last seen")).to_be_visible()
    page.locator(f'[data-transfer="{second}"]').click()
    page.get_by_role("button", name="Receive", exact=True).last.click()
    expect(page.get_by_test_id("receive-done")).to_contain_text("Saved on this tablet")
    expect(page.locator(f'[data-transfer="{second}"]')).to_have_count(0)
    assert on_hand(store, "MUG-1") == 3
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_for(lambda: on_hand(store, "MUG-1") == 5, timeout=20, what="the queued receipt")
    assert transfers.get(rt, second).state == "received"
