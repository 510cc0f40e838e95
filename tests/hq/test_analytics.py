"""The Analytics page and its CSVs over months of trading that came in through ingest: the
figures equal sale_fact and the shifts worked out afresh; filters; a store manager sees only
their stores; bad filters are refused in the one shape and shown by their fields."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.hq.analytics_data import days, load, trade
from tests.hq.conftest import Hq

STORES = {"s01": "Europe/Dublin", "s02": "America/New_York"}
FIRST, LAST = date(2026, 10, 1), date(2026, 11, 30)
RANGE = "from=2026-10-01&to=2026-11-30"
# The hq fixture names them.
NAMES = {"s01": "Dublin (s01)", "s02": "Cork (s02)"}


@pytest.fixture
def traded(hq: Hq) -> Hq:
    span = days(date(2025, 10, 20), date(2025, 11, 10)) + days(FIRST, LAST)
    load(hq.dsn, STORES, trade(STORES, span, seed=11))
    return hq


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def facts(hq: Hq, where: str = "", params: Any = ()) -> dict[str, tuple[Decimal, int]]:
    """Per store: units and net sales from sale_fact over the range (store-local days)."""
    rows = hq.query(
        "SELECT f.store, sum(f.qty::numeric / f.qty_scale), sum(f.net) FROM sale_fact f"
        " JOIN store_directory d ON d.store = f.store"
        " LEFT JOIN store_variant sv ON sv.store = f.store AND sv.uid = f.variant"
        " LEFT JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)"
        " LEFT JOIN catalog_product p ON p.id = cv.product_id"
        " LEFT JOIN catalog_category c ON c.id = p.category_id"
        " WHERE (f.at AT TIME ZONE (d.settings ->> 'timezone'))::date"
        " BETWEEN '2026-10-01' AND '2026-11-30'" + where + " GROUP BY 1",
        params,
    )
    return {r[0]: (Decimal(r[1]), int(r[2])) for r in rows}


def test_figures_by_store_category_and_period_equal_the_facts(traded: Hq) -> None:
    hq = traded
    admin = hq.browser().sign_in("admin")
    page = admin.get(f"/hq/analytics?{RANGE}")
    assert page.status_code == 200, page.text
    assert "Dublin (s01, Europe/Dublin)" in page.text
    assert "America/New_York" in page.text
    expected = facts(hq)
    by_store = {
        r["store"]: r for r in rows_of(admin.get(f"/hq/analytics.csv?table=stores&{RANGE}").text)
    }
    assert {k: (Decimal(v["units"]), int(v["net_sales"])) for k, v in by_store.items()} == {
        NAMES[s]: expected[s] for s in STORES
    }
    # Periods: the months add up to the stores, and every day of a month is a row by day.
    months = rows_of(admin.get(f"/hq/analytics.csv?table=trend&grain=month&{RANGE}").text)
    assert [m["period"] for m in months] == ["2026-10", "2026-11"]
    assert sum(int(m["net_sales"]) for m in months) == sum(n for _, n in expected.values())
    daily = rows_of(admin.get(f"/hq/analytics.csv?table=trend&grain=day&{RANGE}").text)
    assert len(daily) == 61
    weeks = rows_of(admin.get(f"/hq/analytics.csv?table=trend&grain=week&{RANGE}").text)
    assert weeks[0]["period"] == "2026-W40"
    assert sum(int(w["net_sales"]) for w in weeks) == sum(n for _, n in expected.values())
    # Sales counted: completed sales less post-voided ones.
    sales = hq.query(
        "SELECT count(*) FILTER (WHERE type = 'sale.completed')"
        " - count(*) FILTER (WHERE type = 'sale.voided') FROM event e"
        " JOIN store_directory d ON d.store = e.store"
        " WHERE (e.at AT TIME ZONE (d.settings ->> 'timezone'))::date"
        " BETWEEN '2026-10-01' AND '2026-11-30'"
    )[0][0]
    assert sum(int(m["sales"]) for m in months) == sales

    # A category narrows every table to its items.
    deli = hq.query("SELECT id FROM catalog_category WHERE name = 'Deli'")[0][0]
    narrowed = rows_of(admin.get(f"/hq/analytics.csv?table=stores&category={deli}&{RANGE}").text)
    deli_facts = facts(hq, " AND c.name = %s", ("Deli",))
    assert {r["store"]: int(r["net_sales"]) for r in narrowed} == {
        NAMES[s]: deli_facts[s][1] for s in STORES
    }
    categories = rows_of(admin.get(f"/hq/analytics.csv?table=categories&{RANGE}").text)
    assert {c["category"] for c in categories} == {"Apparel", "Home", "Deli"}
    # Margin: only items with a cost; gift wrap has none, so Home shows uncosted sales.
    home = next(c for c in categories if c["category"] == "Home")
    assert int(home["net_without_cost"]) > 0
    assert int(home["margin"]) == int(home["net_sales"]) - int(home["net_without_cost"]) - int(
        home["cost"]
    )


def test_movers_seasons_returns_and_cash(traded: Hq) -> None:
    admin = traded.browser().sign_in("admin")
    top = rows_of(admin.get(f"/hq/analytics.csv?table=top&{RANGE}").text)
    assert top[0]["sku"] == "TEE-M"
    units = [Decimal(r["units"]) for r in top]
    assert units == sorted(units, reverse=True)
    slow = rows_of(admin.get(f"/hq/analytics.csv?table=slow&{RANGE}").text)
    assert slow[0]["sku"] == "OLD-LAMP"
    assert slow[0]["units"] == "0"

    # The same ISO weeks a year earlier: history from 20 Oct to 10 Nov 2025 only.
    season = {
        r["iso_week"]: r
        for r in rows_of(admin.get(f"/hq/analytics.csv?table=seasonal&{RANGE}").text)
    }
    assert int(season["2026-W44"]["same_week_last_year"]) > 0
    assert season["2026-W48"]["same_week_last_year"] == "0"
    last_year = traded.query(
        "SELECT sum(sold_net - returned_net) FROM sales_store_day"
        " WHERE extract(isoyear FROM day) = 2025 AND extract(week FROM day) = 44"
    )[0][0]
    assert int(season["2026-W44"]["same_week_last_year"]) == last_year

    returns = {
        r["reason"]: r for r in rows_of(admin.get(f"/hq/analytics.csv?table=returns&{RANGE}").text)
    }
    refunds = traded.query(
        "SELECT line ->> 'reason', sum((line ->> 'refund')::bigint - (line ->> 'tax')::bigint)"
        " FROM event e JOIN store_directory d ON d.store = e.store,"
        " jsonb_array_elements(e.envelope #> '{body,lines}') AS line"
        " WHERE e.type = 'return.completed'"
        " AND (e.at AT TIME ZONE (d.settings ->> 'timezone'))::date"
        " BETWEEN '2026-10-01' AND '2026-11-30' GROUP BY 1"
    )
    assert {k: int(v["refunded_net"]) for k, v in returns.items()} == dict(refunds)

    # Cash: Ben is short more than anyone; the stores' net is the cashiers' net.
    cashiers = rows_of(admin.get(f"/hq/analytics.csv?table=cash_cashiers&{RANGE}").text)
    worst = min(cashiers, key=lambda r: int(r["short"]))
    assert worst["cashier"] == "ben"
    assert worst["name"] == "Ben"
    stores = rows_of(admin.get(f"/hq/analytics.csv?table=cash_stores&{RANGE}").text)
    assert sum(int(r["net"]) for r in stores) == sum(int(r["net"]) for r in cashiers)
    assert sum(int(r["shifts"]) for r in stores) == 2 * 61

    # Overrides by staff member: each post-void's approval, asked for by its cashier and
    # approved by the manager.
    voids = traded.query(
        "SELECT count(*) FROM event e JOIN store_directory d ON d.store = e.store"
        " WHERE e.type = 'sale.voided'"
        " AND (e.at AT TIME ZONE (d.settings ->> 'timezone'))::date"
        " BETWEEN '2026-10-01' AND '2026-11-30'"
    )[0][0]
    assert voids > 0
    overrides = rows_of(admin.get(f"/hq/analytics.csv?table=overrides&{RANGE}").text)
    approved = [r for r in overrides if r["role"] == "approved"]
    asked = [r for r in overrides if r["role"] == "asked"]
    assert {(r["staff"], r["action"]) for r in approved} == {("manager-1", "post_void")}
    assert sum(int(r["count"]) for r in approved) == voids
    assert sum(int(r["count"]) for r in asked) == voids
    assert {r["staff"] for r in asked} <= {"anna", "ben", "cara"}

    page = admin.get(f"/hq/analytics?{RANGE}")
    for caption in (
        "Sales by day",
        "Net sales by ISO week",
        "Items that sold the most units",
        "Returned lines by reason code",
        "Cash over/short by cashier",
        "Overrides asked for and approved",
    ):
        assert caption in page.text


def test_a_store_manager_sees_only_their_stores(traded: Hq) -> None:
    manager = traded.browser().sign_in("manager")
    page = manager.get(f"/hq/analytics?{RANGE}")
    assert page.status_code == 200
    assert 'data-key="s01"' in page.text
    assert 'data-key="s02"' not in page.text
    stores = rows_of(manager.get(f"/hq/analytics.csv?table=stores&{RANGE}").text)
    assert [r["store"] for r in stores] == ["Dublin (s01)"]
    cash = rows_of(manager.get(f"/hq/analytics.csv?table=cash_cashiers&{RANGE}").text)
    assert {r["store"] for r in cash} == {"s01"}
    for path in ("/hq/analytics?store=s02", "/hq/analytics.csv?table=trend&store=s02"):
        refused = manager.get(path, headers={"Accept": "application/json"})
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "store_out_of_scope"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-01", "from", "a date like 2026-03-31"),
        ("from=2026-12-01&to=2026-11-01", "from", "must not be after"),
        ("from=2020-01-01&to=2026-01-01", "from", "at most 1100 days"),
        ("grain=year", "grain", "day, week or month"),
        ("category=abc", "category", "choose one"),
        ("vendor=0", "vendor", "choose one"),
    ],
)
def test_bad_filters_are_refused_by_field(hq: Hq, query: str, field: str, message: str) -> None:
    admin = hq.browser().sign_in("admin")
    page = admin.get(f"/hq/analytics?{query}")
    assert page.status_code == 422
    shown = re.search(rf'id="filters-{field}-error"[^>]*>([^<]+)<', page.text)
    assert shown and message in shown.group(1), page.text
    assert 'aria-invalid="true"' in page.text
    for path in (f"/hq/analytics?{query}", f"/hq/analytics.csv?table=trend&{query}"):
        answer = admin.get(path, headers={"Accept": "application/json"})
        assert answer.status_code == 422
        body = answer.get_json()
        assert body["error"] == "invalid_filter"
        assert message in body["details"]["fields"][field]


def test_an_unknown_table_is_refused(hq: Hq) -> None:
    admin = hq.browser().sign_in("admin")
    answer = admin.get("/hq/analytics.csv?table=secrets", headers={"Accept": "application/json"})
    assert answer.status_code == 422
    assert answer.get_json()["details"] == {"field": "table"}


def test_csv_cells_are_safe_in_a_spreadsheet(traded: Hq) -> None:
    with psycopg.connect(traded.dsn, autocommit=True) as conn:
        conn.execute("UPDATE catalog_category SET name = '=cmd|calc' WHERE name = 'Deli'")
    admin = traded.browser().sign_in("admin")
    text = admin.get(f"/hq/analytics.csv?table=categories&{RANGE}").text
    assert "'=cmd|calc" in text
    assert "\n=cmd" not in text


def test_the_vendored_chart_library_is_the_locked_package() -> None:
    """webui/static/chart.umd.min.js is byte for byte the dist file of the Chart.js version
    pwa/package.json pins and the lock file resolves (decisions.md §59)."""
    root = Path(__file__).resolve().parents[2]
    pinned = json.loads((root / "pwa/package.json").read_text())["dependencies"]["chart.js"]
    locked = json.loads((root / "pwa/package-lock.json").read_text())["packages"]
    assert locked["node_modules/chart.js"]["version"] == pinned
    vendored = (root / "webui/static/chart.umd.min.js").read_bytes()
    assert f"Chart.js v{pinned}\n".encode() in vendored[:100]
    installed = root / "pwa/node_modules/chart.js/dist/chart.umd.min.js"
    assert installed.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    assert installed.read_bytes() == vendored
