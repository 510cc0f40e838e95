"""The Transfers pages: every transfer a user may see (filters by state, store and direction,
paging, CSV), a request made at HQ with SKU lines, a transfer's detail with shipped against
received and the receiving store's reason, and approving or cancelling one.

Who may do what (decisions.md §55): HQ admins and buyers act on every transfer; a store
manager sees transfers to or from their stores, may ask for one that one of their stores
sends or receives, may approve what one of their stores sends, and may cancel an open one
of their stores. Shipping and receiving happen only at the stores (their admin pages).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta

from flask import Response, request

from cloud import stock_grid
from cloud import transfers as domain
from cloud.hq.accounts import HqUser
from cloud.hq.core import (
    EVERYONE,
    audit,
    db,
    done,
    form_text,
    hq_route,
    me,
    page,
    requested_store,
    scope_stores,
    settings,
)
from webui.errors import Forbidden, Invalid, NotFound
from webui.forms import FormInvalid, Forms, refused
from webui.pages import wants_json
from webui.spreadsheet import csv_cell

STATE_CHOICES = (
    ("open", "Open (not received or cancelled)"),
    ("", "Any state"),
    *((s, s.capitalize()) for s in domain.STATES),
)
_LINE = re.compile(r"^\s*([^\s,;]+)\s*[\s,;]\s*(\d{1,7})\s*$")


def _whole(name: str, *, low: int, high: int) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
        raise Invalid(
            f"{name} must be a whole number from {low}",
            code="invalid_filter",
            details={"field": name},
        )
    return int(raw)


def _filter() -> tuple[domain.ListFilter, int]:
    user = me().user
    state = request.args.get("state", "open")
    if state not in {value for value, _ in STATE_CHOICES}:
        raise Invalid(
            "state is one of: " + ", ".join(v or "(any)" for v, _ in STATE_CHOICES),
            code="invalid_filter",
            details={"field": "state"},
        )
    direction = request.args.get("direction") or None
    if direction not in (None, "in", "out"):
        raise Invalid(
            "direction is in or out", code="invalid_filter", details={"field": "direction"}
        )
    return (
        domain.ListFilter(
            stores=tuple(s for s, _ in scope_stores(user)),
            all_stores=user.role.all_stores,
            state=state or None,
            store=requested_store(),
            direction=direction,
        ),
        _whole("page", low=1, high=1_000_000) or 1,
    )


def _stores() -> list[tuple[str, str]]:
    return [
        (r[0], f"{r[1]} ({r[0]})")
        for r in db()
        .execute("SELECT id, COALESCE(name, 'Store ' || id) FROM store ORDER BY id")
        .fetchall()
    ]


def _list_page(forms: Forms, status: int = 200) -> Response:
    wanted, page_no = _filter()
    size = settings().page_size
    rows, total = domain.list_transfers(db(), wanted, page=page_no, page_size=size)
    pages = max(1, -(-total // size))
    args = {k: v for k, v in request.args.items() if k != "page"}
    args.setdefault("state", wanted.state or "")
    return page(
        "hq/transfers.html",
        status=status,
        forms=forms,
        rows=rows,
        total=total,
        page_no=min(page_no, pages),
        pages=pages,
        wanted=wanted,
        args=args,
        states=STATE_CHOICES,
        stores=_stores(),
    )


@hq_route("/transfers", roles=EVERYONE)
def transfers() -> Response:
    """The transfers this user may see, newest change first, and the request form (filled
    in from `from_store`, `to_store` and `lines` when given: a suggested transfer)."""
    wanted = {
        name: (request.args.get(name) or "")[:limit]
        for name, limit in (("from_store", 20), ("to_store", 20), ("lines", 5000))
        if request.args.get(name)
    }
    return _list_page(Forms(values={"new": wanted} if wanted else {}))


def _lines(text: str) -> list[tuple[str, int]]:
    """'SKU qty' per line (a comma, semicolon or tab between them also works)."""
    out: list[tuple[str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _LINE.match(raw)
        if match is None:
            raise FormInvalid(
                "new", {"lines": f"line {number}: write a SKU, a space and a quantity"}
            )
        out.append((match.group(1), int(match.group(2))))
    return out


def _may_ask(user: HqUser, from_store: str, to_store: str) -> bool:
    return user.may_see(from_store) or user.may_see(to_store)


@hq_route("/transfers", roles=EVERYONE, methods=("POST",))
def transfer_create() -> Response:
    """Ask for a transfer: from a store, to a store, SKU lines."""
    user = me().user
    try:
        from_store = form_text("from_store", max_length=20)
        to_store = form_text("to_store", max_length=20)
        errors = {}
        if not from_store:
            errors["from_store"] = "choose the store that sends"
        if not to_store:
            errors["to_store"] = "choose the store that receives"
        if errors:
            raise FormInvalid("new", errors)
        if not _may_ask(user, from_store, to_store):
            raise FormInvalid(
                "new",
                {"to_store": "one of the two stores must be yours"},
                status=403,
            )
        lines = _lines((request.form.get("lines") or "")[:20_000])
        note = form_text("note", max_length=500) or None
        conn = db()
        try:
            with conn.transaction():
                transfer = domain.create(
                    conn,
                    from_store=from_store,
                    to_store=to_store,
                    lines=lines,
                    note=note,
                    by=user.username,
                )
                audit(
                    "transfer.request",
                    transfer,
                    {"from": from_store, "to": to_store, "lines": len(lines)},
                )
        except domain.TransferError as exc:
            raise FormInvalid("new", {exc.field or "_form": exc.message}) from None
    except FormInvalid as exc:
        if wants_json():
            raise Invalid("the form has errors", details=exc.errors) from None
        return _list_page(refused(exc), status=exc.status)
    return done(
        "hq.transfer",
        f"Asked {from_store} to send {len(lines)} line(s) to {to_store}",
        transfer=transfer,
    )


def _visible(transfer: uuid.UUID) -> domain.Detail:
    """The transfer, if this user may see it (either store in scope)."""
    shown = domain.detail(db(), str(transfer))
    if shown is None:
        raise NotFound("no such transfer", code="unknown_transfer")
    user = me().user
    if not (user.may_see(shown.from_store) or user.may_see(shown.to_store)):
        raise Forbidden(
            "this transfer is between stores that are not yours",
            code="store_out_of_scope",
            details={"stores": [shown.from_store, shown.to_store]},
        )
    return shown


def _may_approve(user: HqUser, shown: domain.Detail) -> bool:
    return user.role.all_stores or user.may_see(shown.from_store)


@hq_route("/transfers/<uuid:transfer>", roles=EVERYONE)
def transfer(transfer: uuid.UUID) -> Response:
    """One transfer: its stores, dates, lines (asked, shipped, received) and any problems."""
    shown = _visible(transfer)
    config = settings()
    freshness = stock_grid.store_columns(
        db(),
        [shown.from_store, shown.to_store],
        stale_after=timedelta(minutes=config.stale_after_minutes),
    )
    user = me().user
    return page(
        "hq/transfer.html",
        t=shown,
        freshness=freshness,
        may_approve=shown.state == "requested" and _may_approve(user, shown),
        may_cancel=shown.state in domain.OPEN_STATES,
    )


@hq_route("/transfers/<uuid:transfer>/approve", roles=EVERYONE, methods=("POST",))
def transfer_approve(transfer: uuid.UUID) -> Response:
    """Approve a requested transfer (HQ, or a manager of the sending store)."""
    shown = _visible(transfer)
    user = me().user
    if not _may_approve(user, shown):
        raise Forbidden(
            f"only HQ or {shown.from_store}'s manager approves what {shown.from_store} sends",
            code="not_sender",
        )
    conn = db()
    try:
        with conn.transaction():
            domain.approve(conn, shown.id, by=user.username)
            audit("transfer.approve", shown.id, {"from": shown.from_store, "to": shown.to_store})
    except domain.TransferError as exc:
        raise Invalid(exc.message, code=exc.code) from None
    return done("hq.transfer", f"Approved: {shown.from_store} may ship it", transfer=shown.id)


@hq_route("/transfers/<uuid:transfer>/cancel", roles=EVERYONE, methods=("POST",))
def transfer_cancel(transfer: uuid.UUID) -> Response:
    """Cancel a transfer that has not been shipped."""
    shown = _visible(transfer)
    conn = db()
    reason = form_text("reason", max_length=200) or None
    try:
        with conn.transaction():
            domain.cancel(conn, shown.id, by=me().user.username, reason=reason)
            audit("transfer.cancel", shown.id, {"reason": reason})
    except domain.TransferError as exc:
        raise Invalid(exc.message, code=exc.code) from None
    return done("hq.transfer", "Cancelled", transfer=shown.id)


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.isoformat(timespec="seconds")


@hq_route("/transfers.csv", roles=EVERYONE)
def transfers_csv() -> Response:
    """Every transfer the filters match, one line per SKU."""
    wanted, _ = _filter()
    conn = db()
    rows, _ = domain.list_transfers(conn, wanted, page=1, page_size=None)
    lines = domain.sku_lines(conn, [r.id for r in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "transfer",
            "from_store",
            "to_store",
            "state",
            "requested_in",
            "requested_at",
            "sku",
            "requested",
            "shipped",
            "received",
            "difference",
        ]
    )
    for row in rows:
        for line in lines.get(row.id, []):
            writer.writerow(
                [
                    row.id,
                    row.from_store,
                    row.to_store,
                    row.state,
                    csv_cell(row.requested_in),
                    _iso(row.requested_at),
                    csv_cell(line.sku),
                    line.requested,
                    csv_cell(line.shipped),
                    csv_cell(line.received),
                    csv_cell(line.difference),
                ]
            )
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="transfers-{stamp}.csv"'},
    )
