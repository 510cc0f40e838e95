"""Transfers between stores: request, approve, ship, receive (decisions.md §55).

The cloud's `transfer` table is where HQ and the two stores meet. HQ writes requests,
approvals and cancellations here directly (`create`, `approve`, `cancel`); the stores' journal
events arrive through ingest, which calls `project` in each batch's transaction. Every store
event is kept as a fact (`transfer_event`, and `transfer_move` for shipped and received lines)
whatever order it arrives in, and `restate` works the transfer's dates and state out again from
those facts, so a late or repeated event changes nothing and a receipt heard of before its
shipment is kept. An event that breaks a rule (an unknown transfer, a shipment not approved, a
store acting on another's behalf, received items that were never sent) raises an alert and is
still kept: the goods moved in that store's ledger either way.

In transit (per receiving store and SKU) is what was shipped on transfers not yet received; a
receipt closes the transfer and any difference is recorded with the store's reason, not left
on the road. Lines and moves name each store's own variant ids, read as SKUs through
store_variant (§43), so a request made at a store is shown by SKU once its directory is known.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import psycopg

from protocol.bodies import TransferApproved, TransferReceived, TransferRequested, TransferShipped
from protocol.ids import new_id
from protocol.transfers import MAX_PAGE, SkuLine, TransfersReply, TransferState

if TYPE_CHECKING:
    from cloud.ingest import Item, Projected

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

STATES = ("requested", "approved", "shipped", "received", "cancelled")
OPEN_STATES = ("requested", "approved")
ALERT_KIND = "transfer_problem"
# One advisory lock for transfer change numbers (see migration 0016).
_CHANGE_LOCK = 7411016
MAX_LINES = 500
MAX_QTY = 1_000_000

_KINDS: dict[type, str] = {
    TransferRequested: "requested",
    TransferApproved: "approved",
    TransferShipped: "shipped",
    TransferReceived: "received",
}


class TransferError(Exception):
    """An HQ action that cannot be done: a code, a message and the field it concerns."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        """Keep the code, the message and the form field (if any)."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


# --- projection ------------------------------------------------------------------------


def project(conn: Conn, store: str, items: Sequence[Item], out: Projected) -> None:
    """Keep the batch's transfer events as facts, raise alerts for those that break a rule,
    and work each touched transfer's state out again (in the batch's transaction)."""
    mine = [item for item in items if type(item.body) in _KINDS]
    if not mine:
        return
    _lock_changes(conn)
    for item in mine:
        transfer = str(item.body.transfer)
        for problem, message in _record(conn, store, item):
            _log.warning(
                "transfer %s: %s (store=%s event=%s)", transfer, message, store, item.envelope.id
            )
            conn.execute(
                "INSERT INTO alert (kind, store, details) VALUES (%s, %s, %s)",
                (
                    ALERT_KIND,
                    store,
                    msgspec.json.encode(
                        {
                            "transfer": transfer,
                            "event": item.envelope.id,
                            "type": item.envelope.type,
                            "problem": problem,
                            "message": message,
                        }
                    ).decode(),
                ),
            )
        # Each event sees the ones before it in the batch.
        restate(conn, [transfer])


@dataclass(frozen=True, slots=True)
class _Header:
    from_store: str
    to_store: str
    approved: bool
    cancelled: bool
    shipped: bool
    received: bool


def _header(conn: Conn, transfer: str) -> _Header | None:
    row = conn.execute(
        "SELECT from_store, to_store, approved_at IS NOT NULL, cancelled_at IS NOT NULL,"
        " EXISTS (SELECT 1 FROM transfer_event e WHERE e.transfer = t.id"
        "   AND e.kind = 'approved' AND e.store = t.from_store),"
        " EXISTS (SELECT 1 FROM transfer_event e WHERE e.transfer = t.id"
        "   AND e.kind = 'shipped' AND e.store = t.from_store),"
        " EXISTS (SELECT 1 FROM transfer_event e WHERE e.transfer = t.id"
        "   AND e.kind = 'received' AND e.store = t.to_store)"
        " FROM transfer t WHERE id = %s FOR UPDATE",
        (transfer,),
    ).fetchone()
    if row is None:
        return None
    return _Header(
        from_store=row[0],
        to_store=row[1],
        approved=bool(row[2] or row[4]),
        cancelled=bool(row[3]),
        shipped=bool(row[5]),
        received=bool(row[6]),
    )


def _record(conn: Conn, store: str, item: Item) -> list[tuple[str, str]]:
    """Keep one event as a fact (and its lines); return the rules it broke."""
    env = item.envelope
    body = item.body
    kind = _KINDS[type(body)]
    transfer = str(body.transfer)
    head = _header(conn, transfer)
    problems: list[tuple[str, str]] = []
    note: str | None = None
    if isinstance(body, TransferRequested):
        note = body.note
        if body.from_store == body.to_store:
            problems.append(("same_store", f"{store} asked for a transfer from a store to itself"))
        elif store not in (body.from_store, body.to_store):
            problems.append(
                (
                    "not_a_party",
                    f"{store} asked for a transfer between {body.from_store} and"
                    f" {body.to_store}, neither of them itself",
                )
            )
        elif head is not None:
            if (head.from_store, head.to_store) != (body.from_store, body.to_store):
                problems.append(
                    (
                        "id_clash",
                        f"transfer id already names {head.from_store} → {head.to_store}",
                    )
                )
        else:
            conn.execute(
                "INSERT INTO transfer (id, from_store, to_store, note, requested_by,"
                " requested_in, requested_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (transfer, body.from_store, body.to_store, note, env.actor, store, env.at),
            )
            _insert_lines(
                conn,
                transfer,
                [(None, store, line.variant, line.qty) for line in body.lines],
            )
            # Kept all the same (HQ may cancel it); a store code typed wrong is worth knowing.
            other = body.to_store if store == body.from_store else body.from_store
            if conn.execute("SELECT 1 FROM store WHERE id = %s", (other,)).fetchone() is None:
                problems.append(
                    (
                        "unknown_store",
                        f"{store} asked for a transfer with {other}, a store HQ does not know",
                    )
                )
    elif head is None:
        problems.append(
            ("unknown_transfer", f"{store} sent {env.type} for a transfer HQ has not heard of")
        )
    elif isinstance(body, TransferApproved):
        note = body.note
        if store != head.from_store:
            problems.append(
                ("wrong_store", f"{store} approved a transfer only {head.from_store} may approve")
            )
        elif head.cancelled and not head.shipped:
            problems.append(("cancelled", f"{store} approved a transfer HQ had cancelled"))
    elif isinstance(body, TransferShipped):
        if store != head.from_store:
            problems.append(("wrong_store", f"{store} shipped a transfer {head.from_store} sends"))
        else:
            if body.to_store != head.to_store:
                problems.append(
                    (
                        "wrong_destination",
                        f"{store} shipped to {body.to_store}; the transfer is to {head.to_store}",
                    )
                )
            if head.shipped:
                problems.append(("shipped_twice", f"{store} shipped this transfer again"))
            elif head.cancelled:
                problems.append(("cancelled", f"{store} shipped a transfer that was cancelled"))
            elif not head.approved:
                problems.append(("not_approved", f"{store} shipped a transfer not approved yet"))
    elif isinstance(body, TransferReceived):
        note = body.reason
        if store != head.to_store:
            problems.append(("wrong_store", f"{store} received a transfer sent to {head.to_store}"))
        else:
            if body.from_store != head.from_store:
                problems.append(
                    (
                        "wrong_origin",
                        f"{store} received it from {body.from_store}; it comes from"
                        f" {head.from_store}",
                    )
                )
            if head.received:
                problems.append(("received_twice", f"{store} received this transfer again"))
            extra = _extra_lines(conn, transfer, store, [line.variant for line in body.lines])
            if extra:
                problems.append(
                    (
                        "extra_lines",
                        f"{store} received {len(extra)} item(s) never sent or asked for: "
                        + ", ".join(extra[:10]),
                    )
                )
    conn.execute(
        "INSERT INTO transfer_event (event, transfer, store, kind, at, actor, note)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event) DO NOTHING",
        (env.id, transfer, store, kind, env.at, env.actor, note),
    )
    if isinstance(body, (TransferShipped, TransferReceived)):
        rows = [
            (env.id, n, transfer, store, line.variant, kind, line.qty)
            for n, line in enumerate(body.lines, start=1)
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO transfer_move (event, line, transfer, store, variant, kind, qty)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event, line) DO NOTHING",
                rows,
            )
    return problems


def _extra_lines(conn: Conn, transfer: str, store: str, variants: list[str]) -> list[str]:
    """Received SKUs not among those shipped (or, before the shipment is heard of, asked
    for). A variant the crosswalk does not know yet is given the benefit of the doubt."""
    got: dict[str, str] = dict(
        conn.execute(
            "SELECT upper(sku), sku FROM store_variant WHERE store = %s AND uid = ANY(%s::uuid[])",
            (store, variants),
        ).fetchall()
    )
    if not got:
        return []
    expected = {
        r[0]
        for r in conn.execute(
            "SELECT upper(sv.sku) FROM transfer t JOIN transfer_move m ON m.transfer = t.id"
            " AND m.kind = 'shipped' AND m.store = t.from_store"
            " JOIN store_variant sv ON sv.store = m.store AND sv.uid = m.variant"
            " WHERE t.id = %s",
            (transfer,),
        )
    }
    if not expected:
        expected = {
            r[0]
            for r in conn.execute(
                "SELECT upper(COALESCE(l.sku, sv.sku)) FROM transfer_line l"
                " LEFT JOIN store_variant sv ON sv.store = l.store AND sv.uid = l.variant"
                " WHERE l.transfer = %s",
                (transfer,),
            )
            if r[0] is not None
        }
    if not expected:
        return []
    return sorted(sku for key, sku in got.items() if key not in expected)


def _insert_lines(
    conn: Conn, transfer: str, lines: Sequence[tuple[str | None, str | None, str | None, int]]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO transfer_line (transfer, line, sku, store, variant, qty)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(transfer, n, *line) for n, line in enumerate(lines, start=1)],
        )


def _lock_changes(conn: Conn) -> None:
    """Take change numbers in turn so they become visible in order (see migration 0016)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGE_LOCK,))


_RESTATE = """
WITH facts AS (
    SELECT t.id,
        a.at AS a_at, a.actor AS a_actor, a.store AS a_store,
        s.at AS s_at, r.at AS r_at, r.note AS r_note
    FROM transfer t
    LEFT JOIN LATERAL (SELECT at, actor, store FROM transfer_event e WHERE e.transfer = t.id
        AND e.kind = 'approved' AND e.store = t.from_store ORDER BY at, event LIMIT 1) a ON true
    LEFT JOIN LATERAL (SELECT at FROM transfer_event e WHERE e.transfer = t.id
        AND e.kind = 'shipped' AND e.store = t.from_store ORDER BY at, event LIMIT 1) s ON true
    LEFT JOIN LATERAL (SELECT at, note FROM transfer_event e WHERE e.transfer = t.id
        AND e.kind = 'received' AND e.store = t.to_store ORDER BY at, event LIMIT 1) r ON true
    WHERE t.id = ANY(%(ids)s::uuid[])
), worked AS (
    SELECT t.id,
        COALESCE(t.approved_at, f.a_at) AS approved_at,
        CASE WHEN t.approved_at IS NULL THEN f.a_actor ELSE t.approved_by END AS approved_by,
        CASE WHEN t.approved_at IS NULL THEN f.a_store ELSE t.approved_in END AS approved_in,
        f.s_at AS shipped_at, f.r_at AS received_at, f.r_note AS receive_reason,
        CASE WHEN f.r_at IS NOT NULL THEN 'received'
             WHEN f.s_at IS NOT NULL THEN 'shipped'
             WHEN t.cancelled_at IS NOT NULL THEN 'cancelled'
             WHEN COALESCE(t.approved_at, f.a_at) IS NOT NULL THEN 'approved'
             ELSE 'requested' END AS state
    FROM transfer t JOIN facts f ON f.id = t.id
)
UPDATE transfer t SET approved_at = w.approved_at, approved_by = w.approved_by,
    approved_in = w.approved_in, shipped_at = w.shipped_at, received_at = w.received_at,
    receive_reason = w.receive_reason, state = w.state,
    change_seq = nextval('transfer_change_seq'), updated_at = now()
FROM worked w WHERE w.id = t.id AND (
    t.approved_at IS DISTINCT FROM w.approved_at OR t.shipped_at IS DISTINCT FROM w.shipped_at
    OR t.received_at IS DISTINCT FROM w.received_at
    OR t.receive_reason IS DISTINCT FROM w.receive_reason OR t.state <> w.state)
"""


def restate(conn: Conn, ids: Iterable[str]) -> None:
    """Work the transfers' dates and state out again from HQ's actions and the stores'
    facts; a transfer that changed takes a new change number (caller holds the lock)."""
    conn.execute(_RESTATE, {"ids": list(ids)})


# --- HQ's actions ------------------------------------------------------------------------


def create(
    conn: Conn,
    *,
    from_store: str,
    to_store: str,
    lines: Sequence[tuple[str, int]],
    note: str | None,
    by: str,
) -> str:
    """A transfer asked for at HQ, of SKUs from the catalog; returns its id."""
    if from_store == to_store:
        raise TransferError("same_store", "a store cannot send to itself", "to_store")
    known = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM store WHERE id = ANY(%s)", ([from_store, to_store],)
        ).fetchall()
    }
    for name, store in (("from_store", from_store), ("to_store", to_store)):
        if store not in known:
            raise TransferError("unknown_store", f"no store {store}", name)
    if not lines:
        raise TransferError("no_lines", "add at least one SKU and quantity", "lines")
    if len(lines) > MAX_LINES:
        raise TransferError("too_many_lines", f"at most {MAX_LINES} lines", "lines")
    # The same SKU on several lines (in any case) is added up.
    merged: dict[str, tuple[str, int]] = {}
    for sku, qty in lines:
        if not 1 <= qty <= MAX_QTY:
            raise TransferError("bad_qty", f"{sku}: quantity must be 1 to {MAX_QTY}", "lines")
        first, before = merged.get(sku.upper(), (sku, 0))
        merged[sku.upper()] = (first, before + qty)
    found = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT upper(sku), sku FROM catalog_variant WHERE active AND upper(sku) = ANY(%s)",
            (list(merged),),
        )
    }
    missing = [merged[k][0] for k in merged if k not in found]
    if missing:
        raise TransferError(
            "unknown_sku", "not in the catalog: " + ", ".join(sorted(missing)[:10]), "lines"
        )
    transfer = new_id()
    with conn.transaction():
        _lock_changes(conn)
        conn.execute(
            "INSERT INTO transfer (id, from_store, to_store, note, requested_by, requested_in,"
            " requested_at) VALUES (%s, %s, %s, %s, %s, 'hq', now())",
            (transfer, from_store, to_store, note or None, by),
        )
        _insert_lines(conn, transfer, [(found[k], None, None, q) for k, (_, q) in merged.items()])
    return transfer


def _locked(conn: Conn, transfer: str) -> tuple[str, str, str]:
    row = conn.execute(
        "SELECT from_store, to_store, state FROM transfer WHERE id = %s FOR UPDATE", (transfer,)
    ).fetchone()
    if row is None:
        raise TransferError("unknown_transfer", "no such transfer")
    return row[0], row[1], row[2]


def approve(conn: Conn, transfer: str, *, by: str) -> None:
    """HQ agrees to a requested transfer; the sending store may then ship it."""
    with conn.transaction():
        _lock_changes(conn)
        _, _, state = _locked(conn, transfer)
        if state != "requested":
            raise TransferError("not_requested", f"this transfer is {state}, not awaiting approval")
        conn.execute(
            "UPDATE transfer SET approved_at = now(), approved_by = %s, approved_in = 'hq'"
            " WHERE id = %s",
            (by, transfer),
        )
        restate(conn, [transfer])


def cancel(conn: Conn, transfer: str, *, by: str, reason: str | None) -> None:
    """Call off a transfer that has not been shipped (as far as HQ has heard)."""
    with conn.transaction():
        _lock_changes(conn)
        _, _, state = _locked(conn, transfer)
        if state not in OPEN_STATES:
            raise TransferError("not_open", f"this transfer is {state}; only open ones cancel")
        conn.execute(
            "UPDATE transfer SET cancelled_at = now(), cancelled_by = %s, cancel_reason = %s"
            " WHERE id = %s",
            (by, reason or None, transfer),
        )
        restate(conn, [transfer])


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """One transfer in a list."""

    id: str
    from_store: str
    to_store: str
    state: str
    requested_in: str
    requested_by: str | None
    requested_at: datetime
    updated_at: datetime
    lines: int
    units: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One SKU of a transfer: asked for, shipped, received (None: not yet)."""

    sku: str
    requested: int
    shipped: int | None
    received: int | None

    @property
    def difference(self) -> int | None:
        """Received less shipped, once both are known."""
        if self.shipped is None or self.received is None:
            return None
        return self.received - self.shipped


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A store's event about the transfer, as kept."""

    event: str
    store: str
    kind: str
    at: datetime
    actor: str | None
    note: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Detail:
    """A transfer with its lines and the stores' events."""

    id: str
    from_store: str
    to_store: str
    state: str
    note: str | None
    requested_in: str
    requested_by: str | None
    requested_at: datetime
    approved_in: str | None
    approved_by: str | None
    approved_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    shipped_at: datetime | None
    received_at: datetime | None
    receive_reason: str | None
    change_seq: int
    lines: list[Line] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListFilter:
    """Which transfers a list shows: the stores seen (either side), a state, one store."""

    stores: tuple[str, ...]
    all_stores: bool = False
    state: str | None = None
    store: str | None = None
    direction: str | None = None  # 'out' or 'in', relative to `store`


def _list_where(f: ListFilter) -> tuple[str, dict[str, Any]]:
    clauses = []
    params: dict[str, Any] = {"stores": list(f.stores)}
    if not f.all_stores:
        clauses.append("(t.from_store = ANY(%(stores)s) OR t.to_store = ANY(%(stores)s))")
    if f.state == "open":
        clauses.append("t.state IN ('requested', 'approved', 'shipped')")
    elif f.state:
        clauses.append("t.state = %(state)s")
        params["state"] = f.state
    if f.store:
        params["store"] = f.store
        if f.direction == "out":
            clauses.append("t.from_store = %(store)s")
        elif f.direction == "in":
            clauses.append("t.to_store = %(store)s")
        else:
            clauses.append("(t.from_store = %(store)s OR t.to_store = %(store)s)")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """One store's open transfers by what they wait for: approval and shipping (the store
    sends them; HQ may approve too), and arrival (shipped to it, in transit)."""

    store: str
    to_approve: int
    to_ship: int
    in_transit: int

    @property
    def total(self) -> int:
        return self.to_approve + self.to_ship + self.in_transit


def waiting(conn: Conn, stores: Sequence[str]) -> list[Waiting]:
    """Each of `stores` (by id) with open transfers, and what they wait for."""
    rows = conn.execute(
        "SELECT store, count(*) FILTER (WHERE state = 'requested'),"
        " count(*) FILTER (WHERE state = 'approved'), count(*) FILTER (WHERE state = 'shipped')"
        " FROM (SELECT from_store AS store, state FROM transfer"
        "   WHERE state IN ('requested', 'approved') AND from_store = ANY(%(stores)s)"
        "  UNION ALL SELECT to_store, state FROM transfer"
        "   WHERE state = 'shipped' AND to_store = ANY(%(stores)s)) w"
        " GROUP BY store ORDER BY store",
        {"stores": list(stores)},
    ).fetchall()
    return [Waiting(store=r[0], to_approve=r[1], to_ship=r[2], in_transit=r[3]) for r in rows]


def list_transfers(
    conn: Conn, f: ListFilter, *, page: int, page_size: int | None
) -> tuple[list[Summary], int]:
    """A page of transfers, newest change first, and how many match."""
    where, params = _list_where(f)
    total_row = conn.execute("SELECT count(*) FROM transfer t" + where, params).fetchone()
    total = int(total_row[0]) if total_row else 0
    limit = ""
    if page_size is not None:
        limit = " LIMIT %(limit)s OFFSET %(offset)s"
        params.update(limit=page_size, offset=(max(page, 1) - 1) * page_size)
    rows = conn.execute(
        "SELECT t.id::text, t.from_store, t.to_store, t.state, t.requested_in, t.requested_by,"
        " t.requested_at, t.updated_at, count(l.line), COALESCE(sum(l.qty), 0)"
        " FROM transfer t LEFT JOIN transfer_line l ON l.transfer = t.id"
        + where
        + " GROUP BY t.id ORDER BY t.updated_at DESC, t.id"
        + limit,
        params,
    ).fetchall()
    return [
        Summary(
            id=r[0],
            from_store=r[1],
            to_store=r[2],
            state=r[3],
            requested_in=r[4],
            requested_by=r[5],
            requested_at=r[6],
            updated_at=r[7],
            lines=int(r[8]),
            units=int(r[9]),
        )
        for r in rows
    ], total


def sku_lines(conn: Conn, transfers: Sequence[str]) -> dict[str, list[Line]]:
    """Each transfer's lines by SKU: asked for, shipped by the sender, received by the
    receiver (a variant the crosswalk does not know yet shows as its id)."""
    wanted: dict[str, dict[str, list[Any]]] = {t: {} for t in transfers}
    if not transfers:
        return {}
    for transfer, sku, qty in conn.execute(
        "SELECT l.transfer::text, COALESCE(l.sku, sv.sku, l.variant::text), sum(l.qty)"
        " FROM transfer_line l"
        " LEFT JOIN store_variant sv ON sv.store = l.store AND sv.uid = l.variant"
        " WHERE l.transfer = ANY(%s::uuid[]) GROUP BY 1, 2 ORDER BY 1, min(l.line)",
        (list(transfers),),
    ):
        wanted[transfer].setdefault(sku.upper(), [sku, int(qty), None, None])
    for transfer, kind, sku, qty in conn.execute(
        "SELECT m.transfer::text, m.kind, COALESCE(sv.sku, m.variant::text), sum(m.qty)"
        " FROM transfer_move m JOIN transfer t ON t.id = m.transfer"
        " LEFT JOIN store_variant sv ON sv.store = m.store AND sv.uid = m.variant"
        " WHERE m.transfer = ANY(%s::uuid[]) AND m.store = CASE m.kind"
        "   WHEN 'shipped' THEN t.from_store ELSE t.to_store END"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, min(m.line)",
        (list(transfers),),
    ):
        entry = wanted[transfer].setdefault(sku.upper(), [sku, 0, None, None])
        entry[2 if kind == "shipped" else 3] = int(qty)
    return {
        t: [Line(sku=e[0], requested=e[1], shipped=e[2], received=e[3]) for e in lines.values()]
        for t, lines in wanted.items()
    }


def detail(conn: Conn, transfer: str) -> Detail | None:
    """One transfer with its lines, events and the alerts raised about it."""
    row = conn.execute(
        "SELECT id::text, from_store, to_store, state, note, requested_in, requested_by,"
        " requested_at, approved_in, approved_by, approved_at, cancelled_by, cancelled_at,"
        " cancel_reason, shipped_at, received_at, receive_reason, change_seq"
        " FROM transfer WHERE id = %s",
        (transfer,),
    ).fetchone()
    if row is None:
        return None
    events = [
        Event(event=r[0], store=r[1], kind=r[2], at=r[3], actor=r[4], note=r[5])
        for r in conn.execute(
            "SELECT event::text, store, kind, at, actor, note FROM transfer_event"
            " WHERE transfer = %s ORDER BY at, event",
            (transfer,),
        )
    ]
    problems = [
        dict(r[0]) | {"store": r[1], "raised_at": r[2]}
        for r in conn.execute(
            "SELECT details, store, raised_at FROM alert WHERE kind = %s"
            " AND details ->> 'transfer' = %s ORDER BY id",
            (ALERT_KIND, transfer),
        )
    ]
    return Detail(
        id=row[0],
        from_store=row[1],
        to_store=row[2],
        state=row[3],
        note=row[4],
        requested_in=row[5],
        requested_by=row[6],
        requested_at=row[7],
        approved_in=row[8],
        approved_by=row[9],
        approved_at=row[10],
        cancelled_by=row[11],
        cancelled_at=row[12],
        cancel_reason=row[13],
        shipped_at=row[14],
        received_at=row[15],
        receive_reason=row[16],
        change_seq=int(row[17]),
        lines=sku_lines(conn, [row[0]]).get(row[0], []),
        events=events,
        problems=problems,
    )


def in_transit(
    conn: Conn, stores: Sequence[str], keys: Sequence[str]
) -> dict[tuple[str, str], int]:
    """Units on the road to each store, per upper-case SKU: shipped on transfers it has not
    received yet (a receipt closes a transfer, so this is never negative)."""
    if not stores or not keys:
        return {}
    return {
        (store, key): int(qty)
        for store, key, qty in conn.execute(
            "SELECT t.to_store, upper(sv.sku), sum(m.qty) FROM transfer t"
            " JOIN transfer_move m ON m.transfer = t.id AND m.kind = 'shipped'"
            "   AND m.store = t.from_store"
            " JOIN store_variant sv ON sv.store = m.store AND sv.uid = m.variant"
            " WHERE t.state = 'shipped' AND t.to_store = ANY(%s) AND upper(sv.sku) = ANY(%s)"
            " GROUP BY 1, 2",
            (list(stores), list(keys)),
        )
    }


# --- the stores' pull ------------------------------------------------------------------


def changes_since(conn: Conn, store: str, since: int, limit: int) -> TransfersReply:
    """The store's transfers (sent or received) changed after `since`, oldest change first,
    lines by SKU; `next` to continue from and the store's `head`."""
    limit = max(1, min(limit, MAX_PAGE))
    with conn.transaction():
        head_row = conn.execute(
            "SELECT COALESCE(max(change_seq), 0) FROM transfer"
            " WHERE from_store = %(store)s OR to_store = %(store)s",
            {"store": store},
        ).fetchone()
        head = int(head_row[0]) if head_row else 0
        rows = conn.execute(
            "SELECT change_seq, id::text, from_store, to_store, state, requested_in,"
            " requested_at, note FROM transfer"
            " WHERE (from_store = %(store)s OR to_store = %(store)s) AND change_seq > %(since)s"
            " AND change_seq <= %(head)s ORDER BY change_seq LIMIT %(limit)s",
            {"store": store, "since": since, "head": head, "limit": limit},
        ).fetchall()
        lines = sku_lines(conn, [r[1] for r in rows])
    states = [
        TransferState(
            seq=int(r[0]),
            id=r[1],
            from_store=r[2],
            to_store=r[3],
            state=r[4],
            requested_in=r[5],
            requested_at=r[6].isoformat(timespec="seconds"),
            note=r[7],
            lines=[SkuLine(sku=x.sku, qty=x.requested) for x in lines[r[1]] if x.requested],
            shipped=[
                SkuLine(sku=x.sku, qty=x.shipped) for x in lines[r[1]] if x.shipped is not None
            ],
        )
        for r in rows
    ]
    return TransfersReply(
        transfers=states, next=states[-1].seq if states else max(head, 0), head=head
    )
