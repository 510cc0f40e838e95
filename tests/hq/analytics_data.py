"""Months of trading for the analytics tests, as registers seal it and ingest takes it in:
a catalog, each store's own variant ids (its directory upload), and each day a shift with
sales (cash and card, weighed cheese, some discounted), returns by reason, post-voids, pay-ins
and pay-outs, and a close a little over or short."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.catalog import import_csv
from cloud.ingest import ingest_batch
from cloud.store_directory import apply_upload
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope, Override
from protocol.ids import new_id
from tests.cloud.batches import batch, offline_till

# sku, product, category, vendor, cost, price (minor units; cost None: not known)
ITEMS: tuple[tuple[str, str, str, str, int | None, int], ...] = (
    ("TEE-M", "Classic Tee M", "Apparel", "Acme", 450, 1299),
    ("TEE-L", "Classic Tee L", "Apparel", "Acme", 450, 1299),
    ("HOODIE", "Hoodie", "Apparel", "Acme", 1800, 3999),
    ("SOCKS", "Socks", "Apparel", "Knitters", 120, 399),
    ("MUG", "Mug", "Home", "Potters", 300, 950),
    ("BOWL", "Bowl", "Home", "Potters", 350, 1100),
    ("CANDLE", "Candle", "Home", "Potters", 400, 1500),
    ("CHEESE", "Farm cheese (kg)", "Deli", "Farm", 1333, 2000),
    ("JAM", "Jam", "Deli", "Farm", 180, 450),
    ("WRAP", "Gift wrap", "Home", "Potters", None, 200),
    ("SCARF", "Scarf", "Apparel", "Knitters", 700, 2499),
    ("OLD-LAMP", "Old lamp", "Home", "Potters", 2000, 4500),
)
# Weights of how often each sells (the old lamp never does).
POPULARITY = (9, 7, 3, 6, 8, 4, 3, 5, 4, 2, 2, 0)
STAFF = ("anna", "ben", "cara")


def catalog_csv() -> bytes:
    lines = [
        "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
        "reorder_qty,pack_size,active"
    ]
    for sku, product, category, vendor, cost, price in ITEMS:
        money = "" if cost is None else f"{cost / 100:.2f}"
        lines.append(
            f"{sku},{product},,,{category},{vendor},{money},{price / 100:.2f},standard,,,1,1"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Trading:
    """What was made: each store's variant ids by SKU, and the events by store."""

    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    events: dict[str, list[Envelope]] = field(default_factory=dict)


def trade(stores: dict[str, str], days: list[date], seed: int = 7) -> Trading:
    """Each store's days of trading (stores: id -> zone)."""
    rng = random.Random(seed)
    out = Trading()
    for n, store in enumerate(sorted(stores)):
        variants = {sku: new_id() for sku, *_ in ITEMS}
        out.variants[store] = variants
        till = offline_till(store, f"{store}-r01")
        events: list[Envelope] = []
        size = 1.0 + 0.4 * n
        for day in days:
            # Opening at 09:00 in the store's day, give or take its zone (UTC here).
            till.wall.ms = int(
                datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC).timestamp() * 1000
            )
            events += _day(till, rng, variants, day, size)
        out.events[store] = events
    return out


def _day(
    till: Any, rng: random.Random, variants: dict[str, str], day: date, size: float
) -> list[Envelope]:
    events: list[Envelope] = []
    till.shift = new_id()
    cashier = rng.choice(STAFF)
    events.append(
        till.event(
            "shift.opened",
            {"shift": till.shift, "float": {"counts": {"5000": 2}, "total": 10000}},
            actor=cashier,
        )
    )
    expected = 10000
    season = 1.8 if day.month == 12 else 1.0
    weekend = 1.4 if day.weekday() >= 5 else 1.0
    sales: list[tuple[Envelope, int]] = []
    for _ in range(max(1, int(rng.gauss(8, 2) * season * weekend * size))):
        till.wall.advance(rng.randint(300, 2400))
        lines = []
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            index = rng.choices(range(len(ITEMS)), weights=POPULARITY)[0]
            sku, _, _, _, _, price = ITEMS[index]
            if sku == "CHEESE":
                lines.append((variants[sku], rng.randint(150, 900), 1000, price))
            else:
                lines.append((variants[sku], rng.choice((1, 1, 1, 2, 3)), 1, price))
        cash = rng.random() < 0.4
        discount = 100 if rng.random() < 0.1 else 0
        body = sale_body(till, lines, cash, discount)
        env = till.event("sale.completed", body, actor=cashier)
        events.append(env)
        took = body["totals"]["total"] if cash else 0
        sales.append((env, took))
        expected += took
        roll = rng.random()
        if roll < 0.06:
            till.wall.advance(120)
            variant, qty, scale, price = lines[0]
            refund = round(qty * price / scale)
            back_cash = rng.random() < 0.5
            reason = rng.choice(("wrong_size", "wrong_size", "defective", "changed_mind"))
            events.append(
                till.event(
                    "return.completed",
                    return_body(till, variant, qty, scale, refund, reason, back_cash),
                    actor=cashier,
                )
            )
            expected -= refund if back_cash else 0
        elif roll < 0.08 and len(sales) > 1:
            voided, took_then = sales.pop(rng.randrange(len(sales)))
            till.wall.advance(60)
            events.append(
                till.event(
                    "sale.voided",
                    {"sale": voided.id, "receipt": voided.body["receipt"], "reason": "mistake"},
                    actor=cashier,
                    override=Override(
                        id=new_id(), action="post_void", approver="manager-1", offline=False
                    ),
                )
            )
            expected -= took_then
        elif roll < 0.1:
            kind = rng.choice(("pay_in", "pay_out"))
            amount = rng.randint(1, 20) * 100
            events.append(
                till.event(
                    "cash.moved",
                    {"shift": till.shift, "kind": kind, "amount": amount, "reason": "float"},
                    actor=cashier,
                )
            )
            expected += amount if kind == "pay_in" else -amount
    till.wall.advance(900)
    # Ben counts short now and then.
    off = rng.choice((0, 0, 0, 50, -20)) + (-500 if cashier == "ben" and rng.random() < 0.3 else 0)
    counted = expected + off
    events.append(
        till.event(
            "shift.closed",
            {"shift": till.shift, "cash": {"counts": {"1": counted}, "total": counted}},
            actor=cashier,
        )
    )
    return events


def sale_body(
    till: Any, lines: list[tuple[str, int, int, int]], cash: bool, discount: int = 0
) -> dict[str, Any]:
    """A sale.completed of (variant, qty, qty_scale, unit_price) lines, tax inclusive."""
    gross = [round(qty * price / scale) for _, qty, scale, price in lines]
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
            {"kind": "cash", "amount": total, "tendered": total}
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


def return_body(
    till: Any, variant: str, qty: int, scale: int, refund: int, reason: str, cash: bool
) -> dict[str, Any]:
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


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def load(dsn: str, stores: dict[str, str], trading: Trading, *, batch_size: int = 200) -> None:
    """The catalog, each store (name, zone, variant ids, staff names) and its events through
    ingest, in batches as an uplink sends them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        report = import_csv(conn, catalog_csv())
        assert report.applied, report
        for store, zone in stores.items():
            conn.execute(
                "INSERT INTO store (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                (store, f"Store {store.upper()}"),
            )
            upload = DirectoryUpload(
                variants_after=0,
                variants=[
                    (n, v, sku)
                    for n, (sku, v) in enumerate(trading.variants[store].items(), start=1)
                ],
            )
            assert apply_upload(conn, store, upload).error is None
            conn.execute(
                "INSERT INTO store_directory (store, version, settings) VALUES (%s, 1, %s)"
                " ON CONFLICT (store) DO UPDATE SET settings = excluded.settings",
                (store, Jsonb({"timezone": zone})),
            )
            for staff in STAFF:
                conn.execute(
                    "INSERT INTO store_staff (store, id, name, role, pin_hash, active,"
                    " created_at, updated_at) VALUES (%s, %s, %s, 'cashier',"
                    " '$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA', true, '', '')"
                    " ON CONFLICT DO NOTHING",
                    (store, staff, staff.title()),
                )
            events = trading.events[store]
            for first in range(0, len(events), batch_size):
                chunk = events[first : first + batch_size]
                ack = ingest_batch(conn, store, batch(first + 1, chunk))
                assert ack == {"applied_through": first + len(chunk)}, ack
