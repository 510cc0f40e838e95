"""Purchase orders drafted from the reorder report (issue 7; decisions.md §58).

One order per vendor, its lines per store (where the goods go) and SKU, in whole packs. A draft
is made from the report's suggestions for that vendor in the buyer's scope of stores, its
quantities can be edited while it is a draft, then it is marked sent, and received or
cancelled. Draft and sent orders are "on order": `cloud.reorder.load_items` counts them in the
inventory position, so the report does not suggest again what is already ordered. Nothing here
talks to the vendor: sending is the buyer's (the CSV or the printable page).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import psycopg

from cloud.reorder import Suggestion
from protocol.money import Money
from webui.spreadsheet import csv_cell

Conn = psycopg.Connection[Any]

STATES = ("draft", "sent", "received", "cancelled")
# state -> the states it may go to
MOVES: dict[str, tuple[str, ...]] = {
    "draft": ("sent", "cancelled"),
    "sent": ("received", "cancelled"),
    "received": (),
    "cancelled": (),
}
MAX_QTY = 1_000_000


class OrderError(ValueError):
    """A change an order cannot take; `field` names the form field at fault, if one is."""

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    store: str
    sku: str
    product: str | None
    qty: int
    suggested: int
    pack_size: int
    unit_cost: int | None

    @property
    def value(self) -> int | None:
        return None if self.unit_cost is None else self.qty * self.unit_cost

    @property
    def field(self) -> str:
        """The form field of this line's quantity."""
        return f"qty-{self.store}-{self.sku}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: int
    vendor: str
    state: str
    note: str
    currency: str
    created_by: str | None
    created_at: datetime
    sent_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None
    lines: tuple[Line, ...]

    @property
    def units(self) -> int:
        return sum(line.qty for line in self.lines)

    @property
    def total(self) -> int:
        """The order's value at cost (lines without a cost count 0)."""
        return sum(line.value or 0 for line in self.lines)

    @property
    def uncosted(self) -> int:
        return sum(1 for line in self.lines if line.unit_cost is None)

    def money(self, amount: int | None) -> str:
        return "" if amount is None else Money(amount, self.currency).to_decimal_string()


def draft(
    conn: Conn,
    vendor: str,
    suggestions: Iterable[Suggestion],
    *,
    pack_sizes: Mapping[str, int],
    unit_costs: Mapping[str, int | None],
    currency: str,
    by: int | None,
) -> int:
    """A draft order to `vendor` (by name) of the suggestions' order quantities for it; its id.
    `pack_sizes` and `unit_costs` are by upper-case SKU. Nothing to order is an error."""
    lines = [s for s in suggestions if s.order_qty > 0 and (s.vendor or "") == vendor]
    if not lines:
        raise OrderError(f"nothing to order from {vendor} in this report", code="nothing_to_order")
    with conn.transaction():
        row = conn.execute(
            "SELECT id FROM catalog_vendor WHERE name = %s AND active", (vendor,)
        ).fetchone()
        if row is None:
            raise OrderError(f"no active vendor is named {vendor}", code="unknown_vendor")
        order = conn.execute(
            "INSERT INTO purchase_order (vendor_id, currency, created_by) VALUES (%s, %s, %s)"
            " RETURNING id",
            (row[0], currency, by),
        ).fetchone()
        assert order is not None
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO purchase_order_line (order_id, store, sku, qty, suggested,"
                " pack_size, unit_cost) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        order[0],
                        s.store,
                        s.sku,
                        s.order_qty,
                        s.order_qty,
                        pack_sizes.get(s.sku.upper(), 1),
                        unit_costs.get(s.sku.upper()),
                    )
                    for s in lines
                ],
            )
    return int(order[0])


_ORDER = """
SELECT o.id, ve.name, o.state, o.note, o.currency, u.name, o.created_at, o.sent_at,
    o.received_at, o.cancelled_at
FROM purchase_order o JOIN catalog_vendor ve ON ve.id = o.vendor_id
LEFT JOIN hq_user u ON u.id = o.created_by
"""


def get(conn: Conn, order_id: int, *, for_update: bool = False) -> Order | None:
    """An order with its lines (by store and SKU), or None."""
    row = conn.execute(
        _ORDER + " WHERE o.id = %s" + (" FOR UPDATE OF o" if for_update else ""), (order_id,)
    ).fetchone()
    if row is None:
        return None
    lines = conn.execute(
        "SELECT l.store, l.sku, p.name, l.qty, l.suggested, l.pack_size, l.unit_cost"
        " FROM purchase_order_line l"
        " LEFT JOIN catalog_variant v ON upper(v.sku) = upper(l.sku)"
        " LEFT JOIN catalog_product p ON p.id = v.product_id"
        " WHERE l.order_id = %s ORDER BY l.store, upper(l.sku)",
        (order_id,),
    ).fetchall()
    return Order(
        id=row[0],
        vendor=row[1],
        state=row[2],
        note=row[3],
        currency=row[4],
        created_by=row[5],
        created_at=row[6],
        sent_at=row[7],
        received_at=row[8],
        cancelled_at=row[9],
        lines=tuple(
            Line(
                store=r[0],
                sku=r[1],
                product=r[2],
                qty=r[3],
                suggested=r[4],
                pack_size=r[5],
                unit_cost=r[6],
            )
            for r in lines
        ),
    )


def orders(conn: Conn, states: Iterable[str] = STATES) -> list[Order]:
    """Orders in these states, newest first (with their lines)."""
    ids = conn.execute(
        "SELECT id FROM purchase_order WHERE state = ANY(%s) ORDER BY id DESC LIMIT 200",
        (list(states),),
    ).fetchall()
    found = (get(conn, r[0]) for r in ids)
    return [o for o in found if o is not None]


def set_quantities(conn: Conn, order_id: int, given: Mapping[str, str]) -> dict[str, int]:
    """Change a draft's quantities from form fields (`Line.field` -> text); fields of lines
    not on the order are ignored. Every value is checked before any is written: the first bad
    one is an OrderError naming its field. Returns what changed (field -> new quantity)."""
    with conn.transaction():
        order = get(conn, order_id, for_update=True)
        if order is None:
            raise OrderError(f"no purchase order {order_id}", code="unknown_order")
        if order.state != "draft":
            raise OrderError(
                f"order {order_id} is {order.state}: only a draft can be changed",
                code="order_not_draft",
            )
        changed: dict[str, int] = {}
        for line in order.lines:
            raw = given.get(line.field)
            if raw is None:
                continue
            text = raw.strip()
            if not text.isascii() or not text.isdigit() or len(text) > 7:
                raise OrderError(
                    f"{line.sku} for {line.store}: a whole number of units",
                    code="invalid_quantity",
                    field=line.field,
                )
            qty = int(text)
            if qty > MAX_QTY:
                raise OrderError(
                    f"{line.sku} for {line.store}: at most {MAX_QTY:,} units",
                    code="invalid_quantity",
                    field=line.field,
                )
            if qty % line.pack_size:
                raise OrderError(
                    f"{line.sku} comes in packs of {line.pack_size}: {qty} is not whole packs",
                    code="not_whole_packs",
                    field=line.field,
                )
            if qty != line.qty:
                changed[line.field] = qty
        for line in order.lines:
            if line.field in changed:
                conn.execute(
                    "UPDATE purchase_order_line SET qty = %s"
                    " WHERE order_id = %s AND store = %s AND sku = %s",
                    (changed[line.field], order_id, line.store, line.sku),
                )
        if changed:
            conn.execute("UPDATE purchase_order SET updated_at = now() WHERE id = %s", (order_id,))
    return changed


def move(conn: Conn, order_id: int, state: str) -> Order:
    """Mark an order sent, received or cancelled (from the states that may go there)."""
    if state not in STATES or state == "draft":
        raise OrderError(
            "state is sent, received or cancelled", code="invalid_state", field="state"
        )
    with conn.transaction():
        order = get(conn, order_id, for_update=True)
        if order is None:
            raise OrderError(f"no purchase order {order_id}", code="unknown_order")
        if state not in MOVES[order.state]:
            raise OrderError(
                f"order {order_id} is {order.state}: it cannot be marked {state}",
                code="invalid_move",
                field="state",
            )
        if state == "sent" and order.units == 0:
            raise OrderError(
                f"order {order_id} orders nothing: give a line a quantity first",
                code="empty_order",
            )
        column = {"sent": "sent_at", "received": "received_at", "cancelled": "cancelled_at"}[state]
        conn.execute(
            f"UPDATE purchase_order SET state = %s, {column} = now(), updated_at = now()"
            " WHERE id = %s",
            (state, order_id),
        )
        moved = get(conn, order_id)
    assert moved is not None
    return moved


COLUMNS = ("order", "vendor", "state", "store", "sku", "product", "qty", "packs", "pack_size",
           "unit_cost", "value", "suggested", "currency")  # fmt: skip


def write_csv(order: Order, out: TextIO) -> None:
    """The order's lines as CSV (money as decimals), each cell safe for a spreadsheet."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in order.lines:
        writer.writerow(
            [
                order.id, csv_cell(order.vendor), order.state, line.store, csv_cell(line.sku),
                csv_cell(line.product or ""), line.qty, line.qty // line.pack_size,
                line.pack_size, order.money(line.unit_cost), order.money(line.value),
                line.suggested, order.currency,
            ]
        )  # fmt: skip
