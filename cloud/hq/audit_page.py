"""Audit pages at /hq/audit: the inventory adjustment trail, variance reports from counts, the
override log across stores, each register's journal chain, alerts (resolved with a note by
an HQ admin) and dead-lettered payloads. Each list has filters, paging and a CSV of every row
the filters match; queries are in cloud/audit.py."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Response, request, url_for

from cloud import audit as queries
from cloud.hq.core import (
    ADMINS,
    EVERYONE,
    bp,
    check_store,
    currency,
    db,
    done,
    hq_route,
    me,
    page,
    requested_store,
    scope_stores,
    settings,
)
from cloud.hq.core import audit as record
from protocol.money import exponent
from webui.errors import Conflict, Invalid, NotFound
from webui.forms import FormInvalid, Forms, refused
from webui.pages import wants_json
from webui.spreadsheet import csv_cell

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
NOTE_MAX = 500


# ---- reading the filters ---------------------------------------------------------------


def _bad(field: str, message: str) -> Invalid:
    return Invalid(message, code="invalid_filter", details={"field": field})


def _date(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad(name, f"{name} must be a date as YYYY-MM-DD") from None


def _whole(name: str, *, high: int) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not 1 <= int(raw) <= high:
        raise _bad(name, f"{name} must be a whole number from 1")
    return int(raw)


def _code(name: str) -> str:
    """A staff id, reason or action code (lower case letters, digits, - and _), or empty."""
    raw = (request.args.get(name) or "").strip()
    if raw and not _NAME.fullmatch(raw):
        raise _bad(name, f"{name} is a code of lower-case letters, digits, - and _")
    return raw


def _choice(name: str, options: Sequence[str], default: str = "") -> str:
    raw = (request.args.get(name) or default).strip()
    if raw and raw not in options:
        raise _bad(name, f"{name} is one of: {', '.join(options)}")
    return raw


def _flag(name: str) -> bool:
    raw = request.args.get(name, "")
    if raw not in ("", "0", "1"):
        raise _bad(name, f"{name} is 1 or 0")
    return raw == "1"


def _text(name: str) -> str:
    text = (request.args.get(name) or "").strip()
    if len(text) > 100:
        raise _bad(name, f"{name} is at most 100 characters")
    return text


def _window() -> queries.Window:
    picked = requested_store()
    stores = (picked,) if picked else tuple(s for s, _ in scope_stores(me().user))
    since, until = _date("since"), _date("until")
    if since and until and since > until:
        raise _bad("until", "until must not be before since")
    return queries.Window(stores=stores, since=since, until=until)


def _page_no() -> int:
    return _whole("page", high=1_000_000) or 1


def _storeless() -> bool:
    """HQ-wide rows (no store) are shown only to those who see every store, and only when no
    one store is asked for."""
    return me().user.role.all_stores and requested_store() is None


def _args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k != "page" and v}


def _render(template: str, **context: Any) -> Response:
    return page(template, picked=requested_store(), args=_args(), **context)


def _csv(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
    )


def _cell(value: Any) -> str | int:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Decimal):
        return str(value)  # a number, even a negative one, never a formula
    return csv_cell(value)


def _amount(value: int | None, in_currency: str | None = None) -> Decimal | None:
    """Minor units as a CSV number with the currency's decimals (HQ's currency unless the row
    names its own)."""
    if value is None:
        return None
    try:
        places = exponent(in_currency or currency())
    except ValueError:  # a store's code protocol.money does not know: HQ's currency's places
        places = exponent(currency())
    return Decimal(value).scaleb(-places)


def _minor(value: int | None, in_currency: str | None = None) -> str:
    """Minor units as a decimal (HQ's currency unless the row names its own), empty when
    unknown."""
    amount = _amount(value, in_currency)
    return "" if amount is None else str(amount)


@bp.app_template_filter("audit_money")
def _money(value: int | None, in_currency: str | None = None) -> str:
    return _minor(value, in_currency) or "—"


# ---- the overview ----------------------------------------------------------------------


@hq_route("/audit", roles=EVERYONE)
def audit() -> Response:
    """What each audit list holds, with links."""
    window = _window()
    return _render(
        "hq/audit.html",
        summary=queries.overview(db(), window.stores, storeless=_storeless()),
        storeless=_storeless(),
    )


# ---- the adjustment trail --------------------------------------------------------------


def _trail_filter() -> queries.TrailFilter:
    return queries.TrailFilter(
        window=_window(),
        kind=_choice("kind", queries.TRAIL_KINDS) or None,
        reason=_code("reason"),
        staff=_code("staff"),
        text=_text("q"),
    )


@hq_route("/audit/adjustments", roles=EVERYONE)
def audit_trail() -> Response:
    """Adjustments and deliveries: who, when, why, and value at cost."""
    wanted = _trail_filter()
    found = queries.trail(db(), wanted, page=_page_no(), page_size=settings().page_size)
    return _render(
        "hq/audit_trail.html",
        wanted=wanted,
        found=found,
        reasons=queries.trail_reasons(db(), wanted.window.stores),
    )


@hq_route("/audit/adjustments.csv", roles=EVERYONE)
def audit_trail_csv() -> Response:
    """Every line of the trail the filters match."""
    found = queries.trail(db(), _trail_filter(), page=1, page_size=None)
    return _csv(
        "adjustments",
        (
            "at", "store", "event", "line", "kind", "sku", "product", "category", "qty",
            "reason", "note", "staff", "unit_cost", "value",
        ),
        (
            (
                r.at, r.store, r.event, r.line, r.kind, r.sku, r.product, r.category, r.qty,
                r.reason, r.note, r.actor, _amount(r.unit_cost), _amount(r.value),
            )
            for r in found.page.rows
        ),
    )  # fmt: skip


# ---- variance reports from counts ------------------------------------------------------


def _count_filter() -> queries.CountFilter:
    return queries.CountFilter(window=_window(), category=_whole("category", high=2**62))


def _categories() -> list[tuple[int, str]]:
    return [
        (r[0], r[1])
        for r in db().execute(
            "SELECT id, name FROM catalog_category WHERE active ORDER BY lower(name)"
        )
    ]


@hq_route("/audit/counts", roles=EVERYONE)
def audit_counts() -> Response:
    """Counts with their variance, and the variance by store and category."""
    wanted = _count_filter()
    conn = db()
    return _render(
        "hq/audit_counts.html",
        wanted=wanted,
        found=queries.counts(conn, wanted, page=_page_no(), page_size=settings().page_size),
        groups=queries.variance_by_store_category(conn, wanted),
        categories=_categories(),
    )


@hq_route("/audit/counts.csv", roles=EVERYONE)
def audit_counts_csv() -> Response:
    """Every counted line of the counts the filters match (or of `count`)."""
    wanted = _count_filter()
    one = (request.args.get("count") or "").strip()
    if one:
        if not _UUID.fullmatch(one):
            raise _bad("count", "count is an event id")
        wanted = queries.CountFilter(window=wanted.window, category=wanted.category, count=one)
    found = queries.counts(db(), wanted, page=1, page_size=None)
    return _csv(
        "count-variances",
        (
            "count", "at", "store", "staff", "scope", "blind", "sku", "product", "category",
            "expected", "counted", "difference", "unit_cost", "value",
        ),
        (
            (
                c.event, c.at, c.store, c.actor, c.scope, c.blind, line.sku, line.product,
                line.category, line.expected, line.counted, line.difference,
                _amount(line.unit_cost), _amount(line.value),
            )
            for c in found.rows
            for line in c.lines
        ),
    )  # fmt: skip


@hq_route("/audit/counts/<event>", roles=EVERYONE)
def audit_count(event: str) -> Response:
    """One count: every line, expected against counted, and the value of the difference."""
    conn = db()
    store = queries.count_store(conn, event) if _UUID.fullmatch(event) else None
    if store is None:
        raise NotFound(f"no stock count {event}", code="unknown_count")
    check_store(me().user, store)
    return _render("hq/audit_count.html", report=queries.count_report(conn, event))


# ---- the override log ------------------------------------------------------------------


def _override_filter() -> queries.OverrideFilter:
    return queries.OverrideFilter(
        window=_window(),
        staff=_code("staff"),
        action=_code("action"),
        offline=_flag("offline"),
    )


@hq_route("/audit/overrides", roles=EVERYONE)
def audit_overrides() -> Response:
    """Overrides across stores: by staff member, action, store, dates, offline only."""
    wanted = _override_filter()
    conn = db()
    return _render(
        "hq/audit_overrides.html",
        wanted=wanted,
        found=queries.overrides(conn, wanted, page=_page_no(), page_size=settings().page_size),
        actions=queries.override_actions(conn),
    )


@hq_route("/audit/overrides.csv", roles=EVERYONE)
def audit_overrides_csv() -> Response:
    """Every override the filters match."""
    found = queries.overrides(db(), _override_filter(), page=1, page_size=None)
    return _csv(
        "overrides",
        (
            "at", "store", "register", "action", "requester", "approver", "amount", "currency",
            "reason", "offline", "event", "used_by", "source",
        ),
        (
            (
                r.at, r.store, r.register, r.action, r.requester, r.approver,
                _amount(r.amount, r.currency),
                r.currency, r.reason, r.offline, r.event, r.used_by, r.source,
            )
            for r in found.rows
        ),
    )  # fmt: skip


# ---- journal chains --------------------------------------------------------------------


@hq_route("/audit/journal", roles=EVERYONE)
def audit_journal() -> Response:
    """Each register's chain: last seq and hash, last event, open breaks."""
    window = _window()
    conn = db()
    return _render(
        "hq/audit_journal.html",
        found=queries.chains(conn, window.stores, page=_page_no(), page_size=settings().page_size),
        alerts=queries.alerts(
            conn,
            queries.AlertFilter(window=window, kind="chain_broken", state="open"),
            page=1,
            page_size=settings().page_size,
        ),
    )


@hq_route("/audit/journal.csv", roles=EVERYONE)
def audit_journal_csv() -> Response:
    """Every origin's chain."""
    found = queries.chains(db(), _window().stores, page=1, page_size=None)
    return _csv(
        "journal-chains",
        ("origin", "store", "last_seq", "last_hash", "last_event_at", "received_at", "open_breaks"),
        (
            (r.origin, r.store, r.last_seq, r.last_hash, r.last_at, r.received_at, r.breaks)
            for r in found.rows
        ),
    )


# ---- alerts ----------------------------------------------------------------------------


def _alert_filter() -> queries.AlertFilter:
    return queries.AlertFilter(
        window=_window(),
        kind=_code("kind"),
        state=_choice("state", queries.ALERT_STATES, default="open"),
        storeless=_storeless(),
    )


def _alerts_page(forms: Forms, status: int = 200) -> Response:
    wanted = _alert_filter()
    conn = db()
    return _render(
        "hq/audit_alerts.html",
        status=status,
        forms=forms,
        wanted=wanted,
        found=queries.alerts(conn, wanted, page=_page_no(), page_size=settings().page_size),
        kinds=queries.alert_kinds(conn),
        note_max=NOTE_MAX,
    )


@hq_route("/audit/alerts", roles=EVERYONE)
def audit_alerts() -> Response:
    """Alerts (chain breaks, dead letters, over-returns, …), open ones first asked for."""
    return _alerts_page(Forms())


@hq_route("/audit/alerts.csv", roles=EVERYONE)
def audit_alerts_csv() -> Response:
    """Every alert the filters match."""
    found = queries.alerts(db(), _alert_filter(), page=1, page_size=None)
    return _csv(
        "alerts",
        ("id", "raised_at", "kind", "store", "details", "resolved_at", "resolved_by", "note"),
        (
            (
                r.id,
                r.raised_at,
                r.kind,
                r.store,
                _details(r.details),
                r.resolved_at,
                r.resolved_by,
                r.note,
            )
            for r in found.rows
        ),
    )


def _details(details: Any) -> str:
    return json.dumps(details, sort_keys=True, ensure_ascii=False)


@bp.app_template_filter("audit_details")
def _details_filter(details: dict[str, Any]) -> str:
    return "; ".join(
        f"{key}: {_details(value) if isinstance(value, (dict, list)) else value}"
        for key, value in sorted(details.items())
    )


@hq_route("/audit/alerts/<int:alert>/resolve", roles=ADMINS, methods=("POST",))
def audit_alert_resolve(alert: int) -> Response:
    """Resolve an open alert with a note saying what was done."""
    conn = db()
    exists, store = queries.alert_store(conn, alert)
    if not exists:
        raise NotFound(f"no alert {alert}", code="unknown_alert")
    if store is not None:
        check_store(me().user, store)
    form = f"alert-{alert}"
    note = (request.form.get("note") or "").strip()
    try:
        if not note:
            raise FormInvalid(form, {"note": "say what was done about it"})
        if len(note) > NOTE_MAX or any(ch in note for ch in "\r\n\x00"):
            raise FormInvalid(form, {"note": f"one line of at most {NOTE_MAX} characters"})
    except FormInvalid as exc:
        if wants_json():
            raise Invalid("the form has errors", details=exc.errors) from None
        return _alerts_page(refused(exc), status=exc.status)
    with conn.transaction():
        try:
            resolved = queries.resolve_alert(conn, alert, by=me().user.username, note=note)
        except queries.AlreadyResolved:
            raise Conflict(f"alert {alert} is already resolved", code="already_resolved") from None
        record("alert.resolve", str(alert), {"kind": resolved.kind, "note": note})
    back = {k: v for k, v in request.args.items() if k in ("store", "kind", "state", "page")}
    return done("hq.audit_alerts", f"Alert {alert} ({resolved.kind}) resolved", **back)


# ---- dead letters ----------------------------------------------------------------------


@hq_route("/audit/dead-letters", roles=EVERYONE)
def audit_dead_letters() -> Response:
    """Payloads ingest could not take, with why."""
    return _render(
        "hq/audit_dead_letters.html",
        found=queries.dead_letters(
            db(),
            _window(),
            storeless=_storeless(),
            page=_page_no(),
            page_size=settings().page_size,
        ),
    )


@hq_route("/audit/dead-letters.csv", roles=EVERYONE)
def audit_dead_letters_csv() -> Response:
    """Every dead letter the filters match (without the payloads: download each one)."""
    found = queries.dead_letters(db(), _window(), storeless=_storeless(), page=1, page_size=None)
    return _csv(
        "dead-letters",
        ("id", "received_at", "store", "topic", "bytes", "reason", "raw_url"),
        (
            (
                r.id,
                r.received_at,
                r.store,
                r.topic,
                r.size,
                r.reason,
                url_for("hq.audit_dead_letter_raw", letter=r.id),
            )
            for r in found.rows
        ),
    )


def _letter(letter: int) -> queries.DeadLetter:
    found = queries.dead_letter(db(), letter)
    if found is None:
        raise NotFound(f"no dead letter {letter}", code="unknown_dead_letter")
    if found.store is None:
        if not me().user.role.all_stores:
            raise NotFound(f"no dead letter {letter}", code="unknown_dead_letter")
    else:
        check_store(me().user, found.store)
    return found


@hq_route("/audit/dead-letters/<int:letter>", roles=EVERYONE)
def audit_dead_letter(letter: int) -> Response:
    """One dead letter: its payload as text (escaped) or as a hex dump, never as HTML."""
    return _render("hq/audit_dead_letter.html", letter=_letter(letter))


@hq_route("/audit/dead-letters/<int:letter>/raw", roles=EVERYONE)
def audit_dead_letter_raw(letter: int) -> Response:
    """The payload's bytes as they came, as a download."""
    found = _letter(letter)
    return Response(
        found.raw or b"",
        mimetype="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="dead-letter-{found.id}.bin"',
        },
    )
