"""The stock ledger: receipts, adjustments, counts and transfers; on-hand by the protocol fold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from appliance.errors import NotFound
from appliance.runtime import Runtime
from protocol.bodies import (
    StockAdjusted,
    StockCounted,
    StockReceived,
    TransferReceived,
    TransferShipped,
)
from protocol.envelope import format_at
from protocol.hlc import HLC
from protocol.permissions import Action
from protocol.stock import Entry, Fold, Movement, fold

if TYPE_CHECKING:
    from appliance.push import Apply

# Two counts of one variant this close together that disagree call for a recount.
RECOUNT_WINDOW_MS = 30 * 60_000


def ledger(
    step: Apply, line: int, variant: str, kind: Movement, qty: int, reason: str | None = None
) -> None:
    """One stock movement of this event."""
    book(
        step.rt,
        event=step.env.id,
        line=line,
        variant=variant,
        kind=kind,
        qty=qty,
        hlc=step.hlc,
        origin=step.env.origin,
        reason=reason,
    )
    step.touched.add(variant)


def book(
    rt: Runtime,
    *,
    event: str,
    line: int,
    variant: str,
    kind: Movement,
    qty: int,
    hlc: HLC,
    origin: str,
    reason: str | None = None,
) -> None:
    """Write one ledger row and keep the variant's level (on-hand) in step with it.

    A delta stamped after the anchoring count moves on-hand; one stamped before it (a late
    arrival) is absorbed by that count, as in the fold. A count re-levels the variant from
    the ledger: it may become the new anchor, or land behind the current one.
    """
    rt.db.execute(
        "INSERT INTO stock_ledger (event, line, variant, kind, qty, hlc_wall, hlc_counter,"
        " hlc_node, origin, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event, line, variant, kind.value, qty, hlc.wall_ms, hlc.counter, hlc.node, origin, reason),
    )
    if kind is Movement.COUNT:
        relevel(rt, variant)
        return
    rt.db.execute(
        "INSERT INTO stock_level (variant, on_hand) VALUES (:v, :q)"
        " ON CONFLICT (variant) DO UPDATE SET on_hand = on_hand + :q"
        " WHERE anchor_wall IS NULL OR (:w, :c, :n, :o, :k)"
        "  > (anchor_wall, anchor_counter, anchor_node, anchor_origin, 'count')",
        {
            "v": variant,
            "q": qty,
            "w": hlc.wall_ms,
            "c": hlc.counter,
            "n": hlc.node,
            "o": origin,
            "k": kind.value,
        },
    )


# The fold in SQL: the anchor is the COUNT with the greatest (hlc, origin), ties broken by the
# fold's whole key (rows can share a stamp: a replayed count that lists a variant twice is
# kept, and both folds must agree); on-hand is its quantity plus every later delta. A
# property test holds it, and the level rows it writes, to protocol.stock.
_LEVEL_SQL = """
INSERT OR REPLACE INTO stock_level (variant, on_hand, anchor_wall, anchor_counter, anchor_node,
        anchor_origin)
    SELECT v.variant,
        COALESCE(a.qty, 0) + COALESCE((
            SELECT SUM(l.qty) FROM stock_ledger l
            WHERE l.variant = v.variant AND l.kind != 'count'
            AND (a.hlc_wall IS NULL
                 OR (l.hlc_wall, l.hlc_counter, l.hlc_node, l.origin, l.kind)
                    > (a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin, 'count'))
        ), 0),
        a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin
    FROM (SELECT :v AS variant) v
    LEFT JOIN stock_ledger a ON (a.event, a.line) = (
        SELECT c.event, c.line FROM stock_ledger c
        WHERE c.variant = v.variant AND c.kind = 'count'
        ORDER BY c.hlc_wall DESC, c.hlc_counter DESC, c.hlc_node DESC, c.origin DESC,
            c.event DESC, c.qty DESC
        LIMIT 1)
"""


def relevel(rt: Runtime, variant: str) -> None:
    """Recompute a variant's level from its ledger (after a count)."""
    rt.db.execute(_LEVEL_SQL, {"v": variant})


def _known_variants(step: Apply, uids: list[str]) -> set[str]:
    """The variants that exist; each unknown one is a breach."""
    found = {
        row[0]
        for row in step.rt.db.query(
            "SELECT uid FROM variant WHERE uid IN (SELECT value FROM json_each(?))",
            ("[" + ",".join(f'"{u}"' for u in uids) + "]",),
        )
    }
    for uid in uids:
        if uid not in found:
            step.breach("unknown_variant", f"no variant {uid}", variant=uid)
    return found


def apply_received(step: Apply) -> None:
    """stock.received: goods booked in (any staff member)."""
    received: StockReceived = step.body
    step.actor()
    _known_variants(step, [line.variant for line in received.lines])
    for index, line in enumerate(received.lines, start=1):
        ledger(step, index, line.variant, Movement.RECEIPT, line.qty, received.reference)
    _flag_negative(step)


def apply_adjusted(step: Apply) -> None:
    """stock.adjusted: corrections with a reason; a supervisor or their approval."""
    adjusted: StockAdjusted = step.body
    step.authorize(Action.STOCK_ADJUST)
    reasons = {
        row[0]
        for row in step.rt.db.query(
            "SELECT code FROM reason_code WHERE kind = 'adjust' AND active = 1"
        )
    }
    _known_variants(step, [line.variant for line in adjusted.lines])
    for index, line in enumerate(adjusted.lines, start=1):
        if line.qty == 0:
            step.breach("bad_quantity", f"line {index}: an adjustment changes the quantity")
        if line.reason not in reasons:
            step.breach("unknown_reason", f"line {index}: no adjustment reason {line.reason}")
        ledger(step, index, line.variant, Movement.ADJUST, line.qty, line.reason)
    _flag_negative(step)


def apply_counted(step: Apply) -> None:
    """stock.counted: absolute counts, approved by a manager; close disagreeing counts flag."""
    counted: StockCounted = step.body
    rt = step.rt
    step.authorize(Action.STOCK_COUNT_APPROVE)
    if rt.db.scalar("SELECT 1 FROM stock_count WHERE id = ?", (counted.count,)):
        step.breach("duplicate_count", f"count {counted.count} was already booked")
        return
    variants = [line.variant for line in counted.lines]
    if len(set(variants)) != len(variants):
        step.breach("duplicate_line", "each variant is counted once per count")
    _known_variants(step, variants)
    rt.db.execute(
        "INSERT INTO stock_count (id, event, scope, blind, at, actor, lines) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            counted.count,
            step.env.id,
            counted.scope,
            int(counted.blind),
            step.env.at,
            step.env.actor,
            len(variants),
        ),
    )
    for index, line in enumerate(counted.lines, start=1):
        ledger(step, index, line.variant, Movement.COUNT, line.counted)
    # Only a variant counted by another count within the window can need a recount: the
    # whole fold is run for those alone (a full count lists every variant in the store).
    wall = step.hlc.wall_ms
    near = {
        row[0]
        for row in rt.db.query(
            "SELECT DISTINCT variant FROM stock_ledger WHERE kind = 'count' AND event != ?"
            " AND hlc_wall BETWEEN ? AND ? AND variant IN (SELECT value FROM json_each(?))",
            (
                step.env.id,
                wall - RECOUNT_WINDOW_MS,
                wall + RECOUNT_WINDOW_MS,
                msgspec.json.encode(variants).decode(),
            ),
        )
    }
    recounts = []
    for line in counted.lines:
        if line.variant not in near:
            continue
        counts = on_hand(rt, line.variant).counts
        mine = next((i for i, c in enumerate(counts) if c.entry.event_id == step.env.id), None)
        if mine is None:
            continue
        # A count disagrees with the one just before it when it finds shrink. A late count
        # (replayed offline) can also land just before a later one and change *its* shrink.
        pairs = [(counts[mine - 1], counts[mine])] if mine else []
        if mine + 1 < len(counts):
            pairs.append((counts[mine], counts[mine + 1]))
        if any(
            after.shrink
            and before.entry.event_id != after.entry.event_id
            and after.entry.hlc.wall_ms - before.entry.hlc.wall_ms <= RECOUNT_WINDOW_MS
            for before, after in pairs
        ):
            recounts.append(line.variant)
    if recounts:
        step.flag(
            "recount",
            f"{len(recounts)} variant(s) counted twice within 30 minutes disagree: recount "
            + ", ".join(_skus(rt, recounts)),
        )
    # A late count (older than deltas already held) can leave on-hand below zero.
    _flag_negative(step)


def apply_transfer_note(step: Apply) -> None:
    """transfer.requested and transfer.approved: kept in the journal; no stock moves yet."""


def apply_transfer_shipped(step: Apply) -> None:
    """transfer.shipped: TRANSFER_OUT in this store's ledger."""
    shipped: TransferShipped = step.body
    step.actor()
    if shipped.to_store == step.rt.store:
        step.breach("bad_transfer", "a store does not ship to itself")
    _known_variants(step, [line.variant for line in shipped.lines])
    for index, line in enumerate(shipped.lines, start=1):
        ledger(step, index, line.variant, Movement.TRANSFER_OUT, -line.qty, shipped.transfer)
    _flag_negative(step)


def apply_transfer_received(step: Apply) -> None:
    """transfer.received: TRANSFER_IN in this store's ledger (may differ from what shipped)."""
    received: TransferReceived = step.body
    step.actor()
    if received.from_store == step.rt.store:
        step.breach("bad_transfer", "a store does not receive from itself")
    _known_variants(step, [line.variant for line in received.lines])
    for index, line in enumerate(received.lines, start=1):
        ledger(step, index, line.variant, Movement.TRANSFER_IN, line.qty, received.transfer)


def _flag_negative(step: Apply) -> None:
    """Negative stock is allowed (a sale is never refused) but a manager should know."""
    if not step.touched:
        return
    negative = [
        row[0]
        for row in step.rt.db.query(
            "SELECT variant FROM stock_level WHERE variant IN (SELECT value FROM json_each(?))"
            " AND on_hand < 0 ORDER BY variant",
            (msgspec.json.encode(sorted(step.touched)).decode(),),
        )
    ]
    if negative:
        step.flag("negative_stock", "on hand below zero for " + ", ".join(_skus(step.rt, negative)))


def flag_negative_after(step: Apply) -> None:
    """The same check, for appliers in other modules (sales)."""
    _flag_negative(step)


def _skus(rt: Runtime, uids: list[str]) -> list[str]:
    names = {
        row[0]: row[1]
        for row in rt.db.query(
            "SELECT uid, sku FROM variant WHERE uid IN (SELECT value FROM json_each(?))",
            ("[" + ",".join(f'"{u}"' for u in uids) + "]",),
        )
    }
    return [names.get(u, u) for u in uids]


def entries(rt: Runtime, variant: str) -> list[Entry]:
    """The variant's whole ledger as fold entries."""
    return [
        Entry(
            hlc=HLC(wall_ms=row["hlc_wall"], counter=row["hlc_counter"], node=row["hlc_node"]),
            origin=row["origin"],
            kind=Movement(row["kind"]),
            qty=row["qty"],
            event_id=row["event"],
        )
        for row in rt.db.query(
            "SELECT event, kind, qty, hlc_wall, hlc_counter, hlc_node, origin FROM stock_ledger"
            " WHERE variant = ?",
            (variant,),
        )
    ]


def on_hand(rt: Runtime, variant: str) -> Fold:
    """The protocol fold over the variant's ledger: on-hand, the anchoring count, shrink."""
    return fold(entries(rt, variant))


def quick_on_hand(rt: Runtime, variant: str) -> int:
    """On-hand from the level row (one primary-key read), 0 for a variant never moved."""
    value = rt.db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (variant,))
    return 0 if value is None else int(value)


def stock_of(rt: Runtime, variant: str) -> dict[str, Any]:
    """GET /stock: on-hand here, the last count, and (once synced) other stores."""
    row = rt.db.one(
        "SELECT v.uid, v.sku, f.doc ->> '$.title' AS title, v.reorder_point FROM variant v"
        " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid WHERE v.uid = ? OR v.sku = ?",
        (variant, variant),
    )
    if row is None:
        raise NotFound(f"no variant {variant}")
    result = on_hand(rt, row["uid"])
    last = result.counts[-1] if result.counts else None
    return {
        "variant": row["uid"],
        "sku": row["sku"],
        "title": row["title"],
        "store": rt.store,
        "on_hand": result.on_hand,
        "negative": result.negative,
        "reorder_point": row["reorder_point"],
        "below_reorder_point": row["reorder_point"] is not None
        and result.on_hand <= row["reorder_point"],
        "last_count": None
        if last is None
        else {
            "at": format_at(last.entry.hlc.wall_ms),
            "counted": last.entry.qty,
            "expected": last.expected,
            "shrink": last.shrink,
        },
        "as_of": format_at(rt.now_ms()),
        # Other stores' figures arrive with cloud sync; until then there are none.
        "other_stores": [],
    }


def variance(rt: Runtime, count_id: str) -> dict[str, Any]:
    """A count's variance report: expected against counted, and the value of the difference."""
    count = rt.db.one("SELECT * FROM stock_count WHERE id = ?", (count_id,))
    if count is None:
        raise NotFound(f"no stock count {count_id}")
    lines = []
    total_value = 0
    for row in rt.db.query(
        "SELECT l.variant, v.sku, f.doc ->> '$.title' AS title, v.cost, v.price FROM stock_ledger l"
        " JOIN variant v ON v.uid = l.variant"
        " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " WHERE l.event = ? ORDER BY l.line",
        (count["event"],),
    ):
        result = on_hand(rt, row["variant"])
        mine = next(c for c in result.counts if c.entry.event_id == count["event"])
        unit = row["cost"] if row["cost"] is not None else row["price"]
        value = mine.shrink * unit
        total_value += value
        lines.append(
            {
                "variant": row["variant"],
                "sku": row["sku"],
                "title": row["title"],
                "expected": mine.expected,
                "counted": mine.entry.qty,
                "difference": mine.shrink,
                "unit_cost": unit,
                "value": value,
            }
        )
    return {
        "count": count_id,
        "scope": count["scope"],
        "blind": bool(count["blind"]),
        "at": count["at"],
        "actor": count["actor"],
        "currency": rt.settings.currency,
        "lines": lines,
        "total_difference_value": total_value,
        "variants": len(lines),
        "variants_with_difference": sum(1 for line in lines if line["difference"]),
    }
