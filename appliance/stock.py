"""The stock ledger: receipts, adjustments, counts and transfers; on-hand by the protocol fold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    step.rt.db.execute(
        "INSERT INTO stock_ledger (event, line, variant, kind, qty, hlc_wall, hlc_counter,"
        " hlc_node, origin, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            step.env.id,
            line,
            variant,
            kind.value,
            qty,
            step.hlc.wall_ms,
            step.hlc.counter,
            step.hlc.node,
            step.env.origin,
            reason,
        ),
    )
    step.touched.add(variant)


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
    recounts = []
    for index, line in enumerate(counted.lines, start=1):
        ledger(step, index, line.variant, Movement.COUNT, line.counted)
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
    negative = [v for v in sorted(step.touched) if quick_on_hand(step.rt, v) < 0]
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


# The fold in SQL, for hot paths: the anchor is the COUNT with the greatest (hlc, origin);
# on-hand is its quantity plus every later delta. A property test holds it to protocol.stock.
# Ties are broken by the fold's whole key (hlc, origin, kind, event, qty): rows can share a
# stamp (a replayed count that lists a variant twice is kept), and both folds must agree.
_ON_HAND_SQL = """
WITH anchor AS (
    SELECT qty, hlc_wall, hlc_counter, hlc_node, origin, kind FROM stock_ledger
    WHERE variant = :v AND kind = 'count'
    ORDER BY hlc_wall DESC, hlc_counter DESC, hlc_node DESC, origin DESC, event DESC, qty DESC
    LIMIT 1
)
SELECT COALESCE((SELECT qty FROM anchor), 0) + COALESCE((
    SELECT SUM(l.qty) FROM stock_ledger l WHERE l.variant = :v AND l.kind != 'count'
    AND (NOT EXISTS (SELECT 1 FROM anchor)
         OR (l.hlc_wall, l.hlc_counter, l.hlc_node, l.origin, l.kind)
            > (SELECT hlc_wall, hlc_counter, hlc_node, origin, kind FROM anchor))
), 0)
"""


def quick_on_hand(rt: Runtime, variant: str) -> int:
    """On-hand without reading the whole ledger (only the rows after the last count)."""
    return int(rt.db.scalar(_ON_HAND_SQL, {"v": variant}))


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
