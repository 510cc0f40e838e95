"""The cloud's projections against the appliance's, for the same events: on-hand per store
and variant (the stock fold), sales facts and shift summaries."""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
import pytest

from appliance.runtime import Runtime
from appliance.stock import quick_on_hand
from cloud.ingest import ingest_batch
from protocol.envelope import Envelope, Override
from protocol.hlc import HLC
from protocol.ids import new_id
from protocol.stock import Entry, Movement, fold
from tests.appliance.selling.helpers import till_for, uid
from tests.appliance.selling.test_stock import (
    FLOAT,
    Example,
    approve,
    cash_sale,
    count_body,
    ok,
    receive,
    return_body,
)
from tests.appliance.till import Item
from tests.cloud.batches import batch, journal_batches, offline_till
from tests.conftest import PINS, FakeWall, Store

Conn = psycopg.Connection[Any]


def ingest_journal(pg: Conn, rt: Runtime, size: int) -> None:
    """Everything the appliance holds, as its uplink would publish it."""
    for payload in journal_batches(rt, size):
        ack = ingest_batch(pg, "s01", payload)
        assert "applied_through" in ack, ack
    assert_projections_hold_to_events(pg)


def assert_projections_hold_to_events(pg: Conn) -> None:
    """Every fact and ledger row belongs to an event of its store (migration 0005 dropped
    the foreign keys that checked it row by row)."""
    for table in ("sale_fact", "stock_ledger"):
        orphans = pg.execute(
            f"SELECT count(*) FROM {table} p LEFT JOIN event e ON e.id = p.event"
            " AND e.store = p.store WHERE e.id IS NULL".encode()
        ).fetchone()
        assert orphans == (0,), table


def cloud_on_hand(pg: Conn, store: str = "s01") -> dict[str, int]:
    return {
        str(variant): int(qty)
        for variant, qty in pg.execute(
            "SELECT variant, qty FROM on_hand WHERE store = %s", (store,)
        )
    }


def appliance_on_hand(rt: Runtime) -> dict[str, int]:
    variants = [row[0] for row in rt.db.query("SELECT DISTINCT variant FROM stock_ledger")]
    return {variant: quick_on_hand(rt, variant) for variant in variants}


@pytest.mark.parametrize("order", ["BBCAA", "CABBA"])
def test_the_worked_example_gives_the_same_on_hand_in_the_cloud(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn, order: str
) -> None:
    example = Example(store, wall)
    example.run(order)
    ingest_journal(pg, store.rt, size=3)
    assert cloud_on_hand(pg)[example.x] == quick_on_hand(store.rt, example.x) == 4
    assert cloud_on_hand(pg) == appliance_on_hand(store.rt)
    assert pg.execute("SELECT count(*) FROM alert").fetchone() == (0,)


def test_a_day_of_sales_returns_a_void_and_a_count_projects_as_on_the_appliance(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn
) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT))
    ok(receive(till, tee, 10))
    ok(receive(till, mug, 6))
    sales = []
    for variant, qty, price in ((tee, 3, 1299), (mug, 2, 950), (tee, 1, 1299)):
        wall.advance(60)
        body = cash_sale(till, variant, qty, price)
        ok(till.send("sale.completed", body))
        sales.append(body)
    wall.advance(60)
    ok(till.send("return.completed", return_body(till, rt, sales[0], 1, "wrong_size")))
    ok(till.send("return.completed", return_body(till, rt, sales[0], 1, "defective")))
    # The mug sale is post-voided with a supervisor's approval.
    mug_sale = rt.db.scalar("SELECT id FROM sale WHERE receipt = ?", (sales[1]["receipt"],))
    wall.advance(60)
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
    voiding = Override(
        id=granted.get_json()["id"],
        action="post_void",
        approver=store.staff["supervisor"],
        offline=False,
    )
    ok(
        till.send(
            "sale.voided",
            {"sale": mug_sale, "receipt": sales[1]["receipt"], "reason": "customer left"},
            override=voiding,
        )
    )
    wall.advance(60)
    counting = approve(store, till, "stock_count_approve", "manager")
    ok(till.send("stock.counted", count_body({tee: 5}), override=counting))
    wall.advance(60)
    ok(till.send("sale.completed", cash_sale(till, tee, 2, 1299)))

    ingest_journal(pg, rt, size=4)

    on_hand = cloud_on_hand(pg)
    assert on_hand == appliance_on_hand(rt)
    assert (on_hand[tee], on_hand[mug]) == (3, 6)
    # Sales facts: what was sold, less what came back and what was voided, equals the
    # appliance's takings; every fact's net + tax is what the customer paid or got back.
    facts = pg.execute(
        "SELECT kind, count(*), sum(qty), sum(net + tax) FROM sale_fact GROUP BY kind ORDER BY kind"
    ).fetchall()
    sold = rt.db.scalar("SELECT SUM(total) FROM sale")
    refunded = rt.db.scalar("SELECT SUM(total) FROM return_doc")
    voided = rt.db.scalar("SELECT SUM(s.total) FROM sale s JOIN sale_void v ON v.sale = s.id")
    assert facts == [
        ("return", 2, -2, -refunded),
        ("sale", 4, 8, sold),
        ("void", 1, -2, -voided),
    ]
    tax = pg.execute("SELECT sum(tax) FROM sale_fact WHERE kind = 'sale'").fetchone()
    assert tax == (rt.db.scalar("SELECT SUM(tax) FROM sale"),)
    shift = pg.execute(
        "SELECT register, sales, sales_total, returns, refunds_total, opening_float"
        " FROM shift_summary"
    ).fetchall()
    assert shift == [(till.origin, 3, sold - voided, 2, refunded, 10000)]
    assert pg.execute("SELECT applied_through FROM store_cursor").fetchone() == (
        rt.db.scalar("SELECT MAX(store_seq) FROM event"),
    )


def _stock_event(till: Any, rng: random.Random, variants: list[str]) -> Envelope:
    till.wall.advance(rng.randint(1, 600))
    variant = rng.choice(variants)
    roll = rng.random()
    if roll < 0.2:
        return till.event(  # type: ignore[no-any-return]
            "stock.counted", count_body({variant: rng.randint(0, 20)})
        )
    if roll < 0.6:
        return till.event(  # type: ignore[no-any-return]
            "stock.received", {"lines": [{"variant": variant, "qty": rng.randint(1, 9)}]}
        )
    qty = rng.choice([-3, -2, -1, 1, 2])
    return till.event(  # type: ignore[no-any-return]
        "stock.adjusted", {"lines": [{"variant": variant, "qty": qty, "reason": "damaged"}]}
    )


def _entries(events: list[Envelope]) -> dict[str, list[Entry]]:
    ledger: dict[str, list[Entry]] = {}
    for env in events:
        kind = {
            "stock.counted": Movement.COUNT,
            "stock.received": Movement.RECEIPT,
            "stock.adjusted": Movement.ADJUST,
        }[env.type]
        line = env.body["lines"][0]
        ledger.setdefault(line["variant"], []).append(
            Entry(
                hlc=HLC.parse(env.hlc),
                origin=env.origin,
                kind=kind,
                qty=line["counted"] if kind is Movement.COUNT else line["qty"],
                event_id=env.id,
            )
        )
    return ledger


@pytest.mark.parametrize("seed", range(8))
def test_on_hand_is_the_protocol_fold_whatever_order_the_registers_arrive_in(
    pg: Conn, seed: int
) -> None:
    """Three registers with skewed clocks; their events reach the cloud interleaved at random
    (each register's own in seq order) and in random batch sizes."""
    rng = random.Random(seed)
    variants = [new_id() for _ in range(3)]
    tills = [offline_till("s01", f"s01-r0{n}") for n in (1, 2, 3)]
    for n, till in enumerate(tills):
        till.wall.ms += (n - 1) * 3_600_000
    queues = [[_stock_event(till, rng, variants) for _ in range(15)] for till in tills]
    arrival: list[Envelope] = []
    while any(queues):
        arrival.append(rng.choice([q for q in queues if q]).pop(0))
    position = 0
    while position < len(arrival):
        size = rng.randint(1, 12)
        chunk = arrival[position : position + size]
        assert ingest_batch(pg, "s01", batch(position + 1, chunk)) == {
            "applied_through": position + len(chunk)
        }
        position += len(chunk)
    expected = {variant: fold(entries).on_hand for variant, entries in _entries(arrival).items()}
    assert cloud_on_hand(pg) == expected


def test_sale_facts_carry_each_lines_discounts_and_what_it_charged(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn
) -> None:
    rt = store.rt
    tee, mug = uid(rt, "TEE-M-RED"), uid(rt, "MUG-1")
    till = till_for(store, wall)
    ok(till.open_shift(FLOAT))
    body = till.sale_body(
        [
            Item(tee, 3, 1299, discount=("percent", 500)),
            Item(mug, 1, 950),
            Item(mug, 1, 950, voided=True),
        ],
        order_discount=("amount", 100),
    )
    ok(till.send("sale.completed", body))
    ingest_journal(pg, rt, size=10)

    facts = pg.execute(
        "SELECT line, variant::text, qty, net + tax, discount FROM sale_fact ORDER BY line"
    ).fetchall()
    appliance = [
        (
            row["line"],
            row["variant"],
            row["qty"],
            row["total"],
            row["line_discount"] + row["order_discount"],
        )
        for row in rt.db.query("SELECT * FROM sale_line WHERE voided = 0 ORDER BY line")
    ]
    assert facts == appliance
    assert facts[0][4] > 0 and facts[1][4] > 0  # both lines share the order discount
    assert pg.execute("SELECT sum(tax) FROM sale_fact").fetchone() == (body["totals"]["tax"],)


def test_closed_shifts_take_the_same_z_numbers_as_on_the_appliance(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn
) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    first = till_for(store, wall)
    second = till_for(store, wall, register=store.new_register("Back till"))
    for till in (first, second):
        ok(till.open_shift(FLOAT))
    ok(first.send("sale.completed", cash_sale(first, tee, 2, 1299)))
    ok(second.send("sale.completed", cash_sale(second, tee, 1, 1299)))
    cash = {"2000": 5, "1000": 3}
    for till in (second, first):
        wall.advance(60)
        ok(
            till.send(
                "shift.closed", {"shift": till.shift, "cash": {"counts": cash, "total": 13000}}
            )
        )
    ingest_journal(pg, rt, size=5)

    cloud = pg.execute(
        "SELECT number, shift::text, register, sales, sales_total, counted_cash"
        " FROM z_summary ORDER BY number"
    ).fetchall()
    appliance = [
        (row["number"], row["shift"], row["register"])
        for row in rt.db.query("SELECT number, shift, register FROM z_report ORDER BY number")
    ]
    assert (
        [row[:3] for row in cloud]
        == appliance
        == [
            (1, second.shift, second.origin),
            (2, first.shift, first.origin),
        ]
    )
    assert [row[3:] for row in cloud] == [(1, 1299, 13000), (1, 2598, 13000)]


def test_batches_as_the_appliances_uplink_reads_them_are_ingested_and_acked(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn
) -> None:
    """The uplink's own read_batch and parse_ack, end to end without the broker."""
    from appliance.sync.uplink import parse_ack, read_batch

    example = Example(store, wall)
    example.run("BBCAA")
    rt, first, acks = store.rt, 1, []
    while (sent := read_batch(rt.db, first, max_events=3, max_bytes=256 * 1024)) is not None:
        ack = parse_ack(json.dumps(ingest_batch(pg, "s01", sent.payload)).encode())
        acks.append(ack)
        assert ack == ("applied_through", sent.last)
        first = sent.last + 1
    assert len(acks) > 1
    assert cloud_on_hand(pg) == appliance_on_hand(rt)
    assert pg.execute("SELECT count(*) FROM alert").fetchone() == (0,)
