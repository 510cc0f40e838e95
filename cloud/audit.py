"""HQ's audit queries (decisions.md §60): the inventory adjustment trail, variance reports from
counts, the override log, each register's journal chain, alerts and dead letters.

Every list takes the stores it may show (the caller's scope, or the one store asked for), its
filters and a page; `page_size` None gives every row (for the CSV). No Flask here.

Variances are worked out when asked, from the ledger, as protocol.stock.fold does: a count's
expected quantity is the variant's on-hand just before it in the fold's order (the previous
count, or 0, plus every delta between the two), so a late event from before the count
changes its variance, as on the appliance (stock.variance). The stock.counted event carries
only what was counted. Values are at the catalog's cost for the variant's SKU (none when the
catalog has no cost for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

import psycopg

Conn = psycopg.Connection[Any]
T = TypeVar("T")

# What the trail shows: adjustments with their reason, and goods received with their reference.
TRAIL_KINDS = ("adjust", "receipt")
ALERT_STATES = ("open", "resolved", "all")


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The stores a list covers and its dates (each inclusive, in UTC)."""

    stores: tuple[str, ...]
    since: date | None = None
    until: date | None = None

    def clause(self, column: str, params: dict[str, Any]) -> list[str]:
        """SQL conditions for `column` (a timestamptz) within the window."""
        clauses = []
        if self.since is not None:
            clauses.append(f"{column} >= %(since)s")
            params["since"] = datetime(self.since.year, self.since.month, self.since.day)
        if self.until is not None:
            clauses.append(f"{column} < %(until)s")
            end = self.until + timedelta(days=1)
            params["until"] = datetime(end.year, end.month, end.day)
        return clauses


@dataclass(frozen=True, slots=True, kw_only=True)
class Paged(Generic[T]):
    """One page of a list."""

    rows: list[T]
    total_rows: int
    page: int
    pages: int


def _paging(
    conn: Conn, count_sql: str, params: dict[str, Any], page: int, page_size: int | None
) -> tuple[str, int, int, int]:
    row = conn.execute(count_sql, params).fetchone()
    total = int(row[0]) if row else 0
    limit, page, pages = _pages(total, params, page, page_size)
    return limit, total, page, pages


def _pages(
    total: int, params: dict[str, Any], page: int, page_size: int | None
) -> tuple[str, int, int]:
    """The LIMIT clause (its values put in params), the page shown and how many there are."""
    pages = 1 if page_size is None else max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    if page_size is None:
        return "", page, pages
    params.update(limit=page_size, offset=(page - 1) * page_size)
    return " LIMIT %(limit)s OFFSET %(offset)s", page, pages


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


# The chain's facts of a store's variant: its SKU (through store_variant), product, category
# and cost; joined on `l` with columns store and variant.
_VARIANT_JOIN = (
    " LEFT JOIN store_variant sv ON sv.store = l.store AND sv.uid = l.variant"
    " LEFT JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)"
    " LEFT JOIN catalog_product cp ON cp.id = cv.product_id"
    " LEFT JOIN catalog_category cc ON cc.id = cp.category_id"
)


# ---- the adjustment trail --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailFilter:
    """What the adjustment trail shows."""

    window: Window
    kind: str | None = None
    reason: str = ""
    staff: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailRow:
    """One line of an adjustment or a delivery: who, when, why, and its value at cost."""

    event: str
    line: int
    store: str
    at: datetime
    kind: str
    variant: str
    sku: str | None
    product: str | None
    category: str | None
    qty: int
    reason: str | None
    note: str | None
    actor: str | None
    unit_cost: int | None
    value: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Trail:
    """A page of the trail and what the whole filtered trail adds up to."""

    page: Paged[TrailRow]
    units: int
    value: int
    uncosted: int


def trail(conn: Conn, f: TrailFilter, *, page: int, page_size: int | None) -> Trail:
    """Adjustments and deliveries, newest first."""
    params: dict[str, Any] = {
        "stores": list(f.window.stores),
        "kinds": [f.kind] if f.kind else list(TRAIL_KINDS),
    }
    clauses = ["l.store = ANY(%(stores)s)", "l.kind = ANY(%(kinds)s)"]
    clauses += f.window.clause("l.at", params)
    if f.reason:
        clauses.append("l.reason = %(reason)s")
        params["reason"] = f.reason
    if f.staff:
        clauses.append("e.actor = %(staff)s")
        params["staff"] = f.staff
    if f.text:
        clauses.append("(sv.sku ILIKE %(text)s OR cp.name ILIKE %(text)s)")
        params["text"] = _like(f.text)
    base = (
        " FROM stock_ledger l JOIN event e ON e.id = l.event"
        + _VARIANT_JOIN
        + " WHERE "
        + " AND ".join(clauses)
    )
    sums = conn.execute(
        "SELECT count(*), COALESCE(sum(l.qty), 0), COALESCE(sum(l.qty * cv.cost), 0),"
        " count(*) FILTER (WHERE cv.cost IS NULL)" + base,
        params,
    ).fetchone()
    assert sums is not None
    total = int(sums[0])
    limit, page, pages = _pages(total, params, page, page_size)
    rows = [
        TrailRow(
            event=r[0],
            line=r[1],
            store=r[2],
            at=r[3],
            kind=r[4],
            variant=r[5],
            sku=r[6],
            product=r[7],
            category=r[8],
            qty=int(r[9]),
            reason=r[10],
            note=r[11],
            actor=r[12],
            unit_cost=r[13],
            value=None if r[13] is None else int(r[9]) * int(r[13]),
        )
        for r in conn.execute(
            "SELECT l.event::text, l.line, l.store, l.at, l.kind, l.variant::text, sv.sku,"
            " cp.name, cc.name, l.qty, l.reason,"
            " CASE WHEN l.kind = 'adjust' THEN e.envelope #>> '{body,note}'"
            "  ELSE e.envelope #>> '{body,vendor}' END, e.actor, cv.cost"
            + base
            + " ORDER BY l.at DESC, l.event DESC, l.line"
            + limit,
            params,
        )
    ]
    return Trail(
        page=Paged(rows=rows, total_rows=total, page=page, pages=pages),
        units=int(sums[1]),
        value=int(sums[2]),
        uncosted=int(sums[3]),
    )


def trail_reasons(conn: Conn, stores: Sequence[str]) -> list[str]:
    """The adjustment reasons these stores have used, for the filter."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT reason FROM stock_ledger WHERE kind = 'adjust' AND reason IS NOT NULL"
            " AND store = ANY(%s) ORDER BY 1",
            (list(stores),),
        )
    ]


# ---- variance reports from counts ------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CountFilter:
    """Which counts: their stores and dates, one category's lines, or one count."""

    window: Window
    category: int | None = None
    count: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VarianceLine:
    """One counted variant: expected just before the count, counted, and the difference."""

    event: str
    line: int
    store: str
    variant: str
    sku: str | None
    product: str | None
    category: str | None
    expected: int
    counted: int
    unit_cost: int | None

    @property
    def difference(self) -> int:
        """Counted − expected: below 0 is a loss."""
        return self.counted - self.expected

    @property
    def value(self) -> int | None:
        """The difference at cost."""
        return None if self.unit_cost is None else self.difference * self.unit_cost


@dataclass(frozen=True, slots=True, kw_only=True)
class CountReport:
    """One stock.counted event and its variance."""

    event: str
    store: str
    at: datetime
    actor: str | None
    scope: str
    blind: bool
    lines: list[VarianceLine] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return sum(line.expected for line in self.lines)

    @property
    def counted(self) -> int:
        return sum(line.counted for line in self.lines)

    @property
    def difference(self) -> int:
        return sum(line.difference for line in self.lines)

    @property
    def value(self) -> int:
        return sum(line.value or 0 for line in self.lines)

    @property
    def off(self) -> int:
        """Lines where counted and expected differ."""
        return sum(1 for line in self.lines if line.difference)

    @property
    def uncosted(self) -> int:
        return sum(1 for line in self.lines if line.unit_cost is None)


@dataclass(frozen=True, slots=True, kw_only=True)
class VarianceGroup:
    """Variance summed over a store and category (category None: not in the catalog)."""

    store: str
    category: str | None
    lines: int
    difference: int
    value: int


# The expected quantity of each line of the given counts: the fold's running total just
# before the count. Each variant's ledger is cut into segments at its counts (segment n starts
# at its nth count); a count's expected is the segment before its own: that count's quantity
# (0 for the first segment, before any count) plus the deltas in it. Ordered as
# protocol.stock's _total_key: (wall, counter, node, origin, kind, event, qty).
_EXPECTED_SQL = """
WITH mine AS (
    SELECT event, line, store, variant, qty FROM stock_ledger
    WHERE kind = 'count' AND event = ANY(%(events)s::uuid[])
),
pairs AS (SELECT DISTINCT store, variant FROM mine),
ordered AS (
    SELECT l.store, l.variant, l.event, l.kind, l.qty,
        sum(CASE WHEN l.kind = 'count' THEN 1 ELSE 0 END) OVER (
            PARTITION BY l.store, l.variant
            ORDER BY l.hlc_wall, l.hlc_counter, l.hlc_node, l.origin, l.kind,
                l.event::text COLLATE "C", l.qty
            ROWS UNBOUNDED PRECEDING) AS segment
    FROM stock_ledger l JOIN pairs p ON p.store = l.store AND p.variant = l.variant
),
segments AS (
    SELECT store, variant, segment,
        COALESCE(max(qty) FILTER (WHERE kind = 'count'), 0)
            + COALESCE(sum(qty) FILTER (WHERE kind <> 'count'), 0) AS closing
    FROM ordered GROUP BY store, variant, segment
),
placed AS (
    SELECT DISTINCT ON (o.event, o.variant) o.event, o.store, o.variant, o.segment
    FROM ordered o JOIN mine m ON m.event = o.event AND m.variant = o.variant
    WHERE o.kind = 'count'
    ORDER BY o.event, o.variant, o.segment
)
SELECT m.event::text, m.line, m.store, m.variant::text, sv.sku, cp.name, cc.name,
    COALESCE(s.closing, 0), m.qty, cv.cost, cp.category_id
FROM mine m
JOIN placed p ON p.event = m.event AND p.variant = m.variant
LEFT JOIN segments s ON s.store = m.store AND s.variant = m.variant AND s.segment = p.segment - 1
LEFT JOIN store_variant sv ON sv.store = m.store AND sv.uid = m.variant
LEFT JOIN catalog_variant cv ON upper(cv.sku) = upper(sv.sku)
LEFT JOIN catalog_product cp ON cp.id = cv.product_id
LEFT JOIN catalog_category cc ON cc.id = cp.category_id
ORDER BY m.event, m.line
"""


def variance_lines(
    conn: Conn, events: Sequence[str], *, category: int | None = None
) -> list[VarianceLine]:
    """Each line of these counts with its expected quantity and cost."""
    if not events:
        return []
    return [
        VarianceLine(
            event=r[0],
            line=r[1],
            store=r[2],
            variant=r[3],
            sku=r[4],
            product=r[5],
            category=r[6],
            expected=int(r[7]),
            counted=int(r[8]),
            unit_cost=r[9],
        )
        for r in conn.execute(_EXPECTED_SQL, {"events": list(events)})
        if category is None or r[10] == category
    ]


def _count_where(f: CountFilter, params: dict[str, Any]) -> str:
    params["stores"] = list(f.window.stores)
    clauses = ["e.type = 'stock.counted'", "e.store = ANY(%(stores)s)"]
    clauses += f.window.clause("e.at", params)
    if f.count is not None:
        clauses.append("e.id = %(count)s::uuid")
        params["count"] = f.count
    return " WHERE " + " AND ".join(clauses)


def counts(conn: Conn, f: CountFilter, *, page: int, page_size: int | None) -> Paged[CountReport]:
    """Counts newest first, each with its lines' variances (only the category's, if given)."""
    params: dict[str, Any] = {}
    where = _count_where(f, params)
    limit, total, page, pages = _paging(
        conn, "SELECT count(*) FROM event e" + where, params, page, page_size
    )
    reports = [
        CountReport(
            event=r[0],
            store=r[1],
            at=r[2],
            actor=r[3],
            scope=r[4] or "",
            blind=r[5] == "true",
        )
        for r in conn.execute(
            "SELECT e.id::text, e.store, e.at, e.actor, e.envelope #>> '{body,scope}',"
            " e.envelope #>> '{body,blind}' FROM event e"
            + where
            + " ORDER BY e.at DESC, e.id DESC"
            + limit,
            params,
        )
    ]
    by_event = {report.event: report for report in reports}
    for line in variance_lines(conn, list(by_event), category=f.category):
        by_event[line.event].lines.append(line)
    return Paged(rows=reports, total_rows=total, page=page, pages=pages)


def count_report(conn: Conn, event: str) -> CountReport | None:
    """One count, every line."""
    found = counts(
        conn, CountFilter(window=Window(stores=_all_stores(conn)), count=event), page=1, page_size=1
    )
    return found.rows[0] if found.rows else None


def _all_stores(conn: Conn) -> tuple[str, ...]:
    return tuple(r[0] for r in conn.execute("SELECT id FROM store ORDER BY id"))


def count_store(conn: Conn, event: str) -> str | None:
    """The store of a stock.counted event, if there is one by that id."""
    row = conn.execute(
        "SELECT store FROM event WHERE id = %s::uuid AND type = 'stock.counted'", (event,)
    ).fetchone()
    return None if row is None else str(row[0])


def variance_by_store_category(conn: Conn, f: CountFilter) -> list[VarianceGroup]:
    """The variance of every count the filter matches, by store and category."""
    params: dict[str, Any] = {}
    events = [
        r[0]
        for r in conn.execute("SELECT e.id::text FROM event e" + _count_where(f, params), params)
    ]
    groups: dict[tuple[str, str | None], list[VarianceLine]] = {}
    for line in variance_lines(conn, events, category=f.category):
        groups.setdefault((line.store, line.category), []).append(line)
    return [
        VarianceGroup(
            store=store,
            category=category,
            lines=len(lines),
            difference=sum(line.difference for line in lines),
            value=sum(line.value or 0 for line in lines),
        )
        for (store, category), lines in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "\uffff")
        )
    ]


# ---- the override log ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideFilter:
    """Which overrides: stores and dates, a staff member on either side, an action, offline."""

    window: Window
    staff: str = ""
    action: str = ""
    offline: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideRow:
    """One approval."""

    event: str
    store: str
    at: datetime
    action: str
    requester: str | None
    approver: str
    register: str | None
    amount: int | None
    currency: str | None
    reason: str | None
    offline: bool
    source: str
    used_by: str | None


def overrides(
    conn: Conn, f: OverrideFilter, *, page: int, page_size: int | None
) -> Paged[OverrideRow]:
    """Overrides newest first."""
    params: dict[str, Any] = {"stores": list(f.window.stores)}
    clauses = ["o.store = ANY(%(stores)s)", *f.window.clause("o.at", params)]
    if f.staff:
        clauses.append("(o.requester = %(staff)s OR o.approver = %(staff)s)")
        params["staff"] = f.staff
    if f.action:
        clauses.append("o.action = %(action)s")
        params["action"] = f.action
    if f.offline:
        clauses.append("o.offline")
    where = " FROM override_fact o WHERE " + " AND ".join(clauses)
    limit, total, page, pages = _paging(conn, "SELECT count(*)" + where, params, page, page_size)
    rows = [
        OverrideRow(
            event=r[0],
            store=r[1],
            at=r[2],
            action=r[3],
            requester=r[4],
            approver=r[5],
            register=r[6],
            amount=r[7],
            currency=r[8],
            reason=r[9],
            offline=r[10],
            source=r[11],
            used_by=r[12],
        )
        for r in conn.execute(
            "SELECT o.event::text, o.store, o.at, o.action, o.requester, o.approver, o.register,"
            " o.amount, o.currency, o.reason, o.offline, o.source, o.used_by::text"
            + where
            + " ORDER BY o.at DESC, o.event DESC"
            + limit,
            params,
        )
    ]
    return Paged(rows=rows, total_rows=total, page=page, pages=pages)


def override_actions(conn: Conn) -> list[str]:
    """The actions overrides were given for, for the filter."""
    return [r[0] for r in conn.execute("SELECT DISTINCT action FROM override_fact ORDER BY 1")]


# ---- journal chains --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainRow:
    """Where one origin's (register's or appliance's) hash chain stands in the cloud."""

    origin: str
    store: str
    last_seq: int
    last_hash: str | None
    last_at: datetime | None
    received_at: datetime | None
    breaks: int

    @property
    def intact(self) -> bool:
        return self.breaks == 0


def chains(
    conn: Conn, stores: Sequence[str], *, page: int, page_size: int | None
) -> Paged[ChainRow]:
    """Each origin of these stores: its last seq and hash, its last event, open breaks."""
    params: dict[str, Any] = {"stores": list(stores)}
    where = " FROM origin o WHERE o.store = ANY(%(stores)s)"
    limit, total, page, pages = _paging(conn, "SELECT count(*)" + where, params, page, page_size)
    rows = [
        ChainRow(
            origin=r[0],
            store=r[1],
            last_seq=int(r[2]),
            last_hash=r[3],
            last_at=r[4],
            received_at=r[5],
            breaks=int(r[6]),
        )
        for r in conn.execute(
            "SELECT o.id, o.store, o.last_seq, o.last_hash, e.at, e.received_at,"
            " (SELECT count(*) FROM alert a WHERE a.store = o.store AND a.kind = 'chain_broken'"
            "   AND a.resolved_at IS NULL AND a.details ->> 'origin' = o.id)"
            + where.replace(
                " FROM origin o",
                " FROM origin o LEFT JOIN LATERAL"
                " (SELECT at, received_at FROM event WHERE origin = o.id AND seq = o.last_seq) e"
                " ON true",
            )
            + " ORDER BY o.store, o.id"
            + limit,
            params,
        )
    ]
    return Paged(rows=rows, total_rows=total, page=page, pages=pages)


# ---- alerts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFilter:
    """Which alerts: stores and dates (when raised), a kind, open or resolved."""

    window: Window
    kind: str = ""
    state: str = "open"
    # Alerts of no store (HQ-wide) are shown to those who see every store.
    storeless: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRow:
    """One alert and, once resolved, by whom and why."""

    id: int
    kind: str
    store: str | None
    details: dict[str, Any]
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


def _alert_where(f: AlertFilter, params: dict[str, Any]) -> str:
    params["stores"] = list(f.window.stores)
    scope = "a.store = ANY(%(stores)s)"
    if f.storeless:
        scope = f"({scope} OR a.store IS NULL)"
    clauses = [scope, *f.window.clause("a.raised_at", params)]
    if f.kind:
        clauses.append("a.kind = %(kind)s")
        params["kind"] = f.kind
    if f.state == "open":
        clauses.append("a.resolved_at IS NULL")
    elif f.state == "resolved":
        clauses.append("a.resolved_at IS NOT NULL")
    return " FROM alert a WHERE " + " AND ".join(clauses)


def alerts(conn: Conn, f: AlertFilter, *, page: int, page_size: int | None) -> Paged[AlertRow]:
    """Alerts newest first."""
    params: dict[str, Any] = {}
    where = _alert_where(f, params)
    limit, total, page, pages = _paging(conn, "SELECT count(*)" + where, params, page, page_size)
    rows = [
        AlertRow(
            id=r[0],
            kind=r[1],
            store=r[2],
            details=r[3] or {},
            raised_at=r[4],
            resolved_at=r[5],
            resolved_by=r[6],
            note=r[7],
        )
        for r in conn.execute(
            "SELECT a.id, a.kind, a.store, a.details, a.raised_at, a.resolved_at, a.resolved_by,"
            " a.resolution_note" + where + " ORDER BY a.raised_at DESC, a.id DESC" + limit,
            params,
        )
    ]
    return Paged(rows=rows, total_rows=total, page=page, pages=pages)


def open_alerts_by_kind(
    conn: Conn, stores: Sequence[str], *, storeless: bool
) -> list[tuple[str, int]]:
    """How many alerts of each kind are open in these stores."""
    params: dict[str, Any] = {}
    where = _alert_where(
        AlertFilter(window=Window(stores=tuple(stores)), storeless=storeless), params
    )
    return [
        (r[0], int(r[1]))
        for r in conn.execute(
            "SELECT a.kind, count(*)" + where + " GROUP BY 1 ORDER BY 2 DESC, 1", params
        )
    ]


def alert_kinds(conn: Conn) -> list[str]:
    """Every kind of alert raised so far, for the filter."""
    return [r[0] for r in conn.execute("SELECT DISTINCT kind FROM alert ORDER BY 1")]


def alert_store(conn: Conn, alert: int) -> tuple[bool, str | None]:
    """Whether the alert exists, and its store."""
    row = conn.execute("SELECT store FROM alert WHERE id = %s", (alert,)).fetchone()
    return (row is not None, None if row is None else row[0])


class AlreadyResolved(Exception):
    """The alert was resolved already (by someone else, or in another tab)."""


def resolve_alert(conn: Conn, alert: int, *, by: str, note: str) -> AlertRow:
    """Mark an open alert resolved with a note; AlreadyResolved if it is not open."""
    row = conn.execute(
        "UPDATE alert SET resolved_at = now(), resolved_by = %s, resolution_note = %s"
        " WHERE id = %s AND resolved_at IS NULL"
        " RETURNING id, kind, store, details, raised_at, resolved_at, resolved_by,"
        " resolution_note",
        (by, note, alert),
    ).fetchone()
    if row is None:
        raise AlreadyResolved(alert)
    return AlertRow(
        id=row[0],
        kind=row[1],
        store=row[2],
        details=row[3] or {},
        raised_at=row[4],
        resolved_at=row[5],
        resolved_by=row[6],
        note=row[7],
    )


# ---- dead letters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A payload ingest could not take, with why; `raw` only when asked for one."""

    id: int
    topic: str
    store: str | None
    reason: str
    received_at: datetime
    size: int
    raw: bytes | None = None

    @property
    def text(self) -> str | None:
        """The payload as text, when it is UTF-8."""
        if self.raw is None:
            return None
        try:
            return self.raw.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def hex_lines(self, limit: int = 64 * 1024) -> list[str]:
        """A hex dump (offset, 16 bytes, their printable ASCII) of the first `limit` bytes."""
        raw = (self.raw or b"")[:limit]
        lines = []
        for offset in range(0, len(raw), 16):
            chunk = raw[offset : offset + 16]
            shown = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {shown}")
        return lines


def dead_letters(
    conn: Conn, window: Window, *, storeless: bool, page: int, page_size: int | None
) -> Paged[DeadLetter]:
    """Dead letters newest first (without their payloads)."""
    params: dict[str, Any] = {"stores": list(window.stores)}
    scope = "d.store = ANY(%(stores)s)"
    if storeless:
        scope = f"({scope} OR d.store IS NULL)"
    where = " FROM dead_letter d WHERE " + " AND ".join(
        [scope, *window.clause("d.received_at", params)]
    )
    limit, total, page, pages = _paging(conn, "SELECT count(*)" + where, params, page, page_size)
    rows = [
        DeadLetter(id=r[0], topic=r[1], store=r[2], reason=r[3], received_at=r[4], size=int(r[5]))
        for r in conn.execute(
            "SELECT d.id, d.topic, d.store, d.reason, d.received_at, octet_length(d.raw)"
            + where
            + " ORDER BY d.received_at DESC, d.id DESC"
            + limit,
            params,
        )
    ]
    return Paged(rows=rows, total_rows=total, page=page, pages=pages)


def dead_letter(conn: Conn, letter: int) -> DeadLetter | None:
    """One dead letter with its raw payload."""
    r = conn.execute(
        "SELECT id, topic, store, reason, received_at, octet_length(raw), raw FROM dead_letter"
        " WHERE id = %s",
        (letter,),
    ).fetchone()
    if r is None:
        return None
    return DeadLetter(
        id=r[0],
        topic=r[1],
        store=r[2],
        reason=r[3],
        received_at=r[4],
        size=int(r[5]),
        raw=bytes(r[6]),
    )


# ---- the overview ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """What each audit list holds for these stores (the last 30 days where it grows)."""

    adjustments: int
    counts: int
    overrides: int
    offline_overrides: int
    origins: int
    broken_origins: int
    dead_letters: int
    open_alerts: list[tuple[str, int]]


def overview(conn: Conn, stores: Sequence[str], *, storeless: bool) -> Overview:
    """The figures the audit overview links from."""
    s = list(stores)
    row = conn.execute(
        "SELECT"
        " (SELECT count(DISTINCT event) FROM stock_ledger WHERE kind IN ('adjust', 'receipt')"
        "   AND store = ANY(%(s)s) AND at >= now() - interval '30 days'),"
        " (SELECT count(*) FROM event WHERE type = 'stock.counted' AND store = ANY(%(s)s)"
        "   AND at >= now() - interval '30 days'),"
        " (SELECT count(*) FROM override_fact WHERE store = ANY(%(s)s)"
        "   AND at >= now() - interval '30 days'),"
        " (SELECT count(*) FROM override_fact WHERE store = ANY(%(s)s) AND offline"
        "   AND at >= now() - interval '30 days'),"
        " (SELECT count(*) FROM origin WHERE store = ANY(%(s)s)),"
        " (SELECT count(DISTINCT details ->> 'origin') FROM alert WHERE kind = 'chain_broken'"
        "   AND resolved_at IS NULL AND store = ANY(%(s)s)),"
        " (SELECT count(*) FROM dead_letter WHERE store = ANY(%(s)s)"
        "   OR (%(storeless)s AND store IS NULL))",
        {"s": s, "storeless": storeless},
    ).fetchone()
    assert row is not None
    return Overview(
        adjustments=int(row[0]),
        counts=int(row[1]),
        overrides=int(row[2]),
        offline_overrides=int(row[3]),
        origins=int(row[4]),
        broken_origins=int(row[5]),
        dead_letters=int(row[6]),
        open_alerts=open_alerts_by_kind(conn, s, storeless=storeless),
    )
