"""Reports: the X report of an open shift, Z reports (numbered, immutable, written at close),
the store's day across registers. Each is shown, printed (an x_report or z_report job on a
chosen printer) and downloaded as CSV. The figures are appliance/shifts.py's, as the API's
GET /shifts/{id}/report and GET /reports/day give them."""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response, request

from appliance import shifts
from appliance.admin.core import admin, admin_route, audit, bp, done, page, rt
from appliance.devices import print_queue
from appliance.devices.printers import list_printers
from appliance.errors import Invalid, NotFound
from appliance.receipts.layouts import TENDER_NAMES, local_time, money
from appliance.runtime import Runtime
from protocol.ids import UUID7_RE
from protocol.money import exponent
from protocol.permissions import Role
from webui.forms import FormInvalid, Forms, refused
from webui.spreadsheet import csv_cell

# Reading and printing reports: supervisors, as on the API (GET /shifts/{id}/report, X).
REPORTS_ROLE = Role.SUPERVISOR
Z_SHOWN = 100
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@bp.app_template_filter("local")
def _local_filter(at: str | None) -> str:
    """An event's UTC time as the store's local time, for the pages ("2026-11-26 08:49")."""
    return local_time(at, rt().settings.timezone) if at else "—"


class Amount:
    """An amount in minor units, written to CSV as a decimal number (12.50, -3.00)."""

    __slots__ = ("digits", "minor")

    def __init__(self, minor: int, currency: str) -> None:
        self.minor = minor
        self.digits = exponent(currency)

    def __str__(self) -> str:
        if self.digits == 0:
            return str(self.minor)
        sign = "-" if self.minor < 0 else ""
        whole, part = divmod(abs(self.minor), 10**self.digits)
        return f"{sign}{whole}.{part:0{self.digits}d}"


def csv_response(rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A CSV download: RFC 4180 quoting, CRLF, UTF-8 with a BOM (spreadsheets read it so)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([str(c) if isinstance(c, Amount) else csv_cell(c) for c in row])
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _shift_row(runtime: Runtime, shift_id: str) -> Any:
    if not re.fullmatch(UUID7_RE, shift_id):
        raise NotFound(f"no shift {shift_id}")
    row = runtime.db.one(
        "SELECT s.*, z.number FROM shift s LEFT JOIN z_report z ON z.shift = s.id WHERE s.id = ?",
        (shift_id,),
    )
    if row is None:
        raise NotFound(f"no shift {shift_id}")
    return row


def _kind() -> str:
    kind = request.values.get("kind", "x")
    if kind not in ("x", "z"):
        raise Invalid("a report is x or z", code="invalid_kind", details={"field": "kind"})
    return kind


def shift_report(runtime: Runtime, shift_id: str, kind: str) -> dict[str, Any]:
    """The report the API gives for this shift and kind, for the signed-in staff member."""
    _shift_row(runtime, shift_id)
    return shifts.report_for(runtime, admin().staff, shift_id, kind)


def _today(runtime: Runtime) -> str:
    return shifts.local_date(runtime.settings.timezone, runtime.now_ms())


def _date(name: str = "date", *, default: str | None = None) -> str:
    """A date query parameter (YYYY-MM-DD), or 422 `invalid_date`."""
    raw = (request.args.get(name) or "").strip()
    date = raw or (default if default is not None else _today(rt()))
    if not date:
        return ""
    if not _DATE.fullmatch(date):
        raise Invalid("a date is YYYY-MM-DD", code="invalid_date", details={"field": name})
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        raise Invalid(f"{date} is not a date", code="invalid_date") from None
    return date


def _show(forms: Forms | None = None, status: int = 200) -> Response:
    runtime = rt()
    date = _date()
    register = (request.args.get("register") or "").strip()
    where, params = ["1 = 1"], []
    if register:
        where.append("register = ?")
        params.append(register)
    z_date = _date("z_date", default="")
    if z_date:
        where.append("closed_at >= ? AND closed_at < ?")
        params.extend(shifts.local_day(runtime.settings.timezone, z_date))
    z_reports = runtime.db.query(
        f"SELECT shift, number, register, closed_at, body ->> '$.net_sales' AS net_sales"
        f" FROM z_report WHERE {' AND '.join(where)} ORDER BY number DESC LIMIT ?",
        (*params, Z_SHOWN),
    )
    open_shifts = runtime.db.query(
        "SELECT id, register, opened_at, opened_by FROM shift WHERE closed_event IS NULL"
        " ORDER BY opened_at"
    )
    registers = [
        row["register"]
        for row in runtime.db.query("SELECT DISTINCT register FROM shift ORDER BY register")
    ]
    return page(
        "admin/reports.html",
        status=status,
        forms=forms or Forms(),
        day=shifts.day_summary(runtime, date),
        date=date,
        register=register,
        registers=registers,
        z_reports=z_reports,
        open_shifts=open_shifts,
        m=_money(runtime),
    )


def _money(runtime: Runtime) -> Any:
    settings = runtime.settings

    def m(amount: int | None, currency: str | None = None) -> str:
        if amount is None:
            return "—"
        return money(amount, currency or settings.currency, settings.locale)

    return m


@admin_route("/reports", role=REPORTS_ROLE)
def reports() -> Response:
    """The day's summary (?date=), the open shifts' X reports, and the Z reports."""
    return _show()


def _show_shift(
    shift_id: str, kind: str, forms: Forms | None = None, status: int = 200
) -> Response:
    runtime = rt()
    report = shift_report(runtime, shift_id, kind)
    return page(
        "admin/report.html",
        status=status,
        forms=forms or Forms(),
        report=report,
        kind=kind,
        printers=[(str(p.id), p.name) for p in list_printers(runtime)],
        tender_names=TENDER_NAMES,
        m=_money(runtime),
    )


@admin_route("/reports/shifts/<shift_id>", role=REPORTS_ROLE)
def report_shift(shift_id: str) -> Response:
    """One shift's X report (?kind=x, while open) or Z report (?kind=z, once closed)."""
    return _show_shift(shift_id, _kind())


@admin_route("/reports/shifts/<shift_id>/print", role=REPORTS_ROLE, methods=("POST",))
def report_print(shift_id: str) -> Response:
    """Queue the report on a chosen printer; the print worker prints it like a receipt."""
    runtime = rt()
    kind = _kind()
    form = "print"
    report = shift_report(runtime, shift_id, kind)
    try:
        raw = (request.form.get("printer") or "").strip()
        chosen = {str(p.id): p for p in list_printers(runtime)}.get(raw)
        if chosen is None:
            raise FormInvalid(form, {"printer": "choose a printer from the list"})
        job_kind = "z_report" if kind == "z" else "x_report"
        with runtime.db.write():
            job = print_queue.enqueue_report(
                runtime, chosen.id, kind=job_kind, shift=shift_id, staff=admin().staff.id
            )
            audit(
                "report_print",
                f"shift:{shift_id}",
                {"kind": job_kind, "printer": chosen.id, "job": job, "number": report["number"]},
            )
    except FormInvalid as exc:
        return _show_shift(shift_id, kind, refused(exc), exc.status)
    runtime.print_wake.set()
    title = f"Z report {report['number']}" if kind == "z" else "X report"
    return done(
        "admin.report_shift", f"{title} sent to {chosen.name}", shift_id=shift_id, kind=kind
    )


def shift_csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """An X or Z report as CSV rows: section, item, count, amount (and counted, difference)."""
    cur = report["currency"]

    def a(minor: int | None) -> Amount | str:
        return "" if minor is None else Amount(minor, cur)

    rows: list[list[Any]] = [
        ["section", "item", "count", "amount", "counted", "difference"],
        ["report", "kind", "", report["kind"].upper(), "", ""],
        ["report", "number", "", report["number"] or "", "", ""],
        ["report", "store", "", report["store"], "", ""],
        ["report", "register", "", report["register"], "", ""],
        ["report", "shift", "", report["shift"], "", ""],
        ["report", "opened_at", "", report["opened_at"], "", ""],
        ["report", "opened_by", "", report["opened_by"] or "", "", ""],
        ["report", "closed_at", "", report["closed_at"] or "", "", ""],
        ["report", "closed_by", "", report["closed_by"] or "", "", ""],
        ["report", "currency", "", cur, "", ""],
    ]
    sales, voids, returns = report["sales"], report["voids"], report["returns"]
    rows += [
        ["sales", "gross", sales["count"], a(sales["gross"]), "", ""],
        ["sales", "discounts", "", a(sales["discounts"]), "", ""],
        ["sales", "total", sales["count"], a(sales["total"]), "", ""],
        ["sales", "tax", "", a(sales["tax"]), "", ""],
        ["voids", "total", voids["count"], a(voids["total"]), "", ""],
        ["returns", "total", returns["count"], a(returns["total"]), "", ""],
        ["net", "net_sales", "", a(report["net_sales"]), "", ""],
        ["net", "net_tax", "", a(report["net_tax"]), "", ""],
    ]
    for tax in report["taxes"]:
        rate = f"{tax['rate_ppm'] / 10_000:g}%"
        rows.append(["tax", f"{rate} sales", "", a(tax["sales"]), "", ""])
        rows.append(["tax", f"{rate} tax", "", a(tax["tax"]), "", ""])
    for tender in report["tenders"]:
        rows.append(
            [
                "tender",
                tender["kind"],
                "",
                a(tender["expected"]),
                a(tender.get("counted")),
                a(tender.get("difference")),
            ]
        )
    cash = report["cash"]
    for key in ("float", "taken", "paid_out", "pay_ins", "pay_outs", "expected"):
        rows.append(["cash", key, "", a(cash[key]), "", ""])
    rows.append(["cash", "counted", "", "", a(cash["counted"]), a(cash["over_short"])])
    rows += [
        ["count", "no_sales", report["no_sales"], "", "", ""],
        ["count", "line_voids", report["line_voids"], "", "", ""],
        ["count", "overrides", report["overrides"], "", "", ""],
    ]
    return rows


@admin_route("/reports/shifts/<shift_id>/csv", role=REPORTS_ROLE)
def report_csv(shift_id: str) -> Response:
    """The report as CSV (amounts as decimal numbers in the store's currency)."""
    kind = _kind()
    report = shift_report(rt(), shift_id, kind)
    name = f"z-report-{report['number']}" if kind == "z" else f"x-report-{report['register']}"
    return csv_response(shift_csv_rows(report), f"{rt().store}-{name}.csv")


def day_csv_rows(day: dict[str, Any]) -> list[list[Any]]:
    """The day's summary as CSV rows: one per shift, then the store's totals and tenders."""
    cur = day["currency"]

    def a(minor: int | None) -> Amount | str:
        return "" if minor is None else Amount(minor, cur)

    rows: list[list[Any]] = [
        ["date", "store", "shift", "register", "closed", "z_number", "net_sales", "over_short"]
    ]
    for s in day["shifts"]:
        rows.append(
            [
                day["date"],
                day["store"],
                s["shift"],
                s["register"],
                s["closed"],
                s["z_number"] if s["z_number"] is not None else "",
                a(s["net_sales"]),
                a(s["over_short"]),
            ]
        )
    rows.append([])
    rows.append(["total", "item", "amount"])
    for key in ("sales", "returns", "voids", "net_sales", "net_tax"):
        rows.append(["total", key, a(day["totals"][key])])
    rows.append(["total", "over_short", a(day["over_short"])])
    for tender in day["tenders"]:
        rows.append(["tender", tender["kind"], a(tender["expected"])])
    rows.append(["total", "open_shifts", day["open_shifts"]])
    return rows


@admin_route("/reports/day.csv", role=REPORTS_ROLE)
def day_csv() -> Response:
    """The store's day (?date=YYYY-MM-DD) as CSV."""
    date = _date()
    day = shifts.day_summary(rt(), date)
    return csv_response(day_csv_rows(day), f"{rt().store}-day-{date}.csv")


__all__ = ["csv_cell", "csv_response", "day_csv_rows", "shift_csv_rows"]
