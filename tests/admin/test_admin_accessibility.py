"""axe-core on every admin page (no serious or critical violation), and the question asked
before a change that cannot be undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer, bind_printer
from appliance.runtime import Runtime
from appliance.server import RunningServer
from appliance.staff.registers import get_register
from tests.admin.test_admin_pages import go, sign_in
from tests.appliance.devices.plugged import plug_scanner
from tests.conftest import Store
from tests.pwa.test_accessibility import AXE, serious_violations


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """The admin pages' CSP allows only their own scripts; axe is injected, so the test's
    context bypasses the CSP (the pages' own check of it is in the unit tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_every_admin_page_passes_axe(
    axe_page: Page, store: Store, catalog: Runtime, server: RunningServer, tmp_path: Path
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    admin = axe_page
    plug_scanner(
        catalog, stable_id="path:usb-0:1.3:1.0", name="Zebra DS2208", vendor_product="05e0:1200"
    )
    printer = add_printer(catalog, name="Demo", connection="demo", address=str(tmp_path / "p"))
    bind_printer(catalog, store.register_id, printer)
    PrintWorker(catalog).run_once()
    found: dict[str, list[dict[str, Any]]] = {}
    admin.goto(f"{server.url}/admin/login")
    found["login"] = serious_violations(admin)
    sign_in(admin, server.url, store)
    found["overview"] = serious_violations(admin)
    for label in ("Devices", "Registers", "Staff"):
        go(admin, label)
        found[label] = serious_violations(admin)
    admin.get_by_role("link", name="Registers").first.click()
    admin.get_by_role("button", name="Make a pairing code").click()
    found["pairing code"] = serious_violations(admin)
    # A refused form, with its errors by the fields.
    go(admin, "Devices")
    admin.get_by_role("button", name="Add printer").click()
    expect(admin.locator("#printer-add-name-error")).to_be_visible()
    found["refused form"] = serious_violations(admin)
    assert found == {name: [] for name in found}


def test_revoking_asks_first(
    admin_page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    admin = admin_page
    sign_in(admin, server.url, store)
    go(admin, "Registers")
    answers = iter([False, True])
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if next(answers):
            dialog.accept()
        else:
            dialog.dismiss()

    admin.on("dialog", answer)
    admin.get_by_role("button", name="Revoke Front till").click()
    expect(admin.get_by_role("button", name="Revoke Front till")).to_be_visible()
    assert get_register(catalog, store.register_id).revoked_at is None
    admin.get_by_role("button", name="Revoke Front till").click()
    expect(admin.get_by_role("status")).to_contain_text("Front till (s01-r01) revoked")
    assert get_register(catalog, store.register_id).revoked_at is not None
    assert (
        asked
        == ["Revoke Front till? The tablet stops working at once and must be paired again."] * 2
    )
