"""The Reorder page over sales and stock that arrived as real ingest batches: suggestions by
vendor and by category with totals and the why, transfers first, CSV, a draft purchase order per
vendor (not suggested again once drafted), its quantities edited (bad ones refused with the
field named, nothing written), marked sent and received, its CSV and printable page; bad
filters refused in the one error shape."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from cloud import reorder
from cloud.catalog import import_csv
from tests.cloud.test_low_stock import Feed
from tests.hq.conftest import Hq, HqBrowser

Conn = psycopg.Connection[Any]

AS_OF = date(2026, 12, 7)  # a Monday: the trailing weeks are ISO 2026-W42 … W49
CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\n"
    "TEE-1,Tee,,,Apparel,Weaver,6.00,19.99,standard,,,1,1\r\n"
    "CAP-1,Cap,,,Apparel,Weaver,4.00,12.00,standard,,,6,1\r\n"
    "MUG-1,Mug,,,Home,Potter,2.00,8.00,standard,,,1,1\r\n"
)


def _ms(day: date, hour: int = 10) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def seed(pg: Conn) -> tuple[Feed, Feed]:
    """8 weeks of trading from Monday 2026-10-12: s01 sells 14 tees, 2 caps and 3 mugs a
    week; s02 holds 200 tees and sells 1 a week."""
    assert import_csv(pg, CATALOG.encode()).applied
    reorder.set_vendor_terms(pg, "Weaver", lead_time_days=10, review_days=7)
    reorder.set_min_order(pg, "CAP-1", 12)
    s01 = Feed(pg, "s01", {"tee": "TEE-1", "cap": "CAP-1", "mug": "MUG-1"})
    s02 = Feed(pg, "s02", {"tee": "TEE-1"})
    start = date(2026, 10, 12)
    s01.till.wall.ms = _ms(start, 8)
    s02.till.wall.ms = _ms(start, 8)
    s01.send(s01.receive("tee", 130), s01.receive("cap", 20), s01.receive("mug", 30))
    s02.send(s02.receive("tee", 200))
    for week in range(8):
        wednesday = start + timedelta(weeks=week, days=2)
        s01.till.wall.ms = _ms(wednesday)
        s02.till.wall.ms = _ms(wednesday)
        s01.send(s01.sell("tee", 14), s01.sell("cap", 2), s01.sell("mug", 3))
        s02.send(s02.sell("tee", 1))
    return s01, s02


def rows(html: str) -> dict[str, str]:
    """Each suggestion row's text by store-SKU, whitespace squeezed."""
    found = re.findall(r'<tr data-line="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for key, body in found}


def order_of(html: str, key: str) -> int:
    match = re.search(rf'<tr data-line="{re.escape(key)}".*?data-order="(\d+)"', html, re.S)
    assert match, key
    return int(match.group(1))


@pytest.fixture
def trading(hq: Hq, pg: Conn) -> tuple[Feed, Feed]:
    return seed(pg)


@pytest.fixture
def buyer(hq: Hq, trading: tuple[Feed, Feed]) -> HqBrowser:
    return hq.browser().sign_in("buyer")


def test_the_report_by_vendor_and_category_with_transfers_first(buyer: HqBrowser, pg: Conn) -> None:
    expected = reorder.suggest(pg, AS_OF)
    by_key = {f"{s.store}-{s.sku}": s for s in expected.suggestions}
    # The engine on the same data: s02's spare tees go to s01 first, so s01 orders no tees;
    # caps and mugs are ordered.
    [move] = expected.transfers
    assert (move.sku, move.from_store, move.to_store) == ("TEE-1", "s02", "s01")
    assert by_key["s01-TEE-1"].order_qty == 0 and by_key["s01-TEE-1"].transfer == move.qty
    cap, mug = by_key["s01-CAP-1"], by_key["s01-MUG-1"]
    assert cap.order_qty >= 12 and cap.order_qty % 6 == 0 and mug.order_qty > 0

    page = buyer.get(f"/hq/reorder?as_of={AS_OF}")
    assert page.status_code == 200, page.text
    html = page.text
    # Transfers come before the orders, with the button that asks for the shipment.
    assert html.index('id="transfers"') < html.index('data-group="Weaver"')
    assert 'data-transfer="s02-s01-TEE-1"' in html
    assert "Request transfer s02 → s01 (1 line(s))" in html
    assert f'name="lines" value="TEE-1 {move.qty}' in html
    # By vendor (the default, lines to order only): Potter and Weaver, each with its total.
    assert set(re.findall(r'data-group="([^"]*)"', html)) == {"Potter", "Weaver"}
    shown = rows(html)
    assert set(shown) == {"s01-CAP-1", "s01-MUG-1"}
    assert order_of(html, "s01-CAP-1") == cap.order_qty
    assert order_of(html, "s01-MUG-1") == mug.order_qty
    assert re.search(rf'data-total="{cap.order_value}"', html)
    assert f"{cap.order_value / 100:.2f} EUR" in html
    why = re.search(r'<tr data-why="s01-CAP-1">(.*?)</tr>', html, re.S)
    assert why
    assert "× 17 d (10 d lead + 7 d review)" in why.group(
        1
    ) and "position 4 (on hand 4)" in why.group(1)
    assert f"→ order {cap.order_qty} (min order 12, " in why.group(
        1
    ) and "pack(s) of 6)" in why.group(1)
    # Every line, and by category: Apparel holds the tees (a transfer, no order) and caps.
    everything = buyer.get(f"/hq/reorder?as_of={AS_OF}&show=all&group=category").text
    assert set(re.findall(r'data-group="([^"]*)"', everything)) == {"Apparel", "Home"}
    assert {"s01-TEE-1", "s02-TEE-1", "s01-CAP-1", "s01-MUG-1"} <= set(rows(everything))
    assert "+" + str(move.qty) in rows(everything)["s01-TEE-1"]
    # A vendor filter and a store filter.
    potter = buyer.get(f"/hq/reorder?as_of={AS_OF}&vendor=Potter").text
    assert set(rows(potter)) == {"s01-MUG-1"}
    s02 = buyer.get(f"/hq/reorder?as_of={AS_OF}&store=s02&show=all").text
    assert set(rows(s02)) == {"s02-TEE-1"} and 'data-store="s01"' not in s02
    # Freshness of each store's figures.
    assert re.search(r'<li data-store="s01">.*?(live|stale)', html)


def test_csv_of_the_report_and_its_transfers(buyer: HqBrowser, pg: Conn) -> None:
    expected = reorder.suggest(pg, AS_OF)
    answer = buyer.get(f"/hq/reorder.csv?as_of={AS_OF}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["store"], r["sku"], int(r["order_qty"]), int(r["on_order"])) for r in lines] == [
        (s.store, s.sku, s.order_qty, s.on_order) for s in expected.suggestions
    ]
    moved = list(
        csv.DictReader(io.StringIO(buyer.get(f"/hq/reorder.csv?as_of={AS_OF}&transfers=1").text))
    )
    assert [(r["sku"], r["from_store"], r["to_store"], int(r["qty"])) for r in moved] == [
        (t.sku, t.from_store, t.to_store, t.qty) for t in expected.transfers
    ]


def test_a_draft_order_edited_sent_and_received(buyer: HqBrowser, hq: Hq, pg: Conn) -> None:
    before = reorder.suggest(pg, AS_OF)
    cap = next(s for s in before.suggestions if s.sku == "CAP-1")
    drafted = buyer.post(f"/hq/reorder/orders?as_of={AS_OF}", {"vendor": "Weaver"})
    assert drafted.status_code == 303, drafted.text
    order_id = int(drafted.headers["Location"].rsplit("/", 1)[1])
    assert hq.query(
        "SELECT store, sku, qty, suggested, pack_size, unit_cost FROM purchase_order_line"
        " WHERE order_id = %s",
        (order_id,),
    ) == [("s01", "CAP-1", cap.order_qty, cap.order_qty, 6, 400)]
    shown = buyer.get(f"/hq/reorder/orders/{order_id}").text
    assert "Draft purchase order" in shown and 'data-state="draft"' in shown
    # Drafted is on order: the report does not suggest the caps again.
    after = buyer.get(f"/hq/reorder?as_of={AS_OF}&show=all").text
    assert order_of(after, "s01-CAP-1") == 0
    assert "s01-CAP-1" not in rows(buyer.get(f"/hq/reorder?as_of={AS_OF}").text)
    # Nothing left to order from Weaver: a second draft is refused.
    again = buyer.post(
        f"/hq/reorder/orders?as_of={AS_OF}",
        {"vendor": "Weaver"},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 422 and again.get_json()["error"] == "nothing_to_order"

    # Not whole packs: refused with the field named, nothing written.
    field = "qty-s01-CAP-1"
    bad = buyer.post(f"/hq/reorder/orders/{order_id}", {field: "13"})
    assert bad.status_code == 422
    assert "packs of 6" in bad.text and 'aria-invalid="true"' in bad.text
    assert hq.query("SELECT qty FROM purchase_order_line WHERE order_id = %s", (order_id,)) == [
        (cap.order_qty,)
    ]
    for text in ("-6", "six", "99999999"):
        answer = buyer.post(
            f"/hq/reorder/orders/{order_id}", {field: text}, headers={"Accept": "application/json"}
        )
        assert answer.status_code == 422, text
        assert set(answer.get_json()) == {"error", "message", "details"}
        assert answer.get_json()["details"] == {"field": field}
    ok = buyer.post(f"/hq/reorder/orders/{order_id}", {field: "24"})
    assert ok.status_code == 303
    assert hq.query("SELECT qty FROM purchase_order_line WHERE order_id = %s", (order_id,)) == [
        (24,)
    ]
    # CSV and the printable page.
    sheet = list(csv.DictReader(io.StringIO(buyer.get(f"/hq/reorder/orders/{order_id}.csv").text)))
    assert [(r["sku"], r["qty"], r["packs"], r["unit_cost"], r["value"]) for r in sheet] == [
        ("CAP-1", "24", "4", "4.00", "96.00")
    ]
    printed = buyer.get(f"/hq/reorder/orders/{order_id}/print").text
    assert "Purchase order" in printed and "96.00 EUR" in printed and "4 × 6" in printed

    # Sent: no more edits; received: no longer on order.
    assert (
        buyer.post(f"/hq/reorder/orders/{order_id}/state", {"state": "received"}).status_code == 422
    )
    assert buyer.post(f"/hq/reorder/orders/{order_id}/state", {"state": "sent"}).status_code == 303
    late = buyer.post(
        f"/hq/reorder/orders/{order_id}", {field: "12"}, headers={"Accept": "application/json"}
    )
    assert late.status_code == 422 and late.get_json()["error"] == "order_not_draft"
    assert (
        reorder.suggest(pg, AS_OF).suggestions != ()
        and next(s for s in reorder.suggest(pg, AS_OF).suggestions if s.sku == "CAP-1").on_order
        == 24
    )
    assert (
        buyer.post(f"/hq/reorder/orders/{order_id}/state", {"state": "received"}).status_code == 303
    )
    assert next(s for s in reorder.suggest(pg, AS_OF).suggestions if s.sku == "CAP-1").on_order == 0
    listing = buyer.get("/hq/reorder/orders").text
    assert f'data-order="{order_id}"' in listing and "received" in listing
    assert hq.query(
        "SELECT action FROM hq_audit WHERE target = %s ORDER BY id", (str(order_id),)
    ) == [
        ("purchase_order.draft",),
        ("purchase_order.edit",),
        ("purchase_order.sent",),
        ("purchase_order.received",),
    ]


@pytest.mark.parametrize(
    "query",
    ["group=store", "show=none", "as_of=2026-13-01", "as_of=yesterday", "vendor=" + "x" * 101],
)
def test_bad_filters_are_refused_in_the_one_shape(buyer: HqBrowser, query: str) -> None:
    answer = buyer.get(f"/hq/reorder?{query}", headers={"Accept": "application/json"})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_filter"
    assert set(answer.get_json()) == {"error", "message", "details"}
    # A browser gets the error page, saying what is wrong.
    page = buyer.get(f"/hq/reorder?{query}")
    assert page.status_code == 422 and answer.get_json()["message"] in page.text


def test_an_unknown_order_is_404(buyer: HqBrowser) -> None:
    answer = buyer.get("/hq/reorder/orders/999999", headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.get_json()["error"] == "unknown_order"
    moved = buyer.post(
        "/hq/reorder/orders/999999/state", {"state": "sent"}, headers={"Accept": "application/json"}
    )
    assert moved.status_code == 404


def test_the_dashboard_shows_low_stock_by_store(
    buyer: HqBrowser, hq: Hq, trading: tuple[Feed, Feed]
) -> None:
    """After the seed, s01's tees are low (18 on hand, 2 a day against Weaver's 10 days):
    raised by ingest, shown per store, linking buyers to the report and managers to Stock."""
    raised = hq.query(
        "SELECT store, details ->> 'sku' FROM alert WHERE kind = 'low_stock'"
        " AND resolved_at IS NULL ORDER BY 1, 2"
    )
    assert raised == [("s01", "TEE-1")]
    html = buyer.get("/hq/").text
    panel = re.search(r'<div class="low-stock" data-store="s01">(.*?)</div>\s*</div>', html, re.S)
    assert panel, html
    text = " ".join(re.sub(r"<[^>]+>", " ", panel.group(1)).split())
    assert "TEE-1 Tee Weaver 18" in text and "9 d cover (lead 10 d)" in text
    assert 'href="/hq/reorder?store=s01&amp;show=low"' in panel.group(1)
    assert 'data-store="s02"' not in html.split('id="low-stock"')[1].split("</section>")[0]
    manager = hq.browser().sign_in("manager").get("/hq/").text
    assert 'href="/hq/stock?store=s01&amp;below=1"' in manager and "/hq/reorder" not in manager
    # Stock arrives: the alert is resolved and the panel says nothing is low.
    s01, _ = trading
    s01.till.wall.ms = _ms(date(2026, 12, 4))
    s01.send(s01.receive("tee", 100))
    assert "No store is low on anything." in buyer.get("/hq/").text


def test_an_order_state_that_is_not_one_is_refused(buyer: HqBrowser, hq: Hq) -> None:
    drafted = buyer.post(f"/hq/reorder/orders?as_of={AS_OF}", {"vendor": "Potter"})
    assert drafted.status_code == 303
    order_id = int(drafted.headers["Location"].rsplit("/", 1)[1])
    for state in ("bogus", "draft", ""):
        answer = buyer.post(
            f"/hq/reorder/orders/{order_id}/state",
            {"state": state},
            headers={"Accept": "application/json"},
        )
        assert answer.status_code == 422, state
        assert answer.get_json()["error"] == "invalid_state"
    # A vendor the report has nothing for, or none at all.
    for vendor in ("Nobody Ltd", ""):
        answer = buyer.post(
            f"/hq/reorder/orders?as_of={AS_OF}",
            {"vendor": vendor},
            headers={"Accept": "application/json"},
        )
        assert answer.status_code == 422
        assert answer.get_json()["error"] in ("nothing_to_order", "invalid_vendor")
    assert hq.query("SELECT id, state FROM purchase_order") == [(order_id, "draft")]
