"""The register's receipt printer: its last status and what waits in its queue."""

from __future__ import annotations

import json

from appliance.api.registry import Call
from appliance.api.schemas import PrinterStateOut
from appliance.api.v1 import api
from appliance.devices.print_queue import printer_for
from appliance.errors import NotFound
from protocol.envelope import format_at

# A failed job older than this no longer shows on the register.
RECENT_FAILURE_MS = 15 * 60_000


@api.route(
    "GET",
    "/printer",
    summary="This register's printer: status and queue",
    tag="devices",
    auth="device",
    response=PrinterStateOut,
)
def printer_state(call: Call) -> PrinterStateOut:
    """The status the printer last reported (checked around every job: online, paper out or
    low, cover open, drawer open), how many jobs wait, and the last failure, if recent.
    404 `no_printer` when no printer is bound to this register."""
    rt = call.rt
    register = call.device_caller().register.id
    row = printer_for(rt, register)
    if row is None:
        raise NotFound("no printer is bound to this register", code="no_printer")
    status = json.loads(row["status"]) if row["status"] else {}
    now = rt.now_ms()
    queue = rt.db.one(
        "SELECT COALESCE(SUM(state = 'queued'), 0) AS queued,"
        " COALESCE(SUM(state = 'failed' AND done_ms > ?), 0) AS failed,"
        " (SELECT last_error FROM print_job WHERE printer = ? AND last_error IS NOT NULL"
        "  AND (state = 'queued' OR done_ms > ?) ORDER BY id DESC LIMIT 1) AS last_error"
        " FROM print_job WHERE printer = ?",
        (now - RECENT_FAILURE_MS, row["id"], now - RECENT_FAILURE_MS, row["id"]),
    )
    assert queue is not None
    return PrinterStateOut(
        name=row["name"],
        connection=row["connection"],
        online=status.get("online"),
        paper_out=status.get("paper_out"),
        paper_low=status.get("paper_low"),
        cover_open=status.get("cover_open"),
        drawer_open=status.get("drawer_open"),
        checked_at=None if row["status_ms"] is None else format_at(row["status_ms"]),
        queued=int(queue["queued"]),
        failed_recently=int(queue["failed"]),
        last_error=queue["last_error"],
    )
