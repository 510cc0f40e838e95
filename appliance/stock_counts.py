"""Stock counts in progress: start one (full or cycle, blind or not), count by scan (each scan
adds one) or by typing a quantity, preview the variance, post it as a `stock.counted` event.

The preview uses the same figures as the posted count's variance report (stock.variance):
expected is on-hand now, the difference is counted − expected, valued at cost (the price when
no cost is known). A full count posts every active variant, those not counted as 0; a cycle
count posts only what was counted. Posting goes through push.apply_own, so the count is
checked by stock.apply_counted exactly as a register's would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance import push
from appliance.catalog.queries import exact_variant
from appliance.errors import Conflict, Invalid, NotFound
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember
from protocol.ids import new_id

MAX_COUNTED = 10**9


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """A count being taken (or posted, or discarded)."""

    id: str
    scope: str
    blind: bool
    started_by: str
    started_ms: int
    posted_event: str | None
    posted_ms: int | None
    discarded_ms: int | None

    @property
    def open(self) -> bool:
        """Still taking counts."""
        return self.posted_event is None and self.discarded_ms is None


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewLine:
    """One variant of the count: expected now, counted, the difference and its value."""

    variant: str
    sku: str
    title: str
    expected: int
    counted: int
    counted_here: bool
    difference: int
    unit_cost: int
    value: int


def _draft(row: Any) -> Draft:
    return Draft(
        id=row["id"],
        scope=row["scope"],
        blind=bool(row["blind"]),
        started_by=row["started_by"],
        started_ms=row["started_ms"],
        posted_event=row["posted_event"],
        posted_ms=row["posted_ms"],
        discarded_ms=row["discarded_ms"],
    )


def start(rt: Runtime, *, scope: str, blind: bool, staff: str) -> Draft:
    """A new count; its id becomes the posted stock.counted's `count`."""
    if scope not in ("full", "cycle"):
        raise Invalid("a count is full or cycle", code="invalid_scope", details={"field": "scope"})
    draft_id = new_id()
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO count_draft (id, scope, blind, started_by, started_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (draft_id, scope, int(blind), staff, rt.now_ms()),
        )
    return get(rt, draft_id)


def get(rt: Runtime, draft_id: str) -> Draft:
    """One count (NotFound when there is none)."""
    row = rt.db.one("SELECT * FROM count_draft WHERE id = ?", (draft_id,))
    if row is None:
        raise NotFound(f"no stock count {draft_id}")
    return _draft(row)


def recent(rt: Runtime, *, limit: int = 20) -> list[Draft]:
    """Counts newest first: open ones, then posted and discarded."""
    return [
        _draft(row)
        for row in rt.db.query(
            "SELECT * FROM count_draft ORDER BY (posted_event IS NULL AND discarded_ms IS NULL)"
            " DESC, started_ms DESC LIMIT ?",
            (limit,),
        )
    ]


def _open(rt: Runtime, draft_id: str) -> Draft:
    draft = get(rt, draft_id)
    if not draft.open:
        raise Conflict(
            f"count {draft_id} was already {'posted' if draft.posted_event else 'discarded'}",
            code="count_closed",
        )
    return draft


def resolve_code(rt: Runtime, code: str) -> str:
    """The variant a scanned barcode or typed SKU names, or Invalid."""
    code = code.strip()
    if not code or len(code) > 64:
        raise Invalid(
            "scan a barcode or type a SKU", code="code_required", details={"field": "code"}
        )
    variant = exact_variant(rt.db, code)
    if variant is None:
        raise Invalid(
            f"no active item has the barcode or SKU {code}",
            code="unknown_code",
            details={"field": "code"},
        )
    return variant


def add(rt: Runtime, draft_id: str, code: str, qty: int = 1) -> tuple[str, int]:
    """A scan (qty 1) or a quantity found: added to what was counted of the item; the variant
    and its new count."""
    if not 1 <= qty <= MAX_COUNTED:
        raise Invalid(
            "a quantity is a whole number from 1", code="bad_quantity", details={"field": "qty"}
        )
    with rt.db.write():
        _open(rt, draft_id)
        variant = resolve_code(rt, code)
        rt.db.execute(
            "INSERT INTO count_draft_line (draft, variant, counted, updated_ms) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (draft, variant) DO UPDATE SET counted = min(counted + excluded.counted, ?),"
            " updated_ms = excluded.updated_ms",
            (draft_id, variant, qty, rt.now_ms(), MAX_COUNTED),
        )
        counted = int(
            rt.db.scalar(
                "SELECT counted FROM count_draft_line WHERE draft = ? AND variant = ?",
                (draft_id, variant),
            )
        )
    return variant, counted


def set_counted(rt: Runtime, draft_id: str, variant: str, counted: int) -> None:
    """Correct an item's count to an absolute figure (0 keeps it counted as none)."""
    if not 0 <= counted <= MAX_COUNTED:
        raise Invalid(
            "a count is a whole number from 0", code="bad_quantity", details={"field": "counted"}
        )
    with rt.db.write():
        _open(rt, draft_id)
        updated = rt.db.execute(
            "UPDATE count_draft_line SET counted = ?, updated_ms = ? WHERE draft = ? AND variant = ?",
            (counted, rt.now_ms(), draft_id, variant),
        )
        if not updated.rowcount:
            raise Invalid(
                f"{variant} was not counted in this count: scan it to add it", code="not_counted"
            )


def preview(rt: Runtime, draft_id: str) -> list[PreviewLine]:
    """What posting would book: each variant's expected (on-hand now), counted, difference and
    its value. A full count has every active variant; one not counted counts 0."""
    draft = get(rt, draft_id)
    counted = {
        row["variant"]: int(row["counted"])
        for row in rt.db.query(
            "SELECT variant, counted FROM count_draft_line WHERE draft = ?", (draft_id,)
        )
    }
    if draft.scope == "full":
        where = "v.active = 1 OR v.uid IN (SELECT variant FROM count_draft_line WHERE draft = ?)"
        params: tuple[Any, ...] = (draft_id,)
    else:
        where = "v.uid IN (SELECT variant FROM count_draft_line WHERE draft = ?)"
        params = (draft_id,)
    lines = []
    # On-hand from the level rows, as quick_on_hand reads it, in the same statement: a full
    # count lists every variant in the store.
    for row in rt.db.query(
        "SELECT v.uid, v.sku, v.cost, v.price, f.doc ->> '$.title' AS title,"
        " COALESCE(s.on_hand, 0) AS on_hand FROM variant v"
        " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " LEFT JOIN stock_level s ON s.variant = v.uid"
        f" WHERE {where} ORDER BY v.sku",
        params,
    ):
        expected = int(row["on_hand"])
        found = counted.get(row["uid"], 0)
        unit = row["cost"] if row["cost"] is not None else row["price"]
        difference = found - expected
        lines.append(
            PreviewLine(
                variant=row["uid"],
                sku=row["sku"],
                title=row["title"] or row["sku"],
                expected=expected,
                counted=found,
                counted_here=row["uid"] in counted,
                difference=difference,
                unit_cost=unit,
                value=difference * unit,
            )
        )
    return lines


def post(rt: Runtime, draft_id: str, staff: StaffMember) -> str:
    """Book the count: one stock.counted event (the draft's id is its `count`); its event id."""
    with rt.db.write():
        draft = _open(rt, draft_id)
        lines = preview(rt, draft_id)
        if not lines:
            raise Invalid("nothing was counted yet", code="empty_count")
        env = push.apply_own(
            rt,
            type="stock.counted",
            body={
                "count": draft.id,
                "scope": draft.scope,
                "blind": draft.blind,
                "lines": [{"variant": line.variant, "counted": line.counted} for line in lines],
            },
            actor=staff,
        )
        rt.db.execute(
            "UPDATE count_draft SET posted_event = ?, posted_ms = ? WHERE id = ?",
            (env.id, rt.now_ms(), draft_id),
        )
    return env.id


def discard(rt: Runtime, draft_id: str) -> None:
    """Give up a count; nothing was booked, and its lines are kept with it."""
    with rt.db.write():
        _open(rt, draft_id)
        rt.db.execute(
            "UPDATE count_draft SET discarded_ms = ? WHERE id = ?", (rt.now_ms(), draft_id)
        )
