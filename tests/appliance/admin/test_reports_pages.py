"""Reports on the admin pages (appliance/admin/reports.py): X and Z reports and the day, the
same figures as the API's, printed as x_report / z_report jobs on a chosen printer, and CSV
downloads exact to the cent and safe from spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from appliance.admin.reports import csv_cell, csv_response
from appliance.devices.printers import add_printer
from appliance.runtime import Runtime
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store


def _day(store: Store, wall: FakeWall) -> Till:
    """A shift: 2 mugs for cash (19.00), a tee by card (12.99), a 5.00 pay-out; closed 0.50
    short, so the Z report exists."""
    till = make_till(store, wall)
    rt = store.rt
    mug, tee = uid(rt, "MUG-1"), uid(rt, "TEE-M-RED")
    ok(till.send("stock.received", {"lines": [{"variant": v, "qty": 10} for v in (mug, tee)]}))
    ok(
        till.send(
            "sale.completed",
            till.sale_body([Item(mug, 2, 950)], tenders=[{"kind": "cash", "amount": 1900}]),
        )
    )
    ok(till.send("sale.completed", till.sale_body([Item(tee, 1, 1299)])))
    return till


def _close(store: Store, till: Till) -> None:
    counts = {"2000": 5, "1000": 6, "500": 5, "200": 1, "100": 21, "50": 1}  # 190 + 19 - 0.50
    total = sum(int(k) * v for k, v in counts.items())
    assert total == 19000 + 1900 - 50
    ok(
        till.send(
            "shift.closed",
            {"shift": till.shift, "cash": {"counts": counts, "total": total}},
            token=store.login("supervisor"),
            actor=store.staff["supervisor"],
        )
    )


def _api_report(store: Store, shift: str, kind: str) -> dict[str, Any]:
    token = store.login("supervisor")
    data: dict[str, Any] = ok(
        store.client.get(f"/api/v1/shifts/{shift}/report?kind={kind}", headers=store.bearer(token))
    )
    return data


def _rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def _cents(value: str) -> int:
    whole, _, part = value.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(part or 0))


@pytest.fixture
def day(store: Store, catalog: Runtime, wall: FakeWall) -> Till:
    return _day(store, wall)


def test_the_x_report_page_and_csv_match_the_api(
    store: Store, day: Till, supervisor: AdminBrowser
) -> None:
    api = _api_report(store, day.shift or "", "x")
    page = supervisor.get(f"/admin/reports/shifts/{day.shift}?kind=x")
    assert page.status_code == 200
    assert 'data-testid="net-sales">31.99<' in page.text
    answer = supervisor.get(f"/admin/reports/shifts/{day.shift}/csv?kind=x")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert (
        answer.headers["Content-Disposition"] == 'attachment; filename="s01-x-report-s01-r01.csv"'
    )
    rows = _rows(answer.text)
    assert rows[0] == ["section", "item", "count", "amount", "counted", "difference"]
    table = {(r[0], r[1]): r for r in rows[1:]}
    assert table[("report", "kind")][3] == "X"
    assert table[("sales", "total")][2:4] == ["2", "31.99"]
    assert _cents(table[("sales", "total")][3]) == api["sales"]["total"] == 3199
    assert _cents(table[("net", "net_sales")][3]) == api["net_sales"]
    assert (
        _cents(table[("net", "net_tax")][3]) == api["net_tax"] == 534
    )  # 316.67 + 216.50, rounded per line
    assert _cents(table[("cash", "expected")][3]) == api["cash"]["expected"] == 20900
    assert table[("tender", "card")][3] == "12.99"
    assert table[("tender", "cash")][3] == "209.00"
    for tax in api["taxes"]:
        assert _cents(table[("tax", "20% tax")][3]) == tax["tax"]
    assert table[("report", "opened_by")][3] == store.staff["cashier"]


def test_z_reports_are_listed_viewed_and_printed_on_a_chosen_printer(
    store: Store, day: Till, supervisor: AdminBrowser, tmp_path: Any
) -> None:
    _close(store, day)
    api = _api_report(store, day.shift or "", "z")
    listing = supervisor.get("/admin/reports")
    assert 'data-testid="z-1"' in listing.text
    # Closed at, in the store's local time (Europe/Dublin), not the journal's UTC stamp.
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", listing.text)
    page = supervisor.get(f"/admin/reports/shifts/{day.shift}?kind=z")
    assert "Z report 1" in page.text
    assert 'data-testid="over-short">-0.50<' in page.text
    rows = _rows(supervisor.get(f"/admin/reports/shifts/{day.shift}/csv?kind=z").text)
    table = {(r[0], r[1]): r for r in rows[1:]}
    assert table[("report", "number")][3] == "1"
    assert table[("cash", "counted")][4:6] == ["208.50", "-0.50"]
    assert _cents(table[("cash", "counted")][5]) == api["cash"]["over_short"]
    assert table[("tender", "cash")][3:6] == ["209.00", "208.50", "-0.50"]

    printer = add_printer(store.rt, name="Office", connection="demo", address=str(tmp_path))
    before = store.rt.db.scalar("SELECT count(*) FROM print_job")
    refused = supervisor.post(f"/admin/reports/shifts/{day.shift}/print?kind=z", {"printer": "999"})
    assert refused.status_code == 422
    assert "printer" in field_errors(refused.text)
    assert store.rt.db.scalar("SELECT count(*) FROM print_job") == before
    answer = supervisor.post(
        f"/admin/reports/shifts/{day.shift}/print?kind=z", {"printer": str(printer)}
    )
    assert answer.status_code == 303
    job = store.rt.db.one("SELECT * FROM print_job ORDER BY id DESC LIMIT 1")
    assert (job["printer"], job["kind"], job["ref"], job["staff"]) == (
        printer,
        "z_report",
        day.shift,
        store.staff["supervisor"],
    )
    assert "Z report 1 sent to Office" in supervisor.get(answer.headers["Location"]).text


def test_the_day_summary_and_its_csv_match_the_api(
    store: Store, day: Till, supervisor: AdminBrowser, wall: FakeWall
) -> None:
    _close(store, day)
    date = store.rt.db.scalar("SELECT substr(opened_at, 1, 10) FROM shift")
    token = store.login("supervisor")
    api = ok(store.client.get(f"/api/v1/reports/day?date={date}", headers=store.bearer(token)))
    page = supervisor.get(f"/admin/reports?date={date}")
    assert 'data-testid="day-net">31.99<' in page.text
    rows = _rows(supervisor.get(f"/admin/reports/day.csv?date={date}").text)
    assert rows[0][:4] == ["date", "store", "shift", "register"]
    assert rows[1] == [date, "s01", day.shift, "s01-r01", "yes", "1", "31.99", "-0.50"]
    totals = {r[1]: r[2] for r in rows if r and r[0] in ("total", "tender")}
    assert _cents(totals["net_sales"]) == api["totals"]["net_sales"]
    assert _cents(totals["net_tax"]) == api["totals"]["net_tax"]
    assert _cents(totals["over_short"]) == api["over_short"] == -50
    assert totals["open_shifts"] == "0"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/reports?date=2026-13-45",
        "/admin/reports?date=yesterday",
        "/admin/reports/day.csv?date=2026-02-30",
        "/admin/reports?z_date=2026-1-1",
    ],
)
def test_a_bad_date_is_a_clear_422(supervisor: AdminBrowser, path: str) -> None:
    answer = supervisor.get(path)
    assert answer.status_code == 422
    shaped = supervisor.get(path, headers={"Accept": "application/json"})
    assert shaped.get_json()["error"] == "invalid_date"


def test_reports_of_unknown_shifts_and_kinds(day: Till, supervisor: AdminBrowser) -> None:
    assert supervisor.get("/admin/reports/shifts/nope?kind=x").status_code == 404
    assert supervisor.get(f"/admin/reports/shifts/{day.shift}?kind=q").status_code == 422
    # An open shift has no Z report yet.
    answer = supervisor.get(f"/admin/reports/shifts/{day.shift}?kind=z")
    assert answer.status_code == 422
    assert "still open" in answer.text


def test_csv_cells_cannot_become_formulas(app: Any) -> None:
    assert [csv_cell(v) for v in ("=1+1", "+3", "-2", "@SUM(A1)", "\tx", "plain", 5, -5)] == [
        "'=1+1",
        "'+3",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        5,
        -5,
    ]
    with app.test_request_context():
        response = csv_response([["name", "amount"], ['=HYPERLINK("x"),"y"', -5]], "x.csv")
    text = response.get_data(as_text=True)
    assert text == '\ufeffname,amount\r\n"\'=HYPERLINK(""x""),""y""",-5\r\n'
