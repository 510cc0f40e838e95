"""Transfers between stores, at the store (decisions.md §55): ask for one, approve what this
store sends, ship it, receive what another store shipped here, offline as well as online.

The store keeps a copy of its transfers as the cloud last said (`apply_page`, from the pull
in appliance/sync/transfers_pull.py) and of those asked for here. Every action is a journal
event made by `push.apply_own`, which also moves the stock ledger at once (TRANSFER_OUT when
shipping, TRANSFER_IN when receiving); what this store did is read back from its journal, so
a transfer shows as shipped or received here the moment it is, whatever the cloud has heard.
Lines travel by SKU between stores and by this store's own variant ids in its events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from appliance import push
from appliance.catalog.queries import exact_variant
from appliance.errors import Conflict, Invalid, NotFound
from appliance.runtime import Runtime
from appliance.staff.directory import StaffMember
from protocol.ids import new_id
from protocol.transfers import TransfersReply, TransferState

MAX_LINES = 500
MAX_QTY = 1_000_000
_RANK = {"requested": 0, "approved": 1, "cancelled": 2, "shipped": 3, "received": 4}
_STORE = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    """One SKU of a transfer: asked for, shipped, received (None: not known yet)."""

    sku: str
    title: str | None
    requested: int
    shipped: int | None
    received: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """A transfer as this store sees it: the cloud's state and what it did itself."""

    id: str
    from_store: str
    to_store: str
    direction: str  # 'out': this store sends; 'in': it receives
    state: str
    cloud_state: str | None
    note: str | None
    requested_in: str
    requested_at: str
    lines: list[Line] = field(default_factory=list)
    approved_here: bool = False
    shipped_here: bool = False
    received_here: bool = False
    receive_reason: str | None = None
    synced: bool = False

    @property
    def may_approve(self) -> bool:
        """This store sends it and it waits for approval."""
        return self.direction == "out" and self.state == "requested"

    @property
    def may_ship(self) -> bool:
        """This store sends it, it is approved and not shipped."""
        return self.direction == "out" and self.state == "approved"

    @property
    def may_receive(self) -> bool:
        """It was shipped here and not received yet."""
        return self.direction == "in" and self.state == "shipped" and not self.received_here


def _json(lines: Sequence[tuple[str, int]]) -> str:
    return msgspec.json.encode([[sku, qty] for sku, qty in lines]).decode()


def _lines_of(text: str | None) -> list[tuple[str, int]]:
    return [(str(sku), int(qty)) for sku, qty in msgspec.json.decode(text or "[]")]


# --- the cloud's copy ------------------------------------------------------------------


def version(rt: Runtime) -> int:
    """The cloud change number applied here."""
    return int(rt.db.scalar("SELECT version FROM cloud_transfers WHERE id = 1") or 0)


def apply_page(rt: Runtime, since: int, reply: TransfersReply) -> int:
    """Keep a page of the cloud's transfers and its `next` in one transaction; the version
    now applied (unchanged when another page moved it meanwhile)."""
    db = rt.db
    with db.write():
        applied = version(rt)
        if applied != since:
            return applied
        now = rt.now_ms()
        for t in reply.transfers:
            _keep(rt, t, now)
        db.execute(
            "UPDATE cloud_transfers SET version = ?, head = ?, pulled_ms = ?, problem = NULL"
            " WHERE id = 1",
            (reply.next, reply.head, now),
        )
    return reply.next


def _keep(rt: Runtime, t: TransferState, now: int) -> None:
    rt.db.execute(
        "INSERT INTO transfer (id, from_store, to_store, state, note, requested_in,"
        " requested_at, lines, shipped, cloud_seq, updated_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " state = excluded.state, note = excluded.note, lines = excluded.lines,"
        " shipped = excluded.shipped, cloud_seq = excluded.cloud_seq,"
        " updated_ms = excluded.updated_ms"
        " WHERE transfer.cloud_seq IS NULL OR transfer.cloud_seq < excluded.cloud_seq",
        (
            t.id,
            t.from_store,
            t.to_store,
            t.state,
            t.note,
            t.requested_in,
            t.requested_at,
            _json([(x.sku, x.qty) for x in t.lines]),
            _json([(x.sku, x.qty) for x in t.shipped]),
            t.seq,
            now,
        ),
    )


def record_problem(rt: Runtime, problem: str) -> None:
    """Keep why the last pull failed, for the Transfers page."""
    with rt.db.write():
        rt.db.execute("UPDATE cloud_transfers SET problem = ? WHERE id = 1", (problem,))


def pull_state(rt: Runtime) -> dict[str, Any]:
    """The pull's state: version, head, when last pulled, the last problem."""
    row = rt.db.one("SELECT version, head, pulled_ms, problem FROM cloud_transfers WHERE id = 1")
    return dict(row) if row is not None else {}


# --- reading ----------------------------------------------------------------------------


def _own(rt: Runtime, ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """This store's own transfer events by transfer and type (the first of each)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    if not ids:
        return found
    for row in rt.db.query(
        "SELECT envelope ->> '$.body.transfer' AS transfer, type, envelope ->> '$.body' AS body"
        " FROM event WHERE type LIKE 'transfer.%'"
        " AND envelope ->> '$.body.transfer' IN (SELECT value FROM json_each(?))"
        " ORDER BY store_seq",
        (msgspec.json.encode(list(ids)).decode(),),
    ):
        found.setdefault(row["transfer"], {}).setdefault(
            row["type"], msgspec.json.decode(row["body"])
        )
    return found


def _skus(rt: Runtime, variants: Sequence[str]) -> dict[str, str]:
    return {
        row["uid"]: row["sku"]
        for row in rt.db.query(
            "SELECT uid, sku FROM variant WHERE uid IN (SELECT value FROM json_each(?))",
            (msgspec.json.encode(list(variants)).decode(),),
        )
    }


def _titles(rt: Runtime, skus: Sequence[str]) -> dict[str, str]:
    return {
        str(row["sku"]).upper(): row["title"]
        for row in rt.db.query(
            "SELECT v.sku, f.doc ->> '$.title' AS title FROM variant v"
            " LEFT JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
            " WHERE upper(v.sku) IN (SELECT upper(value) FROM json_each(?))",
            (msgspec.json.encode(list(skus)).decode(),),
        )
    }


def _build(rt: Runtime, row: Any, own: Mapping[str, dict[str, Any]]) -> Transfer:
    store = rt.store
    direction = "out" if row["from_store"] == store else "in"
    state = str(row["state"])
    approved = "transfer.approved" in own
    shipped_body = own.get("transfer.shipped")
    received_body = own.get("transfer.received")
    if approved and _RANK[state] < _RANK["approved"]:
        state = "approved"
    if shipped_body is not None and direction == "out" and _RANK[state] < _RANK["shipped"]:
        state = "shipped"
    if received_body is not None and direction == "in":
        state = "received"
    asked = _lines_of(row["lines"])
    shipped = _lines_of(row["shipped"])
    variants = [
        line["variant"] for body in (shipped_body, received_body) if body for line in body["lines"]
    ]
    names = _skus(rt, variants)
    if shipped_body is not None and direction == "out":
        shipped = [
            (names.get(x["variant"], x["variant"]), int(x["qty"])) for x in shipped_body["lines"]
        ]
    received: list[tuple[str, int]] = []
    if received_body is not None:
        received = [
            (names.get(x["variant"], x["variant"]), int(x["qty"])) for x in received_body["lines"]
        ]
    merged: dict[str, list[Any]] = {}
    for sku, qty in asked:
        merged.setdefault(sku.upper(), [sku, 0, None, None])[1] += qty
    for index, pairs in ((2, shipped), (3, received)):
        for sku, qty in pairs:
            entry = merged.setdefault(sku.upper(), [sku, 0, None, None])
            entry[index] = (entry[index] or 0) + qty
    titles = _titles(rt, [e[0] for e in merged.values()])
    return Transfer(
        id=row["id"],
        from_store=row["from_store"],
        to_store=row["to_store"],
        direction=direction,
        state=state,
        cloud_state=row["state"] if row["cloud_seq"] is not None else None,
        note=row["note"],
        requested_in=row["requested_in"],
        requested_at=row["requested_at"],
        lines=[
            Line(
                sku=e[0],
                title=titles.get(e[0].upper()),
                requested=e[1],
                shipped=e[2],
                received=e[3],
            )
            for e in merged.values()
        ],
        approved_here=approved,
        shipped_here=shipped_body is not None,
        received_here=received_body is not None,
        receive_reason=(received_body or {}).get("reason"),
        synced=row["cloud_seq"] is not None,
    )


def get(rt: Runtime, transfer: str) -> Transfer:
    """One transfer this store sends or receives; NotFound otherwise."""
    row = rt.db.one("SELECT * FROM transfer WHERE id = ?", (transfer,))
    if row is None:
        raise NotFound("no such transfer at this store", code="unknown_transfer")
    return _build(rt, row, _own(rt, [transfer]).get(transfer, {}))


def listing(rt: Runtime, *, open_only: bool = True, limit: int = 200) -> list[Transfer]:
    """This store's transfers, most recently changed first (open ones only, by default)."""
    rows = rt.db.query("SELECT * FROM transfer ORDER BY updated_ms DESC, id LIMIT ?", (limit * 2,))
    own = _own(rt, [r["id"] for r in rows])
    found = [_build(rt, r, own.get(r["id"], {})) for r in rows]
    if open_only:
        found = [t for t in found if t.state not in ("received", "cancelled")]
    return found[:limit]


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """This store's open transfers that wait on it: to approve and to ship (it sends them),
    to receive (shipped here)."""

    to_approve: int
    to_ship: int
    to_receive: int

    @property
    def total(self) -> int:
        return self.to_approve + self.to_ship + self.to_receive


def waiting(rt: Runtime) -> Waiting:
    """What waits on this store, as its own actions stand (read as `listing` builds them)."""
    # Open by the cloud's word is a superset of open here: this store's actions only advance.
    rows = rt.db.query("SELECT * FROM transfer WHERE state NOT IN ('received', 'cancelled')")
    own = _own(rt, [r["id"] for r in rows])
    found = [_build(rt, r, own.get(r["id"], {})) for r in rows]
    return Waiting(
        to_approve=sum(t.may_approve for t in found),
        to_ship=sum(t.may_ship for t in found),
        to_receive=sum(t.may_receive for t in found),
    )


def inbound(rt: Runtime) -> list[Transfer]:
    """Shipments on their way to this store, not received here yet."""
    return [t for t in listing(rt, open_only=True) if t.may_receive]


# --- acting -----------------------------------------------------------------------------


def parse_lines(rt: Runtime, text: str) -> list[tuple[str, str, int]]:
    """'SKU-or-barcode qty' per line as (variant, sku, qty), the same item added up;
    Invalid naming every bad line."""
    problems: list[str] = []
    merged: dict[str, list[Any]] = {}
    rows = text.splitlines()
    if len(rows) > MAX_LINES:
        raise Invalid(f"at most {MAX_LINES} lines", code="bad_lines", details={"field": "lines"})
    for number, raw in enumerate(rows, start=1):
        if not raw.strip():
            continue
        parts = _SPLIT.split(raw.strip())
        if len(parts) > 2:
            problems.append(f"line {number}: write a SKU or barcode and a quantity")
            continue
        code, qty_text = [*parts, "1"][:2]
        variant = exact_variant(rt.db, code)
        if variant is None:
            problems.append(f"line {number}: no active item has the SKU or barcode {code}")
            continue
        if not qty_text.isdigit() or not 1 <= int(qty_text) <= MAX_QTY:
            problems.append(f"line {number}: the quantity {qty_text} is not a whole number from 1")
            continue
        entry = merged.setdefault(variant, [variant, "", 0])
        entry[2] += int(qty_text)
    if problems:
        raise Invalid("; ".join(problems[:10]), code="bad_lines", details={"field": "lines"})
    if not merged:
        raise Invalid("list at least one item", code="bad_lines", details={"field": "lines"})
    names = _skus(rt, list(merged))
    return [(v, names[v], min(q, MAX_QTY)) for v, _, q in merged.values()]


def request(
    rt: Runtime,
    staff: StaffMember,
    *,
    other: str,
    direction: str,
    lines: Sequence[tuple[str, str, int]],
    note: str | None,
) -> str:
    """Ask for a transfer: `direction` 'in' asks `other` to send here, 'out' offers to send
    there. One transfer.requested event and the store's copy; the transfer's id."""
    if not _STORE.match(other):
        raise Invalid("a store is a code like s02", code="bad_store", details={"field": "store"})
    if other == rt.store:
        raise Invalid(
            "a store does not transfer to itself", code="same_store", details={"field": "store"}
        )
    if direction not in ("in", "out"):
        raise Invalid(
            "choose asking or sending", code="bad_direction", details={"field": "direction"}
        )
    from_store, to_store = (other, rt.store) if direction == "in" else (rt.store, other)
    transfer = new_id()
    body: dict[str, Any] = {
        "transfer": transfer,
        "from_store": from_store,
        "to_store": to_store,
        "lines": [{"variant": v, "qty": q} for v, _, q in lines],
    }
    if note:
        body["note"] = note
    with rt.db.write():
        env = push.apply_own(rt, type="transfer.requested", body=body, actor=staff)
        rt.db.execute(
            "INSERT INTO transfer (id, from_store, to_store, state, note, requested_in,"
            " requested_at, lines, updated_ms) VALUES (?, ?, ?, 'requested', ?, ?, ?, ?, ?)",
            (
                transfer,
                from_store,
                to_store,
                note,
                rt.store,
                env.at,
                _json([(sku, q) for _, sku, q in lines]),
                rt.now_ms(),
            ),
        )
    return transfer


def _touch(rt: Runtime, transfer: str) -> None:
    rt.db.execute("UPDATE transfer SET updated_ms = ? WHERE id = ?", (rt.now_ms(), transfer))


def approve(rt: Runtime, staff: StaffMember, transfer: str) -> str:
    """Agree to send what was asked for: one transfer.approved event; its id."""
    with rt.db.write():
        t = get(rt, transfer)
        if not t.may_approve:
            raise Conflict(
                f"this transfer is {t.state}"
                + ("" if t.direction == "out" else f"; {t.from_store} approves it"),
                code="not_approvable",
            )
        env = push.apply_own(rt, type="transfer.approved", body={"transfer": transfer}, actor=staff)
        _touch(rt, transfer)
    return env.id


def _variant_of(rt: Runtime, sku: str) -> str | None:
    found = rt.db.scalar(
        "SELECT uid FROM variant WHERE upper(sku) = upper(?) ORDER BY active DESC, id LIMIT 1",
        (sku,),
    )
    return None if found is None else str(found)


def _quantities(
    rt: Runtime, wanted: Sequence[str], given: Mapping[str, str]
) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """The quantities typed per SKU (blank is 0), with each SKU's variant here."""
    errors: dict[str, str] = {}
    out: list[tuple[str, str, int]] = []
    for sku in wanted:
        raw = (given.get(sku) or "0").strip()
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_QTY:
            errors[f"qty-{sku}"] = f"{sku}: a whole number from 0"
            continue
        qty = int(raw)
        if qty == 0:
            continue
        variant = _variant_of(rt, sku)
        if variant is None:
            errors[f"qty-{sku}"] = f"{sku} is not in this store's catalog"
            continue
        out.append((variant, sku, qty))
    return out, errors


def ship(rt: Runtime, staff: StaffMember, transfer: str, quantities: Mapping[str, str]) -> str:
    """Send an approved transfer: one transfer.shipped event (TRANSFER_OUT here at once)."""
    with rt.db.write():
        t = get(rt, transfer)
        if not t.may_ship:
            raise Conflict(
                f"this transfer is {t.state}; only an approved transfer this store sends ships",
                code="not_shippable",
            )
        lines, errors = _quantities(rt, [x.sku for x in t.lines], quantities)
        if errors:
            raise Invalid("check the quantities", code="bad_quantities", details=errors)
        if not lines:
            raise Invalid(
                "ship at least one item", code="nothing_shipped", details={"field": "_form"}
            )
        env = push.apply_own(
            rt,
            type="transfer.shipped",
            body={
                "transfer": transfer,
                "to_store": t.to_store,
                "lines": [{"variant": v, "qty": q} for v, _, q in lines],
            },
            actor=staff,
        )
        _touch(rt, transfer)
    return env.id


def receive(
    rt: Runtime,
    staff: StaffMember,
    transfer: str,
    quantities: Mapping[str, str],
    reason: str | None,
) -> str:
    """Book in a shipment: one transfer.received event (TRANSFER_IN here at once). A count
    that differs from what was shipped needs a reason."""
    with rt.db.write():
        t = get(rt, transfer)
        if not t.may_receive:
            raise Conflict(
                f"this transfer is {t.state}; only a shipment to this store is received",
                code="not_receivable",
            )
        shipped = {x.sku: x.shipped or 0 for x in t.lines if x.shipped}
        lines, errors = _quantities(rt, list(shipped), quantities)
        if errors:
            raise Invalid("check the quantities", code="bad_quantities", details=errors)
        got = {sku: q for _, sku, q in lines}
        differs = any(got.get(sku, 0) != qty for sku, qty in shipped.items())
        if differs and not reason:
            raise Invalid(
                "what arrived differs from what was shipped: say why",
                code="reason_required",
                details={"field": "reason"},
            )
        if not lines:
            raise Invalid(
                "at least one item must have arrived; if nothing did, leave it and tell head"
                " office",
                code="nothing_received",
                details={"field": "_form"},
            )
        body: dict[str, Any] = {
            "transfer": transfer,
            "from_store": t.from_store,
            "lines": [{"variant": v, "qty": q} for v, _, q in lines],
        }
        if reason:
            body["reason"] = reason
        env = push.apply_own(rt, type="transfer.received", body=body, actor=staff)
        _touch(rt, transfer)
    return env.id
