"""The catalog editor in real Chromium against waitress and the real PostgreSQL: a buyer makes
a product with the option matrix, a wrong barcode is refused beside its field, the save
reaches the list; a CSV import's dry run reports problems by row and column before anything
is applied; every catalog page passes axe (TILLBOX_SCREENSHOTS=folder saves hq-catalog.png,
hq-catalog-product.png and hq-catalog-import.png there)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.hq.conftest import PASSWORDS, Hq, HqServer
from tests.pwa.test_accessibility import AXE, serious_violations

_CSV = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class\r\n"
    "MUG-1,Stoneware Mug,,96385074,Home,Potters,3.00,9.50,standard\r\n"
    "MUG-2,Stoneware Mug XL,,55123457,Home,Potters,3.50,11.50,standard\r\n"
    "MUG-3,Stoneware Mug S,,,Home,Potters,2.50,eight,standard\r\n"
)


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """axe is injected, so this context bypasses the pages' CSP (checked in test_accounts)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


def test_option_matrix_save_and_import_dry_run_in_chromium(
    hq: Hq, hq_server: HqServer, axe_page: Page, tmp_path: Path
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    page = axe_page
    found: dict[str, list[dict[str, Any]]] = {}
    folder = os.environ.get("TILLBOX_SCREENSHOTS")
    page.goto(f"{hq_server.url}/hq/catalog")
    page.get_by_label("Username").fill("buyer")
    page.get_by_label("Password").fill(PASSWORDS["buyer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Catalog")).to_be_visible()
    found["catalog empty"] = serious_violations(page)

    # A new product: 3 sizes × 2 colours from the option matrix.
    page.get_by_role("link", name="New product").click()
    page.get_by_label("Product name").fill("Polo Shirt")
    page.get_by_label("Category").fill("Apparel")
    page.get_by_label("Vendor").fill("Acme")
    page.get_by_label("Options and values").fill("Size: S, M, L\nColour: Red, Blue")
    page.get_by_label("SKU prefix").fill("POLO")
    page.get_by_label("Cost for each").fill("8.00")
    page.get_by_label("Price for each").fill("20.00")
    page.get_by_role("button", name="Add combinations").click()
    expect(page.get_by_role("status")).to_contain_text("6 variant(s) added below")
    expect(page.locator("tr[data-sku]")).to_have_count(6)
    found["editor with matrix"] = serious_violations(page)

    # A barcode with a wrong check digit is refused beside its field; nothing is saved.
    page.get_by_label("Barcodes of POLO-M-RED").fill("036000291453")
    page.get_by_label("Price of POLO-L-BLUE").fill("22.50")
    page.get_by_role("button", name="Save product").click()
    error = page.locator("#product-v2_barcodes-error")
    expect(error).to_contain_text("wrong GS1 check digit")
    expect(page.get_by_label("Barcodes of POLO-M-RED")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Price of POLO-L-BLUE")).to_have_value("22.50")
    assert hq.query("SELECT count(*) FROM catalog_variant") == [(0,)]
    found["editor refused"] = serious_violations(page)
    page.get_by_label("Barcodes of POLO-M-RED").fill("036000291452")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Saved Polo Shirt: 6 variant(s) added, 0 changed"
    )
    expect(page.get_by_role("heading", name="Polo Shirt")).to_be_visible()
    found["product"] = serious_violations(page)
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-catalog-product.png"), full_page=True)
    assert hq.query(
        "SELECT sku, price FROM catalog_variant WHERE sku IN ('POLO-L-BLUE', 'POLO-S-RED')"
        " ORDER BY sku"
    ) == [("POLO-L-BLUE", 2250), ("POLO-S-RED", 2000)]

    # The list finds it by barcode.
    page.get_by_role("link", name="Back to the catalog").click()
    page.get_by_label("SKU, name or barcode").fill("036000291452")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-sku]")).to_have_count(1)
    expect(page.locator('tr[data-sku="POLO-M-RED"]')).to_contain_text("20.00")
    found["catalog search"] = serious_violations(page)

    # Import: the dry run shows problems by row and column and changes nothing.
    upload = tmp_path / "mugs.csv"
    upload.write_text(_CSV, encoding="utf-8")
    page.get_by_role("link", name="Import CSV").click()
    found["import form"] = serious_violations(page)
    page.get_by_label("Catalog CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_role("heading", name=re.compile("Dry run of mugs.csv"))).to_be_visible()
    problems = page.get_by_role("table", name="Problems by row and column")
    expect(problems.locator("tbody tr")).to_have_count(1)
    expect(problems).to_contain_text("price")
    expect(problems.locator("tbody tr td").first).to_have_text("4")
    expect(page.get_by_role("button", name=re.compile("Apply"))).to_have_count(0)
    found["import refused"] = serious_violations(page)
    assert hq.query("SELECT count(*) FROM catalog_variant WHERE left(sku, 3) = 'MUG'") == [(0,)]
    # Skipping bad rows: the counts of what applying would do, then apply.
    page.get_by_label("Catalog CSV file").set_input_files(str(upload))
    page.get_by_label("Skip bad rows").check()
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_test_id("created")).to_have_text("2")
    expect(page.get_by_test_id("skipped")).to_have_text("1")
    assert hq.query("SELECT count(*) FROM catalog_variant WHERE left(sku, 3) = 'MUG'") == [(0,)]
    found["import dry run"] = serious_violations(page)
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-catalog-import.png"), full_page=True)
    page.get_by_role("button", name="Apply this file without its 1 bad row(s)").click()
    expect(page.get_by_role("heading", name="Imported mugs.csv")).to_be_visible()
    expect(page.get_by_role("status").last).to_contain_text("Catalog version")
    assert hq.query("SELECT count(*) FROM catalog_variant WHERE left(sku, 3) = 'MUG'") == [(2,)]

    page.goto(f"{hq_server.url}/hq/catalog/names")
    found["names"] = serious_violations(page)
    page.goto(f"{hq_server.url}/hq/catalog")
    expect(page.locator("tr[data-sku]")).to_have_count(8)
    found["catalog"] = serious_violations(page)
    if folder:
        page.screenshot(path=str(Path(folder) / "hq-catalog.png"), full_page=True)
    assert {name: v for name, v in found.items() if v} == {}
