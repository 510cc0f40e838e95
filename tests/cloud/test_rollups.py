"""The analytics rollups (cloud/rollups.py, migration 0021): kept batch by batch by ingest,
they equal sale_fact aggregated afresh (in Python here, and by the SQL rebuild), in the store's
time zone, with voids, returns, weighed lines, discounts and costs; delivering a batch again
changes nothing; each shift's expected cash is the appliance's."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from click.testing import CliRunner

from appliance.runtime import Runtime
from cloud import analytics, rollups
from cloud.analytics import Filter
from cloud.catalog import import_csv
from cloud.cli import cloud
from cloud.ingest import ingest_batch
from cloud.store_directory import apply_upload
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope, Override
from protocol.ids import new_id
from tests.appliance.selling.helpers import till_for, uid
from tests.appliance.selling.test_stock import FLOAT, cash_sale, ok, receive, return_body
from tests.cloud.batches import batch, journal_batches, offline_till
from tests.conftest import PINS, FakeWall, Store

Conn = psycopg.Connection[Any]

_FIGURES = (
    "sold_units",
    "sold_net",
    "returned_units",
    "returned_net",
    "tax",
    "discount",
    "cost",
    "costed_net",
)
_TABLES = {
    "sales_day": "store, day, variant",
    "sales_store_day": "store, day",
    "returns_day": "store, day, reason, variant",
    "shift_cash": "shift",
}


def snapshot(pg: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row, in key order."""
    return {
        table: pg.execute(f"SELECT * FROM {table} ORDER BY {key}".encode()).fetchall()
        for table, key in _TABLES.items()
    }


CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\n"
    "TEE,Tee,,,Apparel,Acme,4.50,12.99,standard,,,1,1\r\n"
    "MUG,Mug,,,Home,Potters,3.00,9.50,standard,,,1,1\r\n"
    "CHEESE,Cheese,,,Deli,Farm,13.33,20.00,standard,,,1,1\r\n"
    "GIFT,Gift wrap,,,Home,Potters,,2.00,standard,,,1,1\r\n"
)


def _sale(till: Any, lines: list[tuple[str, int, int, int]], cash: bool, **extra: Any) -> Any:
    """A sale.completed body: lines of (variant, qty, qty_scale, unit_price), tax inclusive."""
    gross = [round(qty * price / scale) for _, qty, scale, price in lines]
    discount = extra.pop("discount", 0)
    total = sum(gross) - discount
    body: dict[str, Any] = {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "catalog_version": 1,
        "currency": "EUR",
        "lines": [
            {"line": n, "variant": v, "qty": q, "qty_scale": s, "unit_price": p}
            for n, (v, q, s, p) in enumerate(lines, start=1)
        ],
        "tenders": [
            {"kind": "cash", "amount": total, "tendered": total + 50}
            if cash
            else {"kind": "card", "amount": total, "reference": "T-1"}
        ],
        "totals": {
            "subtotal": sum(gross),
            "discount": discount,
            "tax": total * 23 // 123,
            "total": total,
        },
    }
    if discount:
        body["order_discount"] = {"kind": "amount", "value": discount}
    return body


def _return(
    till: Any, variant: str, qty: int, scale: int, refund: int, reason: str, cash: bool
) -> Any:
    tax = refund * 23 // 123
    return {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "lines": [
            {
                "line": 1,
                "variant": variant,
                "qty": qty,
                "qty_scale": scale,
                "refund": refund,
                "tax": tax,
                "reason": reason,
            }
        ],
        "tenders": [{"kind": "cash" if cash else "card", "amount": refund}],
        "totals": {"total": refund, "tax": tax},
    }


def _trading(seed: int) -> tuple[list[Envelope], dict[str, str], dict[str, int]]:
    """A few days of one register in s01: sales (cash and card, weighed, discounted, one item
    with no cost), returns by reason, post-voids of sales from earlier batches, pay-ins and
    pay-outs, each shift opened and closed; late evening sales cross local midnight."""
    rng = random.Random(seed)
    till = offline_till("s01", "s01-r01")
    till.wall.ms = int(datetime(2026, 3, 27, 9, 0, tzinfo=UTC).timestamp() * 1000)
    variants = {sku: new_id() for sku in ("TEE", "MUG", "CHEESE", "GIFT")}
    events: list[Envelope] = []
    cash: dict[str, int] = {}
    prices = {"TEE": 1299, "MUG": 950, "CHEESE": 2000, "GIFT": 200}
    # A shift whose opening the cloud never got, with a card sale post-voided: no drawer
    # moved, so neither ingest nor the rebuild gives it a cash row.
    till.shift = new_id()
    ghost = till.event("sale.completed", _sale(till, [(variants["MUG"], 1, 1, 950)], False))
    events.append(ghost)
    events.append(
        till.event(
            "sale.voided",
            {"sale": ghost.id, "receipt": ghost.body["receipt"], "reason": "wrong item"},
        )
    )
    for _day in range(4):  # across the clocks going forward (Europe/Dublin, 29 March)
        till.shift = new_id()
        expected = 10000
        events.append(
            till.event(
                "shift.opened",
                {"shift": till.shift, "float": {"counts": {"5000": 2}, "total": 10000}},
                actor="staff-7",
            )
        )
        sales: list[tuple[Envelope, int]] = []
        for _ in range(rng.randint(6, 12)):
            till.wall.advance(rng.randint(600, 5400))
            lines = []
            for _ in range(rng.randint(1, 3)):
                sku = rng.choice(list(variants))
                weighed = sku == "CHEESE"
                qty = rng.randint(100, 900) if weighed else rng.randint(1, 4)
                lines.append((variants[sku], qty, 1000 if weighed else 1, prices[sku]))
            paid_cash = rng.random() < 0.5
            discount = rng.choice([0, 0, 0, 100])
            body = _sale(till, lines, paid_cash, discount=discount)
            env = till.event("sale.completed", body)
            events.append(env)
            took = body["totals"]["total"] if paid_cash else 0
            sales.append((env, took))
            expected += took
            roll = rng.random()
            if roll < 0.25:
                till.wall.advance(60)
                v, q, s, p = lines[0]
                refund = round(q * p / s) // 2
                reason = rng.choice(["wrong_size", "defective", "changed_mind"])
                back_cash = rng.random() < 0.5
                events.append(
                    till.event(
                        "return.completed", _return(till, v, q, s, refund, reason, back_cash)
                    )
                )
                expected -= refund if back_cash else 0
            elif roll < 0.4 and len(sales) > 2:
                voided, took_then = sales.pop(rng.randrange(len(sales) - 1))
                till.wall.advance(30)
                events.append(
                    till.event(
                        "sale.voided",
                        {
                            "sale": voided.id,
                            "receipt": voided.body["receipt"],
                            "reason": "wrong item",
                        },
                        override=Override(
                            id=new_id(), action="post_void", approver="sup-1", offline=False
                        ),
                    )
                )
                expected -= took_then
            elif roll < 0.5:
                kind = rng.choice(["pay_in", "pay_out", "no_sale"])
                amount = 0 if kind == "no_sale" else rng.randint(1, 30) * 100
                events.append(
                    till.event(
                        "cash.moved",
                        {"shift": till.shift, "kind": kind, "amount": amount, "reason": "float"},
                    )
                )
                expected += amount if kind == "pay_in" else -amount
        till.wall.advance(600)
        counted = expected + rng.choice([-150, 0, 0, 200])
        events.append(
            till.event(
                "shift.closed",
                {"shift": till.shift, "cash": {"counts": {"1": counted}, "total": counted}},
                actor="staff-8",
            )
        )
        cash[till.shift] = expected
        till.wall.advance(rng.randint(8, 12) * 3600)
    return events, variants, cash


def _setup(pg: Conn, variants: dict[str, str], zone: str | None) -> None:
    assert import_csv(pg, CATALOG.encode()).applied
    upload = DirectoryUpload(
        variants_after=0,
        variants=[(n, v, sku) for n, (sku, v) in enumerate(variants.items(), start=1)],
    )
    pg.execute("INSERT INTO store (id) VALUES ('s01')")
    assert apply_upload(pg, "s01", upload).error is None
    if zone is not None:
        pg.execute(
            "INSERT INTO store_directory (store, version, settings) VALUES ('s01', 1, %s)"
            " ON CONFLICT (store) DO UPDATE SET settings = excluded.settings",
            (psycopg.types.json.Jsonb({"timezone": zone}),),
        )


def _ingest(pg: Conn, events: list[Envelope], rng: random.Random) -> list[bytes]:
    payloads = []
    first = 1
    while first <= len(events):
        size = rng.randint(1, 5)
        payloads.append(batch(first, events[first - 1 : first - 1 + size]))
        first += size
    for payload in payloads:
        assert "applied_through" in ingest_batch(pg, "s01", payload)
    return payloads


def _from_facts(pg: Conn, zone: str) -> dict[tuple[date, str], dict[str, Any]]:
    """sales_day worked out in Python from sale_fact rows and the catalog's costs."""
    costs = dict(
        pg.execute(
            "SELECT sv.uid::text, cv.cost FROM store_variant sv"
            " JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)"
        ).fetchall()
    )
    out: dict[tuple[date, str], dict[str, Any]] = defaultdict(lambda: dict.fromkeys(_FIGURES, 0))
    for kind, at, variant, qty, scale, net, tax, discount in pg.execute(
        "SELECT kind, at, variant::text, qty, qty_scale, net, tax, discount FROM sale_fact"
    ):
        row = out[(at.astimezone(ZoneInfo(zone)).date(), variant)]
        units = Decimal(qty) / scale
        if kind == "return":
            row["returned_units"] -= units
            row["returned_net"] -= net
        else:
            row["sold_units"] += units
            row["sold_net"] += net
        row["tax"] += tax
        row["discount"] += discount
        cost = costs.get(variant)
        if cost is not None:
            exact = Decimal(cost) * qty / scale
            row["cost"] += int(exact.to_integral_value(rounding="ROUND_HALF_UP"))
            row["costed_net"] += net
    return out


@pytest.mark.parametrize(("seed", "zone"), [(1, None), (2, "America/New_York"), (3, "Asia/Tokyo")])
def test_rollups_equal_the_facts_aggregated_afresh_and_survive_redelivery(
    pg: Conn, seed: int, zone: str | None
) -> None:
    events, variants, cash = _trading(seed)
    _setup(pg, variants, zone)
    rng = random.Random(seed)
    payloads = _ingest(pg, events, rng)
    kept = snapshot(pg)
    assert kept["sales_day"], "nothing was rolled up"
    assert pg.execute("SELECT count(*) FROM sale_fact WHERE kind = 'void'").fetchone() != (0,)
    assert pg.execute("SELECT count(*) FROM sale_fact WHERE kind = 'return'").fetchone() != (0,)

    # 1. Equal to sale_fact aggregated in Python, day by day in the store's zone.
    expected = _from_facts(pg, zone or "Europe/Dublin")
    got = {
        (row[1], str(row[2])): dict(zip(_FIGURES, row[3:11], strict=True))
        for row in kept["sales_day"]
    }
    assert got == {key: dict(value) for key, value in expected.items()}
    skus = {v: sku for sku, v in variants.items()}
    assert {(str(row[2]), row[11]) for row in kept["sales_day"]} <= set(skus.items())
    store_days = {row[1]: row for row in kept["sales_store_day"]}
    assert set(store_days) == {day for day, _ in expected}
    for day, row in store_days.items():
        assert row[4] == sum(v["sold_net"] for (d, _), v in expected.items() if d == day)
    sales = pg.execute(
        "SELECT count(*) FROM event e WHERE type = 'sale.completed' AND NOT EXISTS"
        " (SELECT 1 FROM event v WHERE v.type = 'sale.voided'"
        "  AND v.envelope #>> '{body,sale}' = e.id::text)"
    ).fetchone()
    assert sales == (sum(row[2] for row in kept["sales_store_day"]),)

    # 2. Returns by reason: every returned fact once, under its line's reason.
    by_reason: dict[str, int] = defaultdict(int)
    for env in events:
        if env.type == "return.completed":
            for line in env.body["lines"]:
                by_reason[line["reason"]] += line["refund"] - line["tax"]
    rolled: dict[str, int] = defaultdict(int)
    for row in kept["returns_day"]:
        rolled[row[2]] += row[6]
    assert rolled == by_reason

    # 3. Each shift's expected cash, as the register would count it.
    worked_out = dict(
        pg.execute(
            "SELECT c.shift::text, s.opening_float + c.cash_sales - c.cash_refunds"
            " - c.cash_voided + c.pay_ins - c.pay_outs"
            " FROM shift_cash c JOIN shift_summary s ON s.shift = c.shift"
        ).fetchall()
    )
    assert worked_out == cash
    assert {row[3] for row in kept["shift_cash"]} == {"staff-7"}
    assert {row[4] for row in kept["shift_cash"]} == {"staff-8"}

    # 4. The same batches again (a redelivery): nothing moves.
    for payload in payloads[::2]:
        assert "applied_through" in ingest_batch(pg, "s01", payload)
    assert snapshot(pg) == kept

    # 5. The SQL rebuild (the migration's backfill) gives the same rows.
    with pg.transaction():
        rollups.rebuild(pg, "s01")
    assert snapshot(pg) == kept
    with pg.transaction():
        rollups.rebuild(pg)
    assert snapshot(pg) == kept


def test_a_changed_zone_is_kept_until_a_rebuild_moves_the_days(pg: Conn, cloud_dsn: str) -> None:
    events, variants, _ = _trading(4)
    _setup(pg, variants, "Europe/Dublin")
    _ingest(pg, events, random.Random(4))
    before = snapshot(pg)
    assert rollups.zones_due(pg) == []
    pg.execute(
        'UPDATE store_directory SET settings = \'{"timezone": "Pacific/Auckland"}\''
        " WHERE store = 's01'"
    )
    assert rollups.zones_due(pg) == [("s01", "Europe/Dublin", "Pacific/Auckland")]
    ran = CliRunner().invoke(
        cloud, ["analytics", "rebuild", "--store", "s01"], env={"TILLBOX_CLOUD_DSN": cloud_dsn}
    )
    assert ran.exit_code == 0, ran.output
    assert ran.output == "rebuilt the analytics of s01\n"
    assert rollups.zones_due(pg) == []
    after = snapshot(pg)
    assert {r[1] for r in after["sales_store_day"]} != {r[1] for r in before["sales_store_day"]}
    total = sum(r[4] for r in before["sales_store_day"])
    assert sum(r[4] for r in after["sales_store_day"]) == total
    expected = _from_facts(pg, "Pacific/Auckland")
    assert {(r[1], str(r[2])) for r in after["sales_day"]} == set(expected)


def test_a_zone_postgresql_does_not_know_does_not_fail_ingest(pg: Conn) -> None:
    events, variants, _ = _trading(5)
    _setup(pg, variants, "Mars/Olympus_Mons")
    _ingest(pg, events[:10], random.Random(5))
    assert pg.execute("SELECT zone FROM rollup_store").fetchall() == [("Europe/Dublin",)]


def test_a_shifts_expected_cash_is_the_appliances_z_report(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn
) -> None:
    """A real appliance's day: cash and card sales, a cash return, a pay-out, a post-void,
    the close; the cloud's over/short from its rollup is the Z report's."""
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT))
    ok(receive(till, tee, 20))
    sales = []
    for qty in (3, 1, 2):
        wall.advance(60)
        body = cash_sale(till, tee, qty, 1299)
        ok(till.send("sale.completed", body))
        sales.append(body)
    wall.advance(60)
    ok(till.send("sale.completed", cash_sale(till, tee, 1, 1299)))
    ok(till.send("return.completed", return_body(till, rt, sales[0], 1, "wrong_size")))
    granted = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "post_void",
            "amount": sales[1]["totals"]["total"],
            "reason": "customer left",
            "approver_pin": PINS["supervisor"],
        },
        headers=store.bearer(till.staff_token or ""),
    )
    assert granted.status_code == 201, granted.get_json()
    sale_id = rt.db.scalar("SELECT id FROM sale WHERE receipt = ?", (sales[1]["receipt"],))
    ok(
        till.send(
            "sale.voided",
            {"sale": sale_id, "receipt": sales[1]["receipt"], "reason": "customer left"},
            override=Override(
                id=granted.get_json()["id"],
                action="post_void",
                approver=store.staff["supervisor"],
                offline=False,
            ),
        )
    )
    wall.advance(60)
    ok(
        till.send(
            "shift.closed",
            {"shift": till.shift, "cash": {"counts": {"2000": 9}, "total": 18000}},
        )
    )
    z = rt.db.one("SELECT body FROM z_report")
    assert z is not None
    report = json.loads(z["body"])["cash"]
    for payload in journal_batches(rt, 2):
        assert "applied_through" in ingest_batch(pg, "s01", payload)
    row = pg.execute(
        "SELECT s.opening_float + c.cash_sales - c.cash_refunds - c.cash_voided + c.pay_ins"
        " - c.pay_outs, z.counted_cash FROM shift_cash c JOIN shift_summary s USING (shift)"
        " JOIN z_summary z USING (shift)"
    ).fetchone()
    assert row is not None
    assert row[0] == report["expected"]
    assert row[1] - row[0] == report["over_short"]


def test_events_already_held_are_not_added_twice(
    pg: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    """A cloud restored from a backup older than its events (the cursor behind what it
    holds): the batches come again, ingest skips what it holds (its careful path), and the
    rollups stay as they were."""
    events, variants, _ = _trading(6)
    _setup(pg, variants, None)
    payloads = _ingest(pg, events, random.Random(6))
    kept = snapshot(pg)
    pg.execute("UPDATE store_cursor SET applied_through = 0 WHERE store = 's01'")
    caplog.set_level("INFO", logger="cloud.ingest")
    for payload in payloads:
        assert "applied_through" in ingest_batch(pg, "s01", payload)
    assert "events already held" in caplog.text
    assert pg.execute("SELECT applied_through FROM store_cursor").fetchone() == (len(events),)
    assert snapshot(pg) == kept


def test_sales_booked_before_the_store_mapped_its_variants_are_found_by_sku(pg: Conn) -> None:
    """The store's variant ids reach the cloud after its first sales: those rows carry no SKU
    and no cost, and the analytics find their SKU through store_variant once it is there."""
    events, variants, _ = _trading(7)
    assert import_csv(pg, CATALOG.encode()).applied
    pg.execute("INSERT INTO store (id) VALUES ('s01')")
    _ingest(pg, events, random.Random(7))
    assert pg.execute("SELECT count(*) FROM sales_day WHERE sku IS NOT NULL").fetchone() == (0,)
    upload = DirectoryUpload(
        variants_after=0,
        variants=[(n, v, sku) for n, (sku, v) in enumerate(variants.items(), start=1)],
    )
    assert apply_upload(pg, "s01", upload).error is None
    span = Filter(stores=("s01",), start=date(2026, 3, 1), end=date(2026, 4, 30))
    found = {i.key: i.figures[0] for i in analytics.items(pg, span)}
    sold = dict(
        pg.execute(
            "SELECT sv.sku, sum(f.qty::numeric / f.qty_scale) FROM sale_fact f"
            " JOIN store_variant sv ON sv.store = f.store AND sv.uid = f.variant GROUP BY 1"
        ).fetchall()
    )
    assert found == sold
    with pg.transaction():
        rollups.rebuild(pg, "s01")
    assert pg.execute("SELECT count(*) FROM sales_day WHERE sku IS NULL").fetchone() == (0,)
    assert {i.key: i.figures[0] for i in analytics.items(pg, span)} == sold
