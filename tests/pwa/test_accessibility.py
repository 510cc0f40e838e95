"""axe-core on every main screen of the register app: no serious or critical violation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.conftest import PINS, Store
from tests.pwa.test_sell import keypad, start_selling

AXE = Path(__file__).resolve().parents[2] / "pwa" / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is; what is serious or critical, with where."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_main_screen_passes_axe(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Set up this register")).to_be_visible()
    found["pair"] = serious_violations(page)
    page.get_by_label("Register name").fill("Till by the door")
    keypad(page, PINS["manager"])
    expect(page.get_by_text("Who is selling?")).to_be_visible()
    found["login"] = serious_violations(page)
    page.get_by_role("button", name="Cashier cashier").click()
    found["pin"] = serious_violations(page)
    keypad(page, PINS["cashier"])
    expect(page.get_by_role("heading", name="Open your shift")).to_be_visible()
    found["open shift"] = serious_violations(page)
    page.get_by_label(re.compile(r"How many of €10\.00")).fill("10")
    page.get_by_role("button", name="Open shift").click()
    search = page.get_by_label("Search products")
    search.fill("tee")
    page.get_by_role("button", name=re.compile("TEE-M-RED")).click()
    found["sell"] = serious_violations(page)
    page.get_by_role("button", name=re.compile("price, discount or remove Classic Tee")).click()
    found["line"] = serious_violations(page)
    page.get_by_role("button", name="Change the price").click()
    found["price override"] = serious_violations(page)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Discount on sale").click()
    found["discount"] = serious_violations(page)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name=re.compile("^Pay")).click()
    found["tender"] = serious_violations(page)
    page.get_by_label("Reference").fill("A1B2C3")
    page.get_by_role("button", name="Card", exact=True).click()
    expect(page.get_by_role("button", name="No receipt")).to_be_visible()
    found["receipt"] = serious_violations(page)
    page.get_by_role("button", name="No receipt").click()
    page.get_by_role("button", name="Stock", exact=True).click()
    page.get_by_label("Find a product's stock").fill("tee")
    page.get_by_role("button", name=re.compile("TEE-M-RED")).click()
    expect(page.get_by_test_id("on-hand-here")).to_be_visible()
    found["stock"] = serious_violations(page)
    page.get_by_test_id("sync").click()
    expect(page.get_by_role("heading", name="Sync")).to_be_visible()
    found["sync"] = serious_violations(page)
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Till by the door: register settings").click()
    expect(page.get_by_role("heading", name="This register")).to_be_visible()
    found["register"] = serious_violations(page)
    page.get_by_role("button", name="Back").click()
    # The indicator tells at a glance what the appliance still holds for the cloud.
    expect(page.get_by_test_id("sync")).to_contain_text("on the appliance for the cloud (offline)")
    page.get_by_role("button", name="Shift", exact=True).click()
    page.get_by_role("button", name="Pay in").click()
    found["shift"] = serious_violations(page)
    page.get_by_role("button", name="Close shift").click()
    found["close shift"] = serious_violations(page)
    page.get_by_label("Card terminal total").fill("12.99")
    page.get_by_role("button", name="Close shift").click()
    expect(page.get_by_role("heading", name="Z report 1")).to_be_visible()
    found["z report"] = serious_violations(page)
    failing = {screen: v for screen, v in found.items() if v}
    assert not failing, json.dumps(failing, indent=1)


def test_the_returns_screen_passes_axe(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    from tests.appliance.selling.helpers import uid
    from tests.appliance.till import Item
    from tests.pwa.test_returns import TEE, front_till, open_returns, scan, sell_at
    from tests.pwa.test_sell import start_selling

    _, receipt = sell_at(
        front_till(store),
        [Item(uid(store.rt, "TEE-M-RED"), 2, 1299)],
        [{"kind": "card", "amount": 2598, "reference": "AUTH"}],
    )
    found: dict[str, list[dict[str, Any]]] = {}
    start_selling(page, server.url)
    open_returns(page)
    found["returns"] = serious_violations(page)
    scan(page, receipt)
    page.get_by_role("button", name=f"One more {TEE} back").click()
    found["returns lines"] = serious_violations(page)
    page.get_by_role("button", name=f"Pick a reason for {TEE}").click()
    found["return reason"] = serious_violations(page)
    page.get_by_role("button", name=re.compile("^Changed mind")).click()
    found["returns picked"] = serious_violations(page)
    page.get_by_role("button", name="No receipt", exact=True).click()
    scan(page, "96385074")
    page.get_by_label("Search the returned item").fill("tee")
    found["no receipt"] = serious_violations(page)
    page.get_by_role("button", name=re.compile("^Pick a reason")).click()
    page.get_by_role("button", name=re.compile("^Changed mind")).click()
    page.get_by_role("button", name=re.compile("^Refund €")).click()
    expect(page.get_by_role("dialog", name="Refund without a receipt")).to_be_visible()
    found["no receipt approval"] = serious_violations(page)
    failing = {screen: v for screen, v in found.items() if v}
    assert not failing, json.dumps(failing, indent=1)


def fits(page: Page) -> None:
    """Nothing sticks out sideways, and every button is at least 44 × 44 px."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    small = page.evaluate(
        """() => [...document.querySelectorAll('button')]
            .filter(b => b.offsetParent !== null)
            .map(b => [b.textContent.trim() || b.getAttribute('aria-label'), b.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([name, r]) => `${name}: ${Math.round(r.width)}×${Math.round(r.height)}`)"""
    )
    assert small == []


def test_a_small_tablet_at_1024_by_600_sells_with_every_control_in_reach(
    page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    page.set_viewport_size({"width": 1024, "height": 600})
    start_selling(page, server.url)
    search = page.get_by_label("Search products")
    for code in ("4006381333931", "96385074", "4006381333931"):
        search.fill(code)
        search.press("Enter")
    fits(page)
    pay = page.get_by_role("button", name=re.compile("^Pay"))
    expect(pay).to_be_in_viewport()
    pay.click()
    fits(page)
    expect(page.get_by_role("button", name="Card", exact=True)).to_be_in_viewport()
    page.get_by_role("button", name="Back to the cart").click()
    page.get_by_role("button", name="Discount on sale").click()
    page.get_by_label("Percent off").fill("50")
    page.get_by_role("button", name="Ask a supervisor").click()
    # The supervisor's keypad, Enter included, is on screen without scrolling.
    expect(page.get_by_role("button", name="Enter", exact=True)).to_be_in_viewport()
    fits(page)
    page.get_by_role("button", name="Cancel").click()  # back to the discount
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Shift", exact=True).click()
    fits(page)
    page.get_by_role("button", name="Close shift").click()
    fits(page)
