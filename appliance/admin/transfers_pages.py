"""Transfers at the store (decisions.md §55): the store's transfers (open first), asking another
store for stock or offering to send some, approving what this store sends, shipping it and
receiving what was shipped here, with a reason when the count differs. Thin over
appliance/transfers.py; every action is a journal event, so it works offline and syncs later.
"""

from __future__ import annotations

from flask import Response, request

from appliance import transfers
from appliance.admin.core import admin, admin_route, audit, done, form_text, page, rt
from appliance.errors import ApiError
from protocol.permissions import Role
from webui.forms import FormInvalid, Forms, from_domain, refused

# Looking, shipping and receiving are floor work a supervisor leads (as deliveries are);
# asking for stock and agreeing to send it are a manager's.
TRANSFERS_ROLE = Role.SUPERVISOR
REQUEST_ROLE = Role.MANAGER


def _list(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    everything = transfers.listing(runtime, open_only=False)
    return page(
        "admin/transfers.html",
        status=status,
        forms=forms or Forms(),
        open=[t for t in everything if t.state not in ("received", "cancelled")],
        finished=[t for t in everything if t.state in ("received", "cancelled")][:20],
        pull=transfers.pull_state(runtime),
        may_request=admin().staff.role >= REQUEST_ROLE,
        store=runtime.store,
    )


@admin_route("/transfers", role=TRANSFERS_ROLE)
def transfers_page() -> Response:
    """This store's transfers: open ones, then the last finished."""
    return _list()


@admin_route("/transfers", role=REQUEST_ROLE, methods=("POST",))
def transfer_request() -> Response:
    """Ask another store to send stock here, or offer to send some there."""
    runtime = rt()
    form = "request"
    try:
        other = form_text("store", max_length=16).lower()
        direction = form_text("direction", max_length=3)
        note = form_text("note", max_length=200) or None
        text = (request.form.get("lines") or "")[:50_000]
        with runtime.db.write():
            lines = transfers.parse_lines(runtime, text)
            transfer = transfers.request(
                runtime, admin().staff, other=other, direction=direction, lines=lines, note=note
            )
            audit(
                "transfer_request",
                f"transfer:{transfer}",
                {"store": other, "direction": direction, "lines": len(lines)},
            )
    except FormInvalid as exc:
        return _list(refused(exc), exc.status)
    except ApiError as exc:
        return _list(refused(from_domain(form, exc)), exc.status)
    what = f"Asked {other} for" if direction == "in" else f"Offered {other}"
    return done("admin.transfer_page", f"{what} {len(lines)} item(s)", transfer=transfer)


def _detail(transfer: str, forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    shown = transfers.get(runtime, transfer)
    return page(
        "admin/transfer.html",
        status=status,
        forms=forms or Forms(),
        t=shown,
        may_approve=shown.may_approve and admin().staff.role >= REQUEST_ROLE,
        store=runtime.store,
    )


@admin_route("/transfers/<transfer>", role=TRANSFERS_ROLE)
def transfer_page(transfer: str) -> Response:
    """One transfer: its lines (asked, shipped, received) and what may be done next."""
    return _detail(transfer)


def _quantities() -> dict[str, str]:
    return {k[4:]: v for k, v in request.form.items() if k.startswith("qty-")}


def _act(transfer: str, action: str) -> Response | None:
    """Run one action; a refused form is shown again on the transfer's page."""
    runtime = rt()
    form = action
    try:
        with runtime.db.write():
            if action == "approve":
                event = transfers.approve(runtime, admin().staff, transfer)
            elif action == "ship":
                event = transfers.ship(runtime, admin().staff, transfer, _quantities())
            else:
                reason = form_text("reason", max_length=200) or None
                event = transfers.receive(runtime, admin().staff, transfer, _quantities(), reason)
            audit(f"transfer_{action}", f"event:{event}", {"transfer": transfer})
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = (
            exc.details if exc.code == "bad_quantities" and isinstance(exc.details, dict) else None
        )
        failed = FormInvalid(form, errors, status=exc.status) if errors else from_domain(form, exc)
        return _detail(transfer, refused(failed), exc.status)
    return None


@admin_route("/transfers/<transfer>/approve", role=REQUEST_ROLE, methods=("POST",))
def transfer_approve(transfer: str) -> Response:
    """Agree to send what another store asked for."""
    return _act(transfer, "approve") or done(
        "admin.transfer_page", "Approved: ship it when it is packed", transfer=transfer
    )


@admin_route("/transfers/<transfer>/ship", role=TRANSFERS_ROLE, methods=("POST",))
def transfer_ship(transfer: str) -> Response:
    """Ship an approved transfer: the counts typed leave this store's stock now."""
    return _act(transfer, "ship") or done(
        "admin.transfer_page", "Shipped: the stock has left this store", transfer=transfer
    )


@admin_route("/transfers/<transfer>/receive", role=TRANSFERS_ROLE, methods=("POST",))
def transfer_receive(transfer: str) -> Response:
    """Book in a shipment from another store: the counts typed join this store's stock now."""
    return _act(transfer, "receive") or done(
        "admin.transfer_page", "Received: the stock is in this store", transfer=transfer
    )
