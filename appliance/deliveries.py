"""Deliveries booked in from the admin pages, and stock adjustments made there.

A delivery's lines are typed or scanned one per line ("barcode-or-SKU [qty] [unit cost]"),
so a scanner that ends each scan with Enter fills the list by itself; the same item on
several lines is added up. The delivery is one `stock.received` event (and an adjustment one
`stock.adjusted`), made by push.apply_own and so checked exactly as a register's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance import push
from appliance.catalog.queries import exact_variant
from appliance.errors import Invalid
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember
from appliance.stock_counts import resolve_code
from protocol.money import Money

MAX_LINES = 5000
MAX_QTY = 10**9
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryLine:
    """One item of a delivery: how many came in, and at what unit cost if known."""

    variant: str
    qty: int
    cost: int | None


def parse_lines(rt: Runtime, text: str) -> list[DeliveryLine]:
    """The delivery's lines from the typed or scanned list; Invalid naming every bad line."""
    problems: list[str] = []
    merged: dict[str, DeliveryLine] = {}
    rows = [row.strip() for row in text.splitlines()]
    if len(rows) > MAX_LINES:
        raise Invalid(
            f"at most {MAX_LINES} lines", code="too_many_lines", details={"field": "lines"}
        )
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        parts = _SPLIT.split(row)
        if len(parts) > 3:
            problems.append(f"line {number}: write barcode or SKU, quantity, unit cost")
            continue
        code, qty_text, cost_text = parts + [""] * (3 - len(parts))
        qty_text = qty_text or "1"
        variant = exact_variant(rt.db, code)
        if variant is None:
            problems.append(f"line {number}: no active item has the barcode or SKU {code}")
            continue
        if not qty_text.isdigit() or not 1 <= int(qty_text) <= MAX_QTY:
            problems.append(f"line {number}: the quantity {qty_text} is not a whole number from 1")
            continue
        cost: int | None = None
        if cost_text:
            try:
                cost = Money.parse(cost_text, rt.settings.currency).amount
            except ValueError as exc:
                problems.append(f"line {number}: {exc}")
                continue
            if cost < 0:
                problems.append(f"line {number}: a cost is not negative")
                continue
        before = merged.get(variant)
        if before is not None:
            if before.cost is not None and cost is not None and before.cost != cost:
                problems.append(f"line {number}: {code} is listed before at another cost")
                continue
            merged[variant] = DeliveryLine(
                variant=variant,
                qty=min(before.qty + int(qty_text), MAX_QTY),
                cost=before.cost if before.cost is not None else cost,
            )
        else:
            merged[variant] = DeliveryLine(variant=variant, qty=int(qty_text), cost=cost)
    if problems:
        raise Invalid("; ".join(problems[:10]), code="bad_lines", details={"field": "lines"})
    if not merged:
        raise Invalid("list at least one item", code="bad_lines", details={"field": "lines"})
    return list(merged.values())


def receive(
    rt: Runtime,
    staff: StaffMember,
    lines: list[DeliveryLine],
    *,
    vendor: str | None,
    reference: str | None,
) -> str:
    """Book a delivery in: one stock.received event; its id."""
    body: dict[str, object] = {
        "lines": [
            {"variant": line.variant, "qty": line.qty}
            | ({} if line.cost is None else {"cost": line.cost})
            for line in lines
        ]
    }
    if vendor:
        body["vendor"] = vendor
    if reference:
        body["reference"] = reference
    return push.apply_own(rt, type="stock.received", body=body, actor=staff).id


def adjust(
    rt: Runtime, staff: StaffMember, *, code: str, qty: int, reason: str, note: str | None
) -> str:
    """One stock correction (qty +found / −lost) with a reason: a stock.adjusted event; its id."""
    variant = resolve_code(rt, code)
    body: dict[str, object] = {"lines": [{"variant": variant, "qty": qty, "reason": reason}]}
    if note:
        body["note"] = note
    return push.apply_own(rt, type="stock.adjusted", body=body, actor=staff).id


def adjustment_reasons(rt: Runtime) -> list[tuple[str, str]]:
    """The active stock adjustment reasons as (code, label), by label: the registers' list."""
    return [
        (row["code"], row["label"])
        for row in rt.db.query(
            "SELECT code, label FROM reason_code WHERE kind = 'adjust' AND active = 1"
            " ORDER BY label"
        )
    ]
