"""Returns of another store's sale (decisions.md §43).

A receipt whose number names another store is looked up in the cloud (`protocol.chain`
ReceiptRequest): the sale as its register sealed it, each line's SKU, and what the other
stores have returned of it. This appliance prices the sale again with its own catalog's tax
classes (found by SKU) and the chain's tax rules, and takes it only if that gives the
sale's own totals: a line refunded here is then refunded exactly as it was paid. The result
is kept in `foreign_sale`, and a `return.completed` naming the receipt as `original` is
checked against it in the push's transaction (what is left = sold − returned elsewhere, as
the cloud last said − returned here; refunds to the original tenders). Offline there is no
lookup, and the register's no-receipt return applies.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from appliance.errors import Invalid, NotFound
from appliance.runtime import Runtime
from appliance.selling import VariantFacts, price
from appliance.sync.chain import BadCloudReply, CloudError, call_cloud
from protocol.bodies import BodyError, SaleCompleted, decode_body
from protocol.chain import ReceiptReply, ReceiptRequest

if TYPE_CHECKING:
    from appliance.push import Apply

_log = logging.getLogger(__name__)


def is_foreign(rt: Runtime, receipt: str) -> bool:
    """Whether a receipt number is another store's (`s02-r01-000017` seen in `s01`)."""
    return not receipt.startswith(rt.store + "-")


def _local_returns(rt: Runtime, sale_id: str) -> tuple[dict[int, tuple[int, int]], dict[str, int]]:
    """What was returned here against a sale: per original line (qty, refund), and refunded
    per tender kind."""
    lines = {
        int(row["original_line"]): (int(row["qty"]), int(row["refund"]))
        for row in rt.db.query(
            "SELECT original_line, SUM(qty) AS qty, SUM(refund) AS refund FROM return_line"
            " WHERE original_sale = ? AND original_line IS NOT NULL GROUP BY original_line",
            (sale_id,),
        )
    }
    tenders = {
        row["kind"]: int(row["refunded"])
        for row in rt.db.query(
            "SELECT p.kind, -SUM(p.amount) AS refunded FROM payment p"
            " JOIN return_doc r ON r.id = p.event WHERE r.original_sale = ? GROUP BY p.kind",
            (sale_id,),
        )
    }
    return lines, tenders


def _priced(rt: Runtime, reply: ReceiptReply) -> dict[str, Any]:
    """The other store's sale priced here, as kept in `foreign_sale`; Invalid (422) when this
    store cannot price it the way it was paid."""
    try:
        body = decode_body("sale.completed", reply.body)
    except BodyError as exc:
        raise BadCloudReply(
            f"the cloud's copy of receipt {reply.receipt} is not a sale: {exc}"
        ) from None
    assert isinstance(body, SaleCompleted)
    if body.receipt != reply.receipt:
        raise BadCloudReply(f"the cloud answered with receipt {body.receipt}, not {reply.receipt}")
    skus = {line.line: reply.skus.get(str(line.line)) for line in body.lines}
    rows = {
        row["sku"].upper(): row
        for row in rt.db.query(
            "SELECT v.uid, v.sku, v.tax_class, f.doc ->> '$.title' AS title FROM variant v"
            " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
            " WHERE upper(v.sku) IN (SELECT upper(value) FROM json_each(?))",
            (json.dumps([s for s in skus.values() if s]),),
        )
    }
    facts: dict[str, VariantFacts | None] = {}
    missing = []
    for line in body.lines:
        sku = skus[line.line]
        row = rows.get(sku.upper()) if sku else None
        if row is None:
            missing.append(sku or f"line {line.line}")
            continue
        facts[line.variant] = VariantFacts(
            uid=row["uid"],
            sku=row["sku"],
            title=row["title"],
            tax_class=row["tax_class"],
            list_price=None,
        )
    if missing:
        raise Invalid(
            f"receipt {reply.receipt} has items this store does not sell ({', '.join(missing)}):"
            " return them without the receipt, or at their store",
            code="foreign_items_unknown",
            details={"receipt": reply.receipt, "items": missing},
        )
    if body.currency != rt.settings.currency:
        raise Invalid(
            f"receipt {reply.receipt} was paid in {body.currency}; this store refunds"
            f" {rt.settings.currency}",
            code="wrong_currency",
        )
    try:
        totals = price(rt, body, facts)
    except ValueError as exc:
        raise Invalid(
            f"receipt {reply.receipt} cannot be priced here: {exc}", code="foreign_receipt_mismatch"
        ) from None
    mine = (totals.subtotal, totals.discount, totals.tax, totals.total)
    theirs = (body.totals.subtotal, body.totals.discount, body.totals.tax, body.totals.total)
    if mine != theirs:
        # Tax rules or classes differ between the two stores: refunds worked out here would
        # not be what was paid. The no-receipt return is the way.
        raise Invalid(
            f"receipt {reply.receipt} comes to {theirs[3]} at its store but {mine[3]} here"
            " (tax rules differ): return the items without the receipt",
            code="foreign_receipt_mismatch",
            details={"receipt": reply.receipt},
        )
    elsewhere = {r.line: r for r in reply.returned}
    lines = []
    for line, result in zip(body.lines, totals.lines, strict=True):
        known = facts[line.variant]
        assert known is not None
        other = elsewhere.get(line.line)
        lines.append(
            {
                "line": line.line,
                "variant": known.uid,
                "sku": known.sku,
                "title": known.title,
                "qty": line.qty,
                "qty_scale": line.qty_scale,
                "unit_price": line.unit_price,
                "gross": result.gross,
                "line_discount": result.line_discount,
                "order_discount": result.order_discount,
                "net": result.net,
                "tax": result.tax,
                "total": result.total,
                "tax_rate_ppm": rt.settings.tax_rate_ppm(known.tax_class),
                "voided": line.voided,
                "returned_elsewhere": 0 if other is None else other.qty,
                "refunded_elsewhere": 0 if other is None else other.refund,
            }
        )
    paid: dict[str, dict[str, Any]] = {}
    for tender in body.tenders:
        entry = paid.setdefault(tender.kind, {"kind": tender.kind, "paid": 0, "reference": None})
        entry["paid"] += tender.amount
        entry["reference"] = entry["reference"] or tender.reference
    return {
        "id": reply.id,
        "receipt": reply.receipt,
        "store": reply.store,
        "register": reply.register,
        "shift": body.shift,
        "actor": reply.actor,
        "at": reply.at,
        "currency": body.currency,
        "catalog_version": body.catalog_version,
        "subtotal": totals.subtotal,
        "discount": totals.discount,
        "tax": totals.tax,
        "total": totals.total,
        "voided": reply.voided,
        "lines": lines,
        "tenders": [
            {**entry, "refunded_elsewhere": reply.refunded.get(kind, 0)}
            for kind, entry in paid.items()
        ],
    }


def foreign_receipt(rt: Runtime, number: str) -> dict[str, Any]:
    """GET /receipts/{number} for another store's receipt: asked of the cloud, priced here,
    kept for the return, and answered like one of this store's (with this store's variant
    ids, and what has been returned anywhere, this store's own returns included)."""
    try:
        reply = call_cloud(rt, ReceiptRequest(receipt=number))
    except CloudError as exc:
        if exc.code == "unknown_receipt":
            raise NotFound(
                f"no sale with receipt {number} in the chain", code="unknown_receipt"
            ) from None
        raise
    if not isinstance(reply, ReceiptReply):
        raise BadCloudReply(f"the cloud answered a receipt with {type(reply).__name__}")
    doc = _priced(rt, reply)
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO foreign_sale (id, receipt, store, doc, fetched_ms) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, fetched_ms = excluded.fetched_ms",
            (doc["id"], number, doc["store"], json.dumps(doc), rt.now_ms()),
        )
    return _as_receipt(rt, doc)


def _as_receipt(rt: Runtime, doc: dict[str, Any]) -> dict[str, Any]:
    """The kept document in GET /receipts' shape, counting this store's returns too."""
    here, refunded_here = _local_returns(rt, doc["id"])
    lines = []
    for line in doc["lines"]:
        qty_here, refund_here = here.get(line["line"], (0, 0))
        returned = line["returned_elsewhere"] + qty_here
        lines.append(
            {
                "line": line["line"],
                "variant": line["variant"],
                "sku": line["sku"],
                "title": line["title"],
                "qty": line["qty"],
                "qty_scale": line["qty_scale"],
                "unit_price": line["unit_price"],
                "gross": line["gross"],
                "discount": line["line_discount"] + line["order_discount"],
                "tax": line["tax"],
                "total": line["total"],
                "tax_rate_ppm": line["tax_rate_ppm"],
                "voided": line["voided"],
                "returned": returned,
                "returnable": 0
                if line["voided"] or doc["voided"]
                else max(0, line["qty"] - returned),
                "refunded": line["refunded_elsewhere"] + refund_here,
            }
        )
    return {
        **{k: doc[k] for k in ("id", "receipt", "store", "register", "shift", "actor", "at")},
        **{k: doc[k] for k in ("currency", "catalog_version", "subtotal", "discount", "tax")},
        "total": doc["total"],
        "voided": doc["voided"],
        "void": None,
        "lines": lines,
        "tenders": [
            {
                "kind": t["kind"],
                "paid": t["paid"],
                "refunded": t["refunded_elsewhere"] + refunded_here.get(t["kind"], 0),
                "reference": t["reference"],
            }
            for t in doc["tenders"]
        ],
    }


def kept_sale(step: Apply, receipt: str) -> dict[str, Any] | None:
    """The other store's sale a return names, as looked up before it (None, a breach, when
    it was not: the register must look the receipt up first)."""
    row = step.rt.db.one("SELECT doc FROM foreign_sale WHERE receipt = ?", (receipt,))
    if row is None:
        step.breach(
            "unknown_receipt",
            f"receipt {receipt} is another store's and was not looked up here first",
            receipt=receipt,
        )
        return None
    doc: dict[str, Any] = json.loads(row["doc"])
    if doc["voided"]:
        step.breach("voided_sale", f"receipt {receipt} was voided")
    return doc


def refundable(rt: Runtime, doc: dict[str, Any]) -> dict[str, int]:
    """What may still go back to each tender kind of another store's sale: what it was paid,
    less what was refunded to it anywhere (the cloud's figure and this store's own returns)."""
    _, refunded_here = _local_returns(rt, doc["id"])
    return {
        t["kind"]: t["paid"] - t["refunded_elsewhere"] - refunded_here.get(t["kind"], 0)
        for t in doc["tenders"]
    }
