"""The reorder engine (cloud/reorder.py): hand-computed cases, then its query layer against
the real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cloud import reorder
from cloud.cli import cloud
from cloud.reorder import Item, Policy, Scope, is_low, plan, round_order, same_week_last_year

# A Monday: the plan's current week is ISO 2026-W23, the trailing weeks W22, W21, …
AS_OF = date(2026, 6, 1)
LONG_AGO = date(2024, 1, 1)
# Plain settings for hand computation: no surge check, no safety floor beyond the period.
PLAIN = Policy(
    service_level=0.95, trailing_weeks=4, min_safety_days=0, surge_sigmas=0, stockout_cost=None
)
Z95 = 1.6448536269514722


def item(**kw: Any) -> Item:
    """An item with a history since 2024 unless told otherwise."""
    kw.setdefault("store", "s01")
    kw.setdefault("sku", "TEE-1")
    kw.setdefault("on_hand", 0)
    kw.setdefault("since", LONG_AGO)
    return Item(**kw)


def weeks(*latest_first: int, year: int = 2026, last: int = 22) -> dict[tuple[int, int], int]:
    """Weekly sales, the latest week first, ending at ISO week `last`."""
    return {(year, last - i): q for i, q in enumerate(latest_first)}


def test_z_of_the_service_level() -> None:
    assert PLAIN.z == pytest.approx(Z95)
    with pytest.raises(ValueError, match="service_level"):
        Policy(service_level=1.0)
    with pytest.raises(ValueError, match="trailing_weeks"):
        Policy(trailing_weeks=0)


def test_velocity_weights_recent_weeks_more() -> None:
    # Weights 4, 3, 2, 1 (latest first): (4·14 + 3·7 + 2·7 + 1·0) / 10 = 9.1 a week = 1.3 a day.
    s = reorder.assess(item(weekly=weeks(14, 7, 7, 0)), AS_OF, PLAIN)
    assert s.weeks_of_history == 4
    assert s.per_day == pytest.approx(1.3)
    assert s.season == 1.0  # no weeks last year: no seasonal factor
    # A week before the item arrived is not history: only W22 and W21 count (4·14 + 3·7) / 7.
    late = reorder.assess(item(weekly=weeks(14, 7, 7, 0), since=date(2026, 5, 18)), AS_OF, PLAIN)
    assert late.weeks_of_history == 2
    assert late.per_day == pytest.approx(11 / 7)


def test_the_current_week_is_not_history() -> None:
    # W23 (this week) sold 100 by Wednesday; with the surge check off it changes nothing.
    sales = weeks(7, 7, 7, 7) | {(2026, 23): 100}
    s = reorder.assess(item(weekly=sales), AS_OF + timedelta(days=2), PLAIN)
    assert s.per_day == pytest.approx(1.0)


def test_a_surge_this_week_is_trusted_at_once() -> None:
    # Forecast 1 a day, σ_week = √7 (Poisson floor). Two days in, 10 sold against an
    # expected 2 + 2·√7·√(2/7) = 4.83: the week's own rate, 5 a day, is used.
    surge = replace(PLAIN, surge_sigmas=2)
    sales = weeks(7, 7, 7, 7) | {(2026, 23): 10}
    s = reorder.assess(item(weekly=sales), AS_OF + timedelta(days=2), surge)
    assert s.per_day == pytest.approx(5.0)
    # 4 sold is within the noise: the forecast stands.
    calm = reorder.assess(
        item(weekly=weeks(7, 7, 7, 7) | {(2026, 23): 4}), AS_OF + timedelta(days=2), surge
    )
    assert calm.per_day == pytest.approx(1.0)


def test_seasonality_from_the_same_weeks_last_year() -> None:
    # This year 7 a week. Last year: 10 a week in the trailing weeks' twins (2025-W19…W22),
    # 20 a week in the two weeks ahead (lead 7 + review 7 = 14 days: 2025-W23, W24).
    sales = weeks(7, 7, 7, 7) | weeks(10, 10, 10, 10, year=2025) | {(2025, 23): 20, (2025, 24): 20}
    trusting = replace(PLAIN, season_shrink_units=0)
    assert reorder.assess(item(weekly=sales), AS_OF, trusting).season == pytest.approx(2.0)
    # Shrunk: 40 units last year against 30 for half trust, 1 + (2 − 1) · 40/70.
    s = reorder.assess(item(weekly=sales), AS_OF, PLAIN)
    assert s.season == pytest.approx(1 + 40 / 70)
    assert s.per_day == pytest.approx(1 + 40 / 70)
    # Clamped at 3 however steep last year was.
    steep = sales | {(2025, 23): 500, (2025, 24): 500}
    assert reorder.assess(item(weekly=steep), AS_OF, trusting).season == pytest.approx(3.0)


def test_seasonality_is_pooled_over_the_skus_stores() -> None:
    # s01 sold nothing last year in the trailing twins; s02 did: the SKU's factor is shared.
    ly = weeks(10, 10, 10, 10, year=2025) | {(2025, 23): 20, (2025, 24): 20}
    trusting = replace(PLAIN, season_shrink_units=0)
    result = plan(
        [item(store="s01", weekly=weeks(7, 7, 7, 7)), item(store="s02", weekly=ly)],
        AS_OF,
        trusting,
    )
    assert [s.season for s in result.suggestions] == [pytest.approx(2.0)] * 2
    # A SKU new this year has no seasonal factor.
    fresh = reorder.assess(item(weekly=ly, since=date(2026, 1, 5)), AS_OF, trusting)
    assert fresh.season == 1.0


def test_week_53_last_year() -> None:
    assert same_week_last_year((2026, 53)) == (2025, 52)  # 2025 has 52 ISO weeks
    assert same_week_last_year((2021, 53)) == (2020, 53)  # 2020 had 53
    assert same_week_last_year((2026, 1)) == (2025, 1)


def test_safety_stock_and_order_up_to() -> None:
    # Steady 7 a week: σ = √7 (Poisson floor). P = 7 + 7 = 14 days.
    # Safety = ⌈1.645 · √7 · √2⌉ = ⌈6.155⌉ = 7; order-up-to = 1 · 14 + 7 = 21.
    s = reorder.assess(item(weekly=weeks(7, 7, 7, 7)), AS_OF, PLAIN)
    assert s.safety_stock == 7
    assert s.order_up_to == 21
    # Reorder point for the alert: 1 · 7 + ⌈1.645 · √7 · 1⌉ → ⌈7 + 4.352⌉ = 12.
    assert s.reorder_point == 12
    assert s.order_qty == 21
    # Spread sales: 0, 14, 0, 14 → mean 7 weighted (4·0+3·14+2·0+1·14)/10 = 5.6 a week,
    # sample σ of the weeks = √(4·49/3) = 8.083; safety = ⌈1.645 · 8.083 · √2⌉ = 19.
    spread = reorder.assess(item(weekly=weeks(0, 14, 0, 14)), AS_OF, PLAIN)
    assert spread.safety_stock == math.ceil(Z95 * math.sqrt(196 / 3) * math.sqrt(2))
    assert spread.safety_stock == 19
    assert spread.order_up_to == math.ceil(5.6 / 7 * 14) + 19


def test_safety_covers_at_least_a_week() -> None:
    # Lead 1 + review 1 = 2 days, but the floor of 7 days: ⌈1.645 · √7 · 1⌉ = 5.
    floor = replace(PLAIN, min_safety_days=7)
    s = reorder.assess(
        item(weekly=weeks(7, 7, 7, 7), lead_time_days=1, review_days=1), AS_OF, floor
    )
    assert s.safety_stock == 5
    assert s.order_up_to == 2 + 5


def test_pack_rounding_and_minimum_order() -> None:
    assert round_order(16, 6, 0) == 18
    assert round_order(16, 1, 20) == 20
    assert round_order(16, 6, 20) == 24
    assert round_order(18, 6, 0) == 18
    assert round_order(0, 6, 20) == 0
    assert round_order(-3, 1, 0) == 0
    # Order-up-to 21, 5 on hand: 16 needed, in packs of 6 → 18, i.e. 3 packs.
    s = reorder.assess(item(weekly=weeks(7, 7, 7, 7), on_hand=5, pack_size=6), AS_OF, PLAIN)
    assert (s.order_qty, s.packs) == (18, 3)
    s = reorder.assess(
        item(weekly=weeks(7, 7, 7, 7), on_hand=5, pack_size=6, min_order_qty=20, unit_cost=250),
        AS_OF,
        PLAIN,
    )
    assert (s.order_qty, s.packs, s.order_value) == (24, 4, 6000)


def test_in_transit_counts_and_negative_on_hand_does_not() -> None:
    s = reorder.assess(item(weekly=weeks(7, 7, 7, 7), on_hand=5, in_transit=10), AS_OF, PLAIN)
    assert s.order_qty == 6
    enough = reorder.assess(item(weekly=weeks(7, 7, 7, 7), on_hand=5, in_transit=16), AS_OF, PLAIN)
    assert enough.order_qty == 0
    # −4 on the books is an empty shelf: order the 21, not 25.
    behind = reorder.assess(item(weekly=weeks(7, 7, 7, 7), on_hand=-4), AS_OF, PLAIN)
    assert behind.order_qty == 21
    assert behind.days_of_cover == 0
    assert behind.low


def test_new_sku_without_history() -> None:
    s = reorder.assess(item(since=None, on_hand=0), AS_OF, PLAIN)
    assert (s.order_qty, s.weeks_of_history, s.per_day) == (0, 0, 0.0)
    assert "no sales history" in s.note
    assert not s.low
    # The buyer's reorder point and quantity: at 2 (≤ 3), up to 3 + 12 = 15, packs of 6 → 18.
    manual = item(since=None, on_hand=2, reorder_point=3, reorder_qty=12, pack_size=6)
    s = reorder.assess(manual, AS_OF, PLAIN)
    assert (s.order_qty, s.reorder_point, s.low) == (18, 3, True)
    above = reorder.assess(
        item(since=None, on_hand=5, reorder_point=3, reorder_qty=12), AS_OF, PLAIN
    )
    assert above.order_qty == 0


def test_zero_sales() -> None:
    s = reorder.assess(item(weekly={}, on_hand=4), AS_OF, PLAIN)
    assert s.weeks_of_history == 4
    assert (s.per_day, s.safety_stock, s.order_up_to, s.order_qty) == (0.0, 0, 0, 0)
    assert s.days_of_cover is None
    assert not s.low


def test_is_low() -> None:
    assert is_low(3, 3, 0.0, 7)
    assert not is_low(4, 3, 0.0, 7)
    assert is_low(6, None, 1.0, 7)  # 6 days of cover, 7 days' lead time
    assert not is_low(7, None, 1.0, 7)
    assert not is_low(0, None, 0.0, 7)
    assert is_low(-2, 0, 0.0, 7)


def transferable(**kw: Any) -> list[Item]:
    """s01 holding 60 of a SKU selling 1 a day in each store; s02 with `kw` for its stock."""
    terms = {"weekly": weeks(7, 7, 7, 7), "unit_cost": 1000, "unit_price": 2000} | kw.pop(
        "terms", {}
    )
    return [
        item(store="s01", on_hand=60, **terms),
        item(store="s02", **(terms | kw)),
    ]


def test_transfer_before_buying() -> None:
    # s01: order-up-to 21, 60 on the shelf: 39 to spare, 39 days of extra cover. s02: empty,
    # needs 21, and 7 days of sales would be missed before a vendor delivery.
    # Saves: carrying 21 · 1000 · 0.25 · 39/365 = 560.96, plus 7 missed sales' margin 7000;
    # costs 21 · 30 = 630, and the shipment's 1500 is covered by 7561 − 630.
    result = plan(transferable(on_hand=0), AS_OF, PLAIN)
    assert result.transfers == (
        reorder.Transfer(sku="TEE-1", from_store="s01", to_store="s02", qty=21, cost=630, saves=7561),
    )  # fmt: skip
    by_store = {s.store: s for s in result.suggestions}
    assert (by_store["s02"].transfer, by_store["s02"].order_qty) == (21, 0)
    assert (by_store["s01"].transfer, by_store["s01"].order_qty) == (-21, 0)


def test_no_transfer_when_ordering_is_cheaper() -> None:
    # s02 has 10: needs 11 more but misses no sale before a delivery (7 < 10). Carrying
    # 11 · 100 · 0.25 · 39/365 = 29 saved against 330 to move them: it buys instead.
    result = plan(
        transferable(on_hand=10, terms={"unit_cost": 100, "unit_price": 120}), AS_OF, PLAIN
    )
    assert result.transfers == ()
    s02 = next(s for s in result.suggestions if s.store == "s02")
    assert (s02.transfer, s02.order_qty) == (0, 11)


def test_a_shipment_must_pay_for_itself() -> None:
    # Each line pays its per-unit cost, but the pair's net saving is below the shipment cost.
    costly = replace(PLAIN, transfer_shipment_cost=100_000)
    result = plan(transferable(on_hand=0), AS_OF, costly)
    assert result.transfers == ()
    assert next(s for s in result.suggestions if s.store == "s02").order_qty == 21


def test_donors_give_from_the_shelf_not_from_what_is_coming() -> None:
    # s01 has 60 coming but nothing on the shelf: nothing to give.
    items = [
        item(store="s01", on_hand=0, in_transit=60, weekly=weeks(7, 7, 7, 7), unit_cost=1000),
        item(store="s02", on_hand=0, weekly=weeks(7, 7, 7, 7), unit_cost=1000, unit_price=2000),
    ]
    assert plan(items, AS_OF, PLAIN).transfers == ()


def test_orders_by_vendor() -> None:
    result = plan(
        [
            item(sku="A", vendor="Weaver", weekly=weeks(7, 7, 7, 7)),
            item(sku="B", vendor="Weaver", weekly={}),
            item(sku="C", vendor=None, weekly=weeks(7, 7, 7, 7)),
        ],
        AS_OF,
        PLAIN,
    )
    grouped = result.orders_by_vendor()
    assert {k: [s.sku for s in v] for k, v in grouped.items()} == {"Weaver": ["A"], None: ["C"]}


# -- The query layer on the real PostgreSQL ----------------------------------------------------

Conn = psycopg.Connection[Any]


def _event(conn: Conn, store: str, seq: int, kind: str, at: datetime, body: dict[str, Any]) -> str:
    ident = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO event (id, store, origin, seq, store_seq, type, hlc, at, envelope)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (ident, store, f"{store}-ap", seq, seq, kind, f"{seq}.0.{store}-ap", at,
         json.dumps({"body": body})),
    )  # fmt: skip
    return ident


def _sale(conn: Conn, store: str, seq: int, variant: str, qty: int, at: datetime) -> None:
    event = _event(conn, store, seq, "sale.completed", at, {"receipt": f"{store}-{seq}"})
    conn.execute(
        "INSERT INTO sale_fact (event, line, kind, store, register, receipt, at, variant, qty,"
        " net, tax, discount) VALUES (%s, 1, 'sale', %s, %s, %s, %s, %s, %s, 0, 0, 0)",
        (event, store, f"{store}-r01", f"{store}-{seq}", at, variant, qty),
    )
    conn.execute(
        "INSERT INTO stock_ledger (event, line, store, variant, kind, qty, hlc_wall,"
        " hlc_counter, hlc_node, origin, at) VALUES (%s, 1, %s, %s, 'sale', %s, %s, 0, %s, %s, %s)",
        (event, store, variant, -qty, seq, f"{store}-ap", f"{store}-ap", at),
    )


def _seed(pg: Conn) -> dict[str, str]:
    """Two stores selling TEE-1 (vendor Weaver, 10-day lead, packs of 6, minimum 12) and a
    mug from another vendor; s02 has a transfer of TEE-1 on its way from s01."""
    ids = {
        "s01-tee": str(uuid.uuid4()),
        "s02-tee": str(uuid.uuid4()),
        "s02-tee-old": str(uuid.uuid4()),
        "s01-mug": str(uuid.uuid4()),
    }
    for store in ("s01", "s02"):
        pg.execute("INSERT INTO store (id, name) VALUES (%s, %s)", (store, store.upper()))
        pg.execute("INSERT INTO origin (id, store) VALUES (%s, %s)", (f"{store}-ap", store))
    pg.execute("INSERT INTO catalog_category (name) VALUES ('Apparel'), ('Home')")
    pg.execute(
        "INSERT INTO catalog_vendor (name, lead_time_days, review_days)"
        " VALUES ('Weaver', 10, 7), ('Potter', NULL, NULL)"
    )
    pg.execute(
        "INSERT INTO catalog_product (name, category_id, vendor_id) VALUES"
        " ('Tee', (SELECT id FROM catalog_category WHERE name = 'Apparel'),"
        "  (SELECT id FROM catalog_vendor WHERE name = 'Weaver')),"
        " ('Mug', (SELECT id FROM catalog_category WHERE name = 'Home'),"
        "  (SELECT id FROM catalog_vendor WHERE name = 'Potter'))"
    )
    pg.execute(
        "INSERT INTO catalog_variant (sku, product_id, cost, price, tax_class, pack_size,"
        " min_order_qty) VALUES"
        " ('TEE-1', (SELECT id FROM catalog_product WHERE name = 'Tee'), 600, 1999,"
        "  'standard', 6, 12),"
        " ('MUG-1', (SELECT id FROM catalog_product WHERE name = 'Mug'), 200, 800,"
        "  'standard', 1, 0)"
    )
    for n, (store, key, sku) in enumerate(
        [("s01", "s01-tee", "TEE-1"), ("s02", "s02-tee", "tee-1"),
         ("s02", "s02-tee-old", "TEE-1"), ("s01", "s01-mug", "MUG-1")], start=1
    ):  # fmt: skip
        pg.execute(
            "INSERT INTO store_variant (store, uid, sku, local_id) VALUES (%s, %s, %s, %s)",
            (store, ids[key], sku, n),
        )
    seq = {"s01": 0, "s02": 0}

    def sale(store: str, key: str, qty: int, day: date) -> None:
        seq[store] += 1
        _sale(
            pg,
            store,
            seq[store],
            ids[key],
            qty,
            datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        )

    # s01 sells 7 TEE-1 in each of the 4 weeks before 2026-06-01, s02 14 a week split over
    # its two ids; the current week's sales are not history.
    for w in range(1, 5):
        monday = AS_OF - timedelta(weeks=w)
        sale("s01", "s01-tee", 7, monday + timedelta(days=2))
        sale("s02", "s02-tee", 10, monday + timedelta(days=1))
        sale("s02", "s02-tee-old", 4, monday + timedelta(days=3))
    sale("s01", "s01-tee", 50, AS_OF)
    sale("s01", "s01-mug", 3, AS_OF - timedelta(days=3))
    pg.execute(
        "INSERT INTO on_hand (store, variant, qty) VALUES (%s, %s, 40), (%s, %s, 2), (%s, %s, 1),"
        " (%s, %s, 5)",
        (
            "s01", ids["s01-tee"], "s02", ids["s02-tee"], "s02", ids["s02-tee-old"],
            "s01", ids["s01-mug"],
        ),
    )  # fmt: skip
    # s01 shipped 6 TEE-1 to s02 (not received), and 4 in an earlier transfer s02 received.
    at = datetime(2026, 5, 29, 9, tzinfo=UTC)
    seq["s01"] += 1
    _event(pg, "s01", seq["s01"], "transfer.shipped", at,
           {"transfer": "t-open", "to_store": "s02", "lines": [{"variant": ids["s01-tee"], "qty": 6}]})  # fmt: skip
    seq["s01"] += 1
    _event(pg, "s01", seq["s01"], "transfer.shipped", at,
           {"transfer": "t-done", "to_store": "s02", "lines": [{"variant": ids["s01-tee"], "qty": 4}]})  # fmt: skip
    seq["s02"] += 1
    _event(pg, "s02", seq["s02"], "transfer.received", at,
           {"transfer": "t-done", "from_store": "s01", "lines": [{"variant": ids["s02-tee"], "qty": 3}]})  # fmt: skip
    return ids


def test_load_items_from_postgres(pg: Conn) -> None:
    _seed(pg)
    # On Wednesday of W23: Monday's 50 are this week's sales so far.
    items = reorder.load_items(pg, AS_OF + timedelta(days=2), weeks=4)
    by_key = {(i.store, i.sku): i for i in items}
    assert sorted(by_key) == [("s01", "MUG-1"), ("s01", "TEE-1"), ("s02", "TEE-1")]
    s01, s02 = by_key[("s01", "TEE-1")], by_key[("s02", "TEE-1")]
    # Weeks are ISO weeks of the sale day (UTC).
    assert s01.weekly == {
        (2026, 19): 7,
        (2026, 20): 7,
        (2026, 21): 7,
        (2026, 22): 7,
        (2026, 23): 50,
    }
    # s02's two ids for the SKU are summed: on-hand 2 + 1, sales 10 + 4 a week.
    assert s02.on_hand == 3
    assert s02.weekly == {(2026, w): 14 for w in (19, 20, 21, 22)}
    # The first movement of either id: W19's Tuesday (so W19 itself is not a whole week).
    assert s02.since == AS_OF - timedelta(weeks=4) + timedelta(days=1)
    # Only the transfer s02 has not received is in transit; nothing is coming to s01.
    assert (s01.in_transit, s02.in_transit) == (0, 6)
    assert (s01.lead_time_days, s01.review_days, s01.pack_size, s01.min_order_qty) == (10, 7, 6, 12)
    assert (s01.unit_cost, s01.unit_price, s01.vendor, s01.category) == (
        600,
        1999,
        "Weaver",
        "Apparel",
    )
    mug = by_key[("s01", "MUG-1")]
    assert (mug.lead_time_days, mug.review_days) == (
        reorder.DEFAULT_LEAD_TIME_DAYS,
        reorder.DEFAULT_REVIEW_DAYS,
    )
    assert mug.weekly == {(2026, 22): 3}


def test_suggest_for_a_scope(pg: Conn) -> None:
    _seed(pg)
    policy = replace(PLAIN, trailing_weeks=4)
    result = reorder.suggest(pg, AS_OF, Scope(vendor="weaver"), policy)
    assert {(s.store, s.sku) for s in result.suggestions} == {("s01", "TEE-1"), ("s02", "TEE-1")}
    s02 = next(s for s in result.suggestions if s.store == "s02")
    # 14 a week = 2 a day over 10 + 7 days: 34, safety ⌈1.645 · √14 · √(17/7)⌉ = 10: up to 44.
    assert s02.order_up_to == 34 + math.ceil(Z95 * math.sqrt(14) * math.sqrt(17 / 7))
    assert s02.order_up_to == 44
    # (Monday's 50 at s01 are on as_of, not before it: not read.)
    # s01 holds 40 against its own 17 + 7 = 24 (16 spare): a transfer to s02 comes first.
    assert [(t.from_store, t.to_store, t.qty) for t in result.transfers] == [("s01", "s02", 16)]
    # Then s02 needs 44 − (3 + 6 + 16) = 19: at least 12, in packs of 6 → 24.
    assert (s02.transfer, s02.order_qty, s02.packs, s02.order_value) == (16, 24, 4, 24 * 600)
    assert [
        s.sku for s in reorder.suggest(pg, AS_OF, Scope(category="home"), policy).suggestions
    ] == ["MUG-1"]
    only_s02 = reorder.suggest(pg, AS_OF, Scope(stores=["s02"]), policy)
    assert {s.store for s in only_s02.suggestions} == {"s02"}
    assert only_s02.transfers == ()
    assert reorder.suggest(pg, AS_OF, Scope(stores=["s09"]), policy).suggestions == ()


def test_set_terms(pg: Conn) -> None:
    _seed(pg)
    before = pg.execute("SELECT change_seq FROM catalog_vendor WHERE name = 'Potter'").fetchone()
    reorder.set_vendor_terms(pg, "potter", lead_time_days=3, review_days=14)
    row = pg.execute(
        "SELECT lead_time_days, review_days, change_seq FROM catalog_vendor WHERE name = 'Potter'"
    ).fetchone()
    assert row is not None and before is not None
    assert row[:2] == (3, 14) and row[2] > before[0]
    reorder.set_min_order(pg, "mug-1", 24)
    assert pg.execute(
        "SELECT min_order_qty FROM catalog_variant WHERE sku = 'MUG-1'"
    ).fetchone() == (24,)
    attempts: list[tuple[Callable[[], None], str]] = [
        (
            lambda: reorder.set_vendor_terms(pg, "Nobody", lead_time_days=3, review_days=7),
            "no vendor",
        ),
        (
            lambda: reorder.set_vendor_terms(pg, "Potter", lead_time_days=-1, review_days=7),
            "lead time",
        ),
        (lambda: reorder.set_vendor_terms(pg, "Potter", lead_time_days=3, review_days=0), "review"),
        (lambda: reorder.set_min_order(pg, "NOPE-1", 3), "no variant"),
        (lambda: reorder.set_min_order(pg, "MUG-1", -1), "negative"),
    ]
    for bad, message in attempts:
        with pytest.raises(reorder.TermsError, match=message):
            bad()
    # Refusals changed nothing.
    assert pg.execute(
        "SELECT lead_time_days, review_days FROM catalog_vendor WHERE name = 'Potter'"
    ).fetchone() == (3, 14)
    assert pg.execute(
        "SELECT min_order_qty FROM catalog_variant WHERE sku = 'MUG-1'"
    ).fetchone() == (24,)


def test_cli(pg: Conn, cloud_dsn: str) -> None:
    _seed(pg)
    runner = CliRunner()
    ok = runner.invoke(cloud, ["reorder", "terms", "--dsn", cloud_dsn, "Weaver",
                               "--lead-time-days", "3", "--review-days", "14"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "Weaver: lead time 3 days, ordered every 14 days" in ok.output
    assert (
        runner.invoke(cloud, ["reorder", "min-order", "--dsn", cloud_dsn, "TEE-1", "0"]).exit_code
        == 0
    )
    report = runner.invoke(
        cloud, ["reorder", "report", "--dsn", cloud_dsn, "--as-of", "2026-06-01", "--store", "s02"]
    )
    assert report.exit_code == 0, report.output
    rows = list(csv.DictReader(io.StringIO(report.output)))
    assert [(r["store"], r["sku"]) for r in rows] == [("s02", "TEE-1")]
    row = rows[0]
    assert (row["vendor"], row["on_hand"], row["in_transit"], row["per_day"]) == (
        "Weaver",
        "3",
        "6",
        "2.00",
    )
    # Default policy; the order is whole packs of 6 and its value a decimal at 6.00 each.
    assert int(row["order_qty"]) % 6 == 0 and int(row["order_qty"]) > 0
    assert row["order_value"] == f"{int(row['order_qty']) * 6}.00"
    transfers = runner.invoke(
        cloud, ["reorder", "report", "--dsn", cloud_dsn, "--as-of", "2026-06-01", "--transfers"]
    )
    assert transfers.exit_code == 0, transfers.output
    assert transfers.output.splitlines()[0] == "sku,from_store,to_store,qty,cost,saves"
    # Refusals: a clear message, nothing changed.
    unknown = runner.invoke(
        cloud, ["reorder", "terms", "--dsn", cloud_dsn, "Nobody", "--lead-time-days", "3"]
    )
    assert unknown.exit_code == 1 and "no vendor is named Nobody" in unknown.output
    assert (
        runner.invoke(
            cloud, ["reorder", "terms", "--dsn", cloud_dsn, "Weaver", "--review-days", "0"]
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(cloud, ["reorder", "min-order", "--dsn", cloud_dsn, "TEE-1", "-3"]).exit_code
        == 2
    )
    assert (
        runner.invoke(cloud, ["reorder", "report", "--dsn", cloud_dsn, "--store", "S 1"]).exit_code
        == 2
    )
    assert pg.execute(
        "SELECT lead_time_days, review_days FROM catalog_vendor WHERE name = 'Weaver'"
    ).fetchone() == (3, 14)


def test_csv_cells_are_safe() -> None:
    result = plan([item(sku="A", vendor="=HYPERLINK(1)", category="+x", weekly=weeks(7, 7, 7, 7),
                        unit_cost=1234)], AS_OF, PLAIN)  # fmt: skip
    out = io.StringIO()
    reorder.write_csv(result, out, "EUR")
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["vendor"], row["category"]) == ("'=HYPERLINK(1)", "'+x")
    assert row["order_value"] == "259.14"  # 21 × 12.34
    assert row["low"] == "1" and row["reorder_point"] == "12"


def test_safety_from_a_run_out_cost() -> None:
    costed = Policy(stockout_cost=1000, holding_rate=0.25, service_min=0.95, service_max=0.9999)
    # A unit costing 3.65 carries 0.25 cents a day; R = 7, σ_P = 2:
    # k = √(2 · ln(1000 / (√(2π) · 0.25 · 7 · 2))) = √(2 · ln 113.98) = 3.078.
    assert reorder.safety_factor(costed, 365, 2.0, 7) == pytest.approx(3.0777, abs=1e-4)
    # Dearer stock, less safety: ten times the cost, k = √(2 · ln 11.398) = 2.2061.
    assert reorder.safety_factor(costed, 3650, 2.0, 7) == pytest.approx(2.2061, abs=1e-4)
    # Within the bounds: z(0.95) when running out is cheap, z(0.9999) when it is dear.
    assert reorder.safety_factor(replace(costed, stockout_cost=1), 365, 2.0, 7) == pytest.approx(
        Z95
    )
    assert reorder.safety_factor(
        replace(costed, stockout_cost=10**9), 365, 2.0, 7
    ) == pytest.approx(3.7190, abs=1e-4)
    # No cost known, or no cost set: the service level's z.
    assert reorder.safety_factor(costed, None, 2.0, 7) == costed.z
    assert reorder.safety_factor(PLAIN, 365, 2.0, 7) == PLAIN.z
    # In a suggestion: steady 7 a week, σ_P = √7 · √2 = 3.742, k = 2.867: ⌈10.73⌉ = 11.
    plain_costed = replace(PLAIN, stockout_cost=1000)
    s = reorder.assess(
        item(weekly=weeks(7, 7, 7, 7), unit_cost=365, on_hand=5, pack_size=6), AS_OF, plain_costed
    )
    assert s.safety_stock == 11
    assert s.order_up_to == 14 + 11
    # docs/hq.md's worked example: 20 needed, in packs of 6.
    assert (s.order_qty, s.packs) == (24, 4)
