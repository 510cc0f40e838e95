"""Shifts and cash: floats, pay-ins and pay-outs, no-sales, blind closes, X and Z reports."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec

from appliance.errors import Conflict, Forbidden, Invalid, NotFound
from appliance.runtime import Runtime
from protocol.bodies import CashCount, CashMoved, ShiftClosed, ShiftOpened
from protocol.cash import denominations
from protocol.envelope import format_at
from protocol.permissions import Action, Role

if TYPE_CHECKING:
    from appliance.push import Apply
    from appliance.staff.directory import StaffMember
    from appliance.staff.sessions import Caller

TENDER_KINDS = ("cash", "card", "store_credit", "gift_card", "exchange")


def check_count(step: Apply, count: CashCount, what: str) -> None:
    """A cash count adds up: Σ denomination × pieces = total."""
    valid = denominations(step.rt.settings.currency)
    unknown = sorted((d for d in count.counts if int(d) not in valid), key=int)
    if unknown:
        step.breach(
            "unknown_denomination",
            f"{', '.join(unknown)} is not a {step.rt.settings.currency} note or coin",
            denominations=unknown,
        )
    summed = sum(int(denomination) * pieces for denomination, pieces in count.counts.items())
    if summed != count.total:
        step.breach(
            "count_mismatch",
            f"the {what} counted by denomination is {summed}, not {count.total}",
            counted=summed,
        )


def open_shift_of(rt: Runtime, register: str) -> str | None:
    """The open shift of a register, if any."""
    value = rt.db.scalar(
        "SELECT id FROM shift WHERE register = ? AND closed_event IS NULL ORDER BY opened_at DESC LIMIT 1",
        (register,),
    )
    return None if value is None else str(value)


def apply_opened(step: Apply) -> None:
    """shift.opened: one open shift per register, with a float counted by denomination."""
    opened: ShiftOpened = step.body
    rt = step.rt
    step.actor()
    if rt.db.scalar("SELECT 1 FROM shift WHERE id = ?", (opened.shift,)):
        step.breach("duplicate_shift", f"shift {opened.shift} already exists")
        return
    current = open_shift_of(rt, step.env.origin)
    if current is not None:
        step.breach(
            "shift_open", f"{step.env.origin} still has shift {current} open; close it first"
        )
    check_count(step, opened.float, "float")
    rt.db.execute(
        "INSERT INTO shift (id, register, opened_event, opened_at, opened_by, float_total, float_counts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            opened.shift,
            step.env.origin,
            step.env.id,
            step.env.at,
            step.env.actor,
            opened.float.total,
            json.dumps(opened.float.counts, sort_keys=True),
        ),
    )


def apply_cash_moved(step: Apply) -> None:
    """cash.moved: pay-in and pay-out need an amount and a supervisor; no-sale needs one too."""
    move: CashMoved = step.body
    rt = step.rt
    step.open_shift(move.shift)
    if not rt.db.scalar(
        "SELECT 1 FROM reason_code WHERE code = ? AND kind = 'cash' AND active = 1", (move.reason,)
    ):
        step.breach("unknown_reason", f"no cash reason {move.reason}")
    if move.kind == "no_sale":
        if move.amount:
            step.breach("bad_amount", "a no-sale moves no money")
        step.authorize(Action.NO_SALE)
        signed = 0
    else:
        if move.amount <= 0:
            step.breach("bad_amount", f"a {move.kind.replace('_', '-')} needs an amount")
        step.authorize(
            Action.PAY_IN if move.kind == "pay_in" else Action.PAY_OUT, amount=move.amount
        )
        signed = move.amount if move.kind == "pay_in" else -move.amount
    rt.db.execute(
        "INSERT INTO cash_movement (event, shift, kind, amount, reason, note, at, actor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            step.env.id,
            move.shift,
            move.kind,
            signed,
            move.reason,
            move.note,
            step.env.at,
            step.env.actor,
        ),
    )
    if step.live:
        from appliance.devices.print_queue import kick_drawer

        kick_drawer(rt, step.env.origin, event=step.env.id, staff=step.env.actor, reason=move.kind)


def apply_closed(step: Apply) -> None:
    """shift.closed: a blind count, then the numbered Z report, which never changes."""
    closed: ShiftClosed = step.body
    rt = step.rt
    if not step.open_shift(closed.shift):
        step.actor()
        return
    step.authorize(Action.SHIFT_CLOSE)
    check_count(step, closed.cash, "cash")
    rt.db.execute(
        "UPDATE shift SET closed_event = ?, closed_at = ?, closed_by = ? WHERE id = ?",
        (step.env.id, step.env.at, step.env.actor, closed.shift),
    )
    counted: dict[str, int] = {str(kind): amount for kind, amount in closed.counted.items()}
    counted["cash"] = closed.cash.total
    number = int(rt.db.scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM z_report"))
    body = report(rt, closed.shift, counted=counted, number=number)
    rt.db.execute(
        "INSERT INTO z_report (shift, number, event, register, closed_at, body) VALUES (?, ?, ?, ?, ?, ?)",
        (
            closed.shift,
            number,
            step.env.id,
            step.env.origin,
            step.env.at,
            msgspec.json.encode(body).decode(),
        ),
    )
    over_short = body["cash"]["over_short"]
    if over_short:
        step.flag(
            "cash_over_short",
            f"the drawer was {'over' if over_short > 0 else 'short'} by {abs(over_short)} at close",
        )


def report(
    rt: Runtime, shift_id: str, *, counted: dict[str, int] | None = None, number: int | None = None
) -> dict[str, Any]:
    """An X report (no counts) or the content of a Z report, from the shift's projections."""
    shift = rt.db.one("SELECT * FROM shift WHERE id = ?", (shift_id,))
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    one = rt.db.one
    sales = one(
        "SELECT count(*) AS count, COALESCE(SUM(subtotal), 0) AS gross,"
        " COALESCE(SUM(discount), 0) AS discounts, COALESCE(SUM(tax), 0) AS tax,"
        " COALESCE(SUM(total), 0) AS total FROM sale WHERE shift = ?",
        (shift_id,),
    )
    voids = one(
        "SELECT count(*) AS count, COALESCE(SUM(s.total), 0) AS total, COALESCE(SUM(s.tax), 0) AS tax"
        " FROM sale_void v JOIN sale s ON s.id = v.sale WHERE v.shift = ?",
        (shift_id,),
    )
    returns = one(
        "SELECT count(*) AS count, COALESCE(SUM(total), 0) AS total, COALESCE(SUM(tax), 0) AS tax"
        " FROM return_doc WHERE shift = ?",
        (shift_id,),
    )
    assert sales is not None and voids is not None and returns is not None
    taxes: dict[int, dict[str, int]] = {}
    for row in rt.db.query(
        "SELECT l.tax_rate_ppm AS rate, SUM(l.total) AS base, SUM(l.tax) AS tax FROM sale_line l"
        " JOIN sale s ON s.id = l.sale WHERE s.shift = ? AND l.voided = 0"
        " AND NOT EXISTS (SELECT 1 FROM sale_void v WHERE v.sale = s.id) GROUP BY l.tax_rate_ppm",
        (shift_id,),
    ):
        taxes[row["rate"]] = {"rate_ppm": row["rate"], "sales": row["base"], "tax": row["tax"]}
    for row in rt.db.query(
        "SELECT COALESCE(tax_rate_ppm, 0) AS rate, SUM(refund) AS base, SUM(l.tax) AS tax"
        " FROM return_line l JOIN return_doc r ON r.id = l.return_id WHERE r.shift = ?"
        " GROUP BY COALESCE(tax_rate_ppm, 0)",
        (shift_id,),
    ):
        rate = taxes.setdefault(row["rate"], {"rate_ppm": row["rate"], "sales": 0, "tax": 0})
        rate["sales"] -= row["base"]
        rate["tax"] -= row["tax"]
    by_kind = {
        row["kind"]: row["amount"]
        for row in rt.db.query(
            "SELECT kind, SUM(amount) AS amount FROM payment WHERE shift = ? GROUP BY kind",
            (shift_id,),
        )
    }
    moves = {
        row["kind"]: (row["count"], row["amount"])
        for row in rt.db.query(
            "SELECT kind, count(*) AS count, COALESCE(SUM(amount), 0) AS amount FROM cash_movement"
            " WHERE shift = ? GROUP BY kind",
            (shift_id,),
        )
    }
    cash_payments = rt.db.one(
        "SELECT COALESCE(SUM(CASE WHEN amount > 0 THEN amount END), 0) AS taken,"
        " COALESCE(-SUM(CASE WHEN amount < 0 THEN amount END), 0) AS paid_out"
        " FROM payment WHERE shift = ? AND kind = 'cash'",
        (shift_id,),
    )
    assert cash_payments is not None
    pay_ins = moves.get("pay_in", (0, 0))[1]
    pay_outs = -moves.get("pay_out", (0, 0))[1]
    expected_cash = shift["float_total"] + by_kind.get("cash", 0) + pay_ins - pay_outs
    tenders = []
    for kind in TENDER_KINDS:
        if kind == "cash":
            expected = expected_cash
        elif kind in by_kind or (counted and counted.get(kind) and kind != "exchange"):
            # A tender counted at close but never taken is over by all of it; hiding it
            # would lose the difference.
            expected = by_kind.get(kind, 0)
        else:
            continue
        line: dict[str, Any] = {"kind": kind, "expected": expected}
        if counted is not None and kind != "exchange":
            # Cash is always counted at close; a card or voucher total only when the cashier
            # entered one (the terminal's batch total, say). Not entered is not "counted 0".
            line["counted"] = counted.get(kind)
            line["difference"] = None if line["counted"] is None else line["counted"] - expected
        tenders.append(line)
    overrides = rt.db.scalar(
        "SELECT count(*) FROM approval a WHERE a.used_for IN"
        " (SELECT id FROM event WHERE id IN (SELECT id FROM sale WHERE shift = ?"
        "  UNION SELECT id FROM return_doc WHERE shift = ? UNION SELECT event FROM cash_movement WHERE shift = ?"
        "  UNION SELECT event FROM sale_void WHERE shift = ?))",
        (shift_id, shift_id, shift_id, shift_id),
    )
    line_voids = rt.db.scalar(
        "SELECT count(*) FROM sale_line l JOIN sale s ON s.id = l.sale WHERE s.shift = ? AND l.voided = 1",
        (shift_id,),
    )
    counted_cash = None if counted is None else counted.get("cash")
    net = sales["total"] - voids["total"] - returns["total"]
    result: dict[str, Any] = {
        "kind": "z" if number is not None else "x",
        "number": number,
        "store": rt.store,
        "currency": rt.settings.currency,
        "shift": shift_id,
        "register": shift["register"],
        "opened_at": shift["opened_at"],
        "opened_by": shift["opened_by"],
        "closed_at": shift["closed_at"],
        "closed_by": shift["closed_by"],
        "printed_at": format_at(rt.now_ms()),
        "sales": dict(sales),
        "voids": dict(voids),
        "returns": dict(returns),
        "net_sales": net,
        "net_tax": sales["tax"] - voids["tax"] - returns["tax"],
        "taxes": [taxes[rate] for rate in sorted(taxes)],
        "tenders": tenders,
        "cash": {
            "float": shift["float_total"],
            "taken": cash_payments["taken"],
            "paid_out": cash_payments["paid_out"],
            "pay_ins": pay_ins,
            "pay_outs": pay_outs,
            "expected": expected_cash,
            "counted": counted_cash,
            "over_short": None if counted_cash is None else counted_cash - expected_cash,
        },
        "no_sales": moves.get("no_sale", (0, 0))[0],
        "line_voids": line_voids,
        "overrides": overrides,
    }
    return result


def shift_report(rt: Runtime, caller: Caller, shift_id: str, kind: str) -> dict[str, Any]:
    """GET /shifts/{id}/report: X for supervisors while open; Z once closed (its cashier too)."""
    return report_for(rt, caller.require_staff(), shift_id, kind)


def report_for(rt: Runtime, staff: StaffMember, shift_id: str, kind: str) -> dict[str, Any]:
    """An X or Z report as `staff` may read it (the API's and the admin pages' rule)."""
    shift = rt.db.one(
        "SELECT opened_by, closed_by, closed_event FROM shift WHERE id = ?", (shift_id,)
    )
    if shift is None:
        raise NotFound(f"no shift {shift_id}")
    if kind == "z":
        # Its cashiers (who opened it, who closed it) and supervisors; anyone else is told
        # no before being told whether it is closed.
        if staff.role < Role.SUPERVISOR and staff.id not in (
            shift["opened_by"],
            shift["closed_by"],
        ):
            raise Forbidden("a Z report is for its cashier and supervisors", code="role_required")
        row = rt.db.one("SELECT body FROM z_report WHERE shift = ?", (shift_id,))
        if row is None:
            raise Invalid("the shift is still open: no Z report yet", code="shift_open")
        report_body: dict[str, Any] = json.loads(row["body"])
        return report_body
    # An X report shows the expected drawer, so cashiers would not count blind with it.
    if staff.role < Role.SUPERVISOR:
        raise Forbidden("an X report needs a supervisor", code="role_required")
    return report(rt, shift_id)


def print_report(rt: Runtime, staff: StaffMember, register: str, shift_id: str, kind: str) -> int:
    """Queue an X or Z report that `staff` may read on the register's printer; the job's id
    (Conflict `no_printer` when the register has none)."""
    from appliance.devices.print_queue import enqueue_report, printer_for

    report_for(rt, staff, shift_id, kind)
    printer = printer_for(rt, register)
    if printer is None:
        raise Conflict(
            f"{register} has no printer: a manager binds one on the admin pages",
            code="no_printer",
        )
    with rt.db.write():
        return enqueue_report(
            rt,
            printer["id"],
            kind="z_report" if kind == "z" else "x_report",
            shift=shift_id,
            staff=staff.id,
        )


def local_day(timezone: str, date: str) -> tuple[str, str]:
    """The UTC instants (`at` strings) at which the store's local calendar day `date` begins
    and the next one begins: 23 or 25 hours apart on the days the clocks change."""
    zone = ZoneInfo(timezone)

    def midnight(d: datetime.date) -> str:
        local = datetime.datetime.combine(d, datetime.time(), tzinfo=zone)
        return format_at(int(local.timestamp() * 1000))

    try:
        day = datetime.date.fromisoformat(date)
        if not 1970 < day.year < 9999:
            raise ValueError(date)
        return midnight(day), midnight(day + datetime.timedelta(days=1))
    except ValueError:
        raise Invalid(f"{date} is not a date between 1971 and 9998", code="invalid_date") from None


def local_date(timezone: str, now_ms: int) -> str:
    """The store's calendar date (YYYY-MM-DD) at `now_ms`, in its time zone."""
    moment = datetime.datetime.fromtimestamp(now_ms / 1000, datetime.UTC)
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def day_summary(rt: Runtime, date: str) -> dict[str, Any]:
    """The store's day across registers: every shift opened on that calendar day in the
    store's time zone (the `timezone` setting, as its receipts show), with totals."""
    shifts = []
    totals = {"sales": 0, "returns": 0, "voids": 0, "net_sales": 0, "net_tax": 0}
    tenders: dict[str, int] = {}
    over_short = 0
    begins, ends = local_day(rt.settings.timezone, date)
    for row in rt.db.query(
        "SELECT s.id, s.register, s.closed_event, z.number, z.body FROM shift s"
        " LEFT JOIN z_report z ON z.shift = s.id WHERE s.opened_at >= ? AND s.opened_at < ?"
        " ORDER BY s.opened_at",
        (begins, ends),
    ):
        body = json.loads(row["body"]) if row["body"] else report(rt, row["id"])
        shifts.append(
            {
                "shift": row["id"],
                "register": row["register"],
                "closed": row["closed_event"] is not None,
                "z_number": row["number"],
                "net_sales": body["net_sales"],
                "over_short": body["cash"]["over_short"],
            }
        )
        totals["sales"] += body["sales"]["total"]
        totals["returns"] += body["returns"]["total"]
        totals["voids"] += body["voids"]["total"]
        totals["net_sales"] += body["net_sales"]
        totals["net_tax"] += body["net_tax"]
        over_short += body["cash"]["over_short"] or 0
        for tender in body["tenders"]:
            tenders[tender["kind"]] = tenders.get(tender["kind"], 0) + tender["expected"]
    return {
        "date": date,
        "store": rt.store,
        "currency": rt.settings.currency,
        "shifts": shifts,
        "totals": totals,
        "tenders": [{"kind": kind, "expected": amount} for kind, amount in sorted(tenders.items())],
        "over_short": over_short,
        "open_shifts": sum(1 for s in shifts if not s["closed"]),
    }
