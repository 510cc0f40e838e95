"""Stock on the admin pages (appliance/admin/stock_pages.py): counts by scan with a variance
preview and the posted variance report, blind counts, deliveries by barcode or SKU, and
adjustments; refused input changes nothing."""

from __future__ import annotations

import html
from typing import Any

import pytest

from appliance import stock_counts
from appliance.admin import stock_pages
from appliance.runtime import Runtime
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.selling.helpers import uid
from tests.conftest import Store


def _stock(rt: Runtime) -> tuple[Any, ...]:
    return tuple(
        rt.db.one(
            "SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM stock_ledger),"
            " (SELECT group_concat(variant || on_hand) FROM stock_level),"
            " (SELECT group_concat(draft || variant || counted) FROM count_draft_line),"
            " (SELECT group_concat(id || COALESCE(posted_event, '') || COALESCE(discarded_ms, ''))"
            "  FROM count_draft)"
        )
    )


def _on_hand(rt: Runtime, sku: str) -> int:
    return int(
        rt.db.scalar(
            "SELECT COALESCE((SELECT on_hand FROM stock_level WHERE variant = ?), 0)",
            (uid(rt, sku),),
        )
    )


def test_a_delivery_by_barcode_and_sku_is_one_stock_received_event(
    store: Store, catalog: Runtime, supervisor: AdminBrowser
) -> None:
    answer = supervisor.post(
        "/admin/stock/deliveries",
        {
            "vendor": "Potters Ltd",
            "reference": "DN-4411",
            # A scan per line (the mug twice), a SKU with a quantity and a unit cost.
            "lines": "96385074\r\n96385074\r\ntee-m-red 12 4.25\r\n\r\n",
        },
    )
    assert answer.status_code == 303, answer.text[:500]
    event = catalog.db.one("SELECT * FROM event WHERE type = 'stock.received'")
    assert (event["origin"], event["actor"]) == ("s01-ap", store.staff["supervisor"])
    assert _on_hand(catalog, "MUG-1") == 2
    assert _on_hand(catalog, "TEE-M-RED") == 12
    body = catalog.db.scalar("SELECT envelope ->> '$.body' FROM event WHERE id = ?", (event["id"],))
    assert '"cost":425' in body and '"vendor":"Potters Ltd"' in body
    page = supervisor.get("/admin/stock").text
    assert "Delivery booked in: 2 item(s), 14 unit(s)" in page
    assert "Potters Ltd" in page and "DN-4411" in page


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("96385074\nNOPE-9 2", "line 2: no active item has the barcode or SKU NOPE-9"),
        ("96385074 0", "line 1: the quantity 0 is not a whole number from 1"),
        ("96385074 2 4.255", "line 1: amount '4.255' has 3 decimals"),
        ("96385074 2 4 9", "line 1: write barcode or SKU, quantity, unit cost"),
        ("OLD-1 1", "no active item has the barcode or SKU OLD-1"),
        ("\n\n", "list at least one item"),
    ],
)
def test_a_bad_delivery_books_nothing(
    store: Store, catalog: Runtime, supervisor: AdminBrowser, lines: str, message: str
) -> None:
    before = _stock(catalog)
    answer = supervisor.post("/admin/stock/deliveries", {"vendor": "X", "lines": lines})
    assert answer.status_code == 422
    assert message in html.unescape(field_errors(answer.text)["lines"])
    assert _stock(catalog) == before


def test_a_cycle_count_by_scan_previews_and_posts_its_variance(
    store: Store, catalog: Runtime, supervisor: AdminBrowser, manager: AdminBrowser
) -> None:
    assert (
        supervisor.post("/admin/stock/deliveries", {"lines": "MUG-1 5\nTEE-M-RED 3"}).status_code
        == 303
    )
    started = supervisor.post("/admin/stock/counts", {"scope": "cycle"})
    assert started.status_code == 303
    count = started.headers["Location"].rsplit("/", 1)[1]
    for _ in range(3):
        assert (
            supervisor.post(f"/admin/stock/counts/{count}/scan", {"code": "96385074"}).status_code
            == 303
        )
    scanned = supervisor.post(
        f"/admin/stock/counts/{count}/scan", {"code": "TEE-M-RED", "qty": "4"}
    )
    assert "TEE-M-RED: 4 counted" in supervisor.get(scanned.headers["Location"]).text
    page = supervisor.get(f"/admin/stock/counts/{count}").text
    # Mug: 5 expected, 3 counted, −2 at cost 3.00; tee: 3 expected, 4 counted, +1 at 4.50.
    assert 'data-testid="preview-value">-1.50<' in page
    assert "A manager posts the count." in page
    # Correct the mug to 4 by hand.
    mug = uid(catalog, "MUG-1")
    assert (
        supervisor.post(
            f"/admin/stock/counts/{count}/lines", {"variant": mug, "counted": "4"}
        ).status_code
        == 303
    )
    # Posting is a manager's.
    assert supervisor.post(f"/admin/stock/counts/{count}/post").status_code == 403
    posted = manager.post(f"/admin/stock/counts/{count}/post")
    assert posted.status_code == 303
    assert _on_hand(catalog, "MUG-1") == 4 and _on_hand(catalog, "TEE-M-RED") == 4
    event = catalog.db.one("SELECT * FROM event WHERE type = 'stock.counted'")
    assert (event["origin"], event["actor"]) == ("s01-ap", store.staff["manager"])
    report = manager.get(f"/admin/stock/counts/{count}").text
    assert 'data-testid="variance-value">1.50<' in report  # −3.00 + 4.50
    # The same figures as the API's variance report.
    token = store.login("manager")
    api = store.client.get(f"/api/v1/stock/counts/{count}", headers=store.bearer(token)).get_json()
    assert api["total_difference_value"] == 150
    # A posted count takes no more scans and cannot be posted again.
    before = _stock(catalog)
    again = manager.post(f"/admin/stock/counts/{count}/scan", {"code": "96385074"})
    assert again.status_code == 409
    assert manager.post(f"/admin/stock/counts/{count}/post").status_code == 409
    assert _stock(catalog) == before


def test_a_blind_full_count_hides_expected_and_books_uncounted_items_as_zero(
    store: Store, catalog: Runtime, supervisor: AdminBrowser, manager: AdminBrowser
) -> None:
    supervisor.post("/admin/stock/deliveries", {"lines": "MUG-1 5\nTEE-M-RED 3\nTEE-L-RED 2"})
    count = stock_counts.start(catalog, scope="full", blind=True, staff=store.staff["supervisor"])
    supervisor.post(f"/admin/stock/counts/{count.id}/scan", {"code": "MUG-1", "qty": "5"})
    page = supervisor.get(f"/admin/stock/counts/{count.id}").text
    assert "<th>Expected</th>" not in page and "preview-value" not in page
    assert "Blind count" in page
    assert manager.post(f"/admin/stock/counts/{count.id}/post").status_code == 303
    assert _on_hand(catalog, "MUG-1") == 5
    assert _on_hand(catalog, "TEE-M-RED") == 0 and _on_hand(catalog, "TEE-L-RED") == 0
    report = manager.get(f"/admin/stock/counts/{count.id}").text
    assert 'data-testid="variance-TEE-L-RED"' in report


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"code": "NOPE-1"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "MUG-1", "qty": "0"}, "qty"),
        ({"code": "MUG-1", "qty": "lots"}, "qty"),
    ],
)
def test_a_bad_scan_changes_nothing(
    store: Store, catalog: Runtime, supervisor: AdminBrowser, form: dict[str, str], field: str
) -> None:
    count = stock_counts.start(catalog, scope="cycle", blind=False, staff=store.staff["supervisor"])
    before = _stock(catalog)
    answer = supervisor.post(f"/admin/stock/counts/{count.id}/scan", form)
    assert answer.status_code == 422
    assert field in field_errors(answer.text)
    assert _stock(catalog) == before


def test_an_empty_count_cannot_be_posted_and_a_discarded_one_books_nothing(
    store: Store, catalog: Runtime, manager: AdminBrowser
) -> None:
    count = stock_counts.start(catalog, scope="cycle", blind=False, staff=store.staff["manager"])
    before = _stock(catalog)
    empty = manager.post(f"/admin/stock/counts/{count.id}/post")
    assert empty.status_code == 422 and "nothing was counted yet" in empty.text
    assert _stock(catalog) == before
    manager.post(f"/admin/stock/counts/{count.id}/scan", {"code": "MUG-1"})
    assert manager.post(f"/admin/stock/counts/{count.id}/discard").status_code == 303
    assert catalog.db.scalar("SELECT count(*) FROM event WHERE type = 'stock.counted'") == 0
    assert manager.get("/admin/stock/counts/nope").status_code == 404


def test_an_adjustment_is_a_stock_adjusted_event_and_listed(
    store: Store, catalog: Runtime, supervisor: AdminBrowser
) -> None:
    answer = supervisor.post(
        "/admin/stock/adjustments",
        {"code": "96385074", "qty": "-2", "reason": "damaged", "note": "dropped"},
    )
    assert answer.status_code == 303
    assert _on_hand(catalog, "MUG-1") == -2
    page = supervisor.get("/admin/stock").text
    assert "Stock of 96385074 adjusted by -2" in page
    assert 'data-testid="adjustments"' in page and "damaged" in page
    # Going below zero is flagged for review, as for a register's adjustment.
    assert catalog.db.scalar("SELECT code FROM review_flag") == "negative_stock"
    before = _stock(catalog)
    for form in (
        {"code": "96385074", "qty": "0", "reason": "damaged"},
        {"code": "96385074", "qty": "1", "reason": "made-up"},
        {"code": "NOPE", "qty": "1", "reason": "damaged"},
        {"code": "", "qty": "1", "reason": "damaged"},
    ):
        refused = supervisor.post("/admin/stock/adjustments", form)
        assert refused.status_code == 422, form
        if not form["code"] or form["code"] == "NOPE":
            assert "code" in field_errors(refused.text), form
    assert _stock(catalog) == before


def test_an_open_full_count_lists_what_was_counted_and_the_first_of_the_rest(
    store: Store, catalog: Runtime, supervisor: AdminBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stock_pages, "UNCOUNTED_SHOWN", 1)
    supervisor.post("/admin/stock/deliveries", {"lines": "MUG-1 5\nTEE-M-RED 3\nTEE-L-RED 2"})
    count = stock_counts.start(catalog, scope="full", blind=False, staff=store.staff["supervisor"])
    supervisor.post(f"/admin/stock/counts/{count.id}/scan", {"code": "TEE-M-RED", "qty": "3"})
    page = supervisor.get(f"/admin/stock/counts/{count.id}").text
    assert 'data-testid="line-TEE-M-RED"' in page
    assert page.count('data-testid="line-') == 2
    assert 'data-testid="uncounted-hidden">and 1 more items' in page
    # The value covers every item: MUG-1 −5 × 3.00 and TEE-L-RED −2 × 4.50 = −24.00.
    assert 'data-testid="preview-value">-24.00<' in page
