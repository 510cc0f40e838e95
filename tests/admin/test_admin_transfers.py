"""The admin Transfers pages in Chromium against a real appliance: a manager asks another store
for stock (a bad line refused by its field first), approves and ships a transfer pulled from
head office, and receives a shipment one short with a reason; the stock moves at once.
axe-core finds nothing serious on the list, the refused form, and the ship and receive forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from appliance import transfers
from appliance.runtime import Runtime
from appliance.server import RunningServer
from protocol.ids import new_id
from protocol.transfers import SkuLine, TransfersReply, TransferState
from tests.admin.test_admin_pages import go, sign_in
from tests.appliance.selling.helpers import on_hand
from tests.conftest import Store
from tests.pwa.test_accessibility import serious_violations


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def _pulled(rt: Runtime, *states: TransferState) -> None:
    last = max(s.seq for s in states)
    transfers.apply_page(
        rt, transfers.version(rt), TransfersReply(transfers=list(states), next=last, head=last)
    )


def _state(seq: int, ident: str, state: str, *, inbound: bool) -> TransferState:
    mugs = [SkuLine(sku="MUG-1", qty=3)]
    return TransferState(
        seq=seq,
        id=ident,
        from_store="s02" if inbound else "s01",
        to_store="s01" if inbound else "s02",
        state=state,  # type: ignore[arg-type]
        requested_in="hq",
        requested_at="2026-12-08T09:00:00+00:00",
        lines=mugs,
        shipped=mugs if state == "shipped" else [],
    )


def test_ask_approve_ship_and_receive_on_the_admin_pages(
    axe_page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    admin = axe_page
    rt = store.rt
    outbound, inbound = new_id(), new_id()
    _pulled(
        rt,
        _state(1, outbound, "requested", inbound=False),
        _state(2, inbound, "approved", inbound=True),
    )
    sign_in(admin, server.url, store)
    go(admin, "Transfers")
    expect(admin.locator(f'tr[data-transfer="{outbound}"]')).to_contain_text("Approve it")
    assert serious_violations(admin) == []

    admin.get_by_label("The other store (its code, e.g. s02)").fill("s03")
    admin.get_by_label(re.compile("^Items: one per line")).fill("MUG-1 2\nNOPE 1")
    admin.get_by_role("button", name="Ask").click()
    expect(admin.locator("#request-lines-error")).to_contain_text(
        "no active item has the SKU or barcode NOPE"
    )
    assert serious_violations(admin) == []
    admin.get_by_label(re.compile("^Items: one per line")).fill("MUG-1 2")
    admin.get_by_role("button", name="Ask").click()
    expect(admin.get_by_text("Asked s03 for 1 item(s)")).to_be_visible()
    expect(admin.locator("[data-state]")).to_have_text("requested")

    # Approve and ship what head office asked this store to send.
    admin.goto(f"{server.url}/admin/transfers/{outbound}")
    admin.get_by_role("button", name="Approve: we will send it").click()
    expect(admin.locator("[data-state]")).to_have_text("approved")
    admin.get_by_role("textbox", name="MUG-1").fill("3")
    assert serious_violations(admin) == []
    admin.get_by_role("button", name="Ship").click()
    expect(admin.locator("[data-state]")).to_have_text("shipped")
    assert on_hand(store, "MUG-1") == -3  # nothing was booked in first: flagged, never refused

    # The inbound one is shipped by s02 (pulled): receive one short, with a reason.
    _pulled(rt, _state(3, inbound, "shipped", inbound=True))
    admin.goto(f"{server.url}/admin/transfers/{inbound}")
    count = admin.get_by_role("textbox", name="MUG-1")
    expect(count).to_have_value("3")
    count.fill("2")
    admin.get_by_role("button", name="Receive").click()
    expect(admin.locator("#receive-reason-error")).to_contain_text("say why")
    assert serious_violations(admin) == []
    admin.get_by_label("If the count differs from what was shipped: why").fill("one broken")
    admin.get_by_role("button", name="Receive").click()
    expect(admin.locator("[data-state]")).to_have_text("received")
    expect(admin.get_by_text("Why the count differs: one broken")).to_be_visible()
    assert on_hand(store, "MUG-1") == -1
