"""The durable print queue: jobs written with the event that asks for them, printed after.

`enqueue` runs inside the transaction that applies an event (a sale paid in cash, a
`receipt.requested` for paper, a no-sale), so a job exists exactly when its event was
committed, once per event however often the event is pushed. The `PrintWorker` thread of
`tillbox appliance serve` prints queued jobs in order on each register's printer:
- a receipt, report or test page is retried with a back-off (1 s doubling to 30 s) while the
  printer is away, out of paper or has its cover open, for up to 15 minutes; then it is
  marked failed, and the cashier can reprint;
- a drawer kick is tried for 30 seconds only: a drawer that opens minutes later, with no one
  at the till, is worse than one that stays shut. Every kick, sent or failed, is logged
  with the register, the staff member and the reason.

After each try the printer's status (online, paper, cover, drawer) is kept on its row, for
the PWA, the admin pages and the cloud status topic.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from appliance.devices.printer import (
    DrawerPulse,
    Printer,
    PrinterError,
    PrinterStatus,
    open_printer,
)
from appliance.receipts.document import Document
from appliance.receipts.layouts import printer_test_page, sale_receipt, shift_report_document
from appliance.runtime import Runtime

_log = logging.getLogger(__name__)

RECEIPT_KINDS = ("receipt", "gift", "reprint")
DOCUMENT_KINDS = (*RECEIPT_KINDS, "x_report", "z_report", "test")
KINDS = (*DOCUMENT_KINDS, "drawer")
DRAWER_WINDOW_MS = 30_000
DOCUMENT_WINDOW_MS = 15 * 60_000
RETRY_MIN_MS, RETRY_MAX_MS = 1_000, 30_000

PrinterFactory = Callable[[Any], Printer]


def printer_for(rt: Runtime, register: str) -> Any:
    """The printer row bound to `register`, or None."""
    return rt.db.one(
        "SELECT p.* FROM register_printer b JOIN printer p ON p.id = b.printer"
        " WHERE b.register = ? AND p.removed_ms IS NULL",
        (register,),
    )


def enqueue(
    rt: Runtime,
    *,
    register: str,
    kind: str,
    ref: str | None = None,
    event: str | None = None,
    staff: str | None = None,
    reason: str | None = None,
) -> int | None:
    """Queue a job on the register's printer (inside the caller's transaction); its id, or
    None when the register has no printer or the event already queued this job."""
    if kind not in KINDS:
        raise ValueError(f"unknown print job kind {kind!r}")
    printer = printer_for(rt, register)
    if printer is None:
        _log.info("register %s has no printer: %s %s not printed", register, kind, ref or "")
        return None
    now = rt.now_ms()
    window = DRAWER_WINDOW_MS if kind == "drawer" else DOCUMENT_WINDOW_MS
    cursor = rt.db.execute(
        "INSERT INTO print_job (printer, register, kind, ref, event, staff, reason,"
        " next_attempt_ms, expires_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (event, kind) DO NOTHING",
        (printer["id"], register, kind, ref, event, staff, reason, now, now + window, now),
    )
    return cursor.lastrowid if cursor.rowcount else None


def enqueue_test_page(rt: Runtime, printer: int, *, staff: str | None) -> int:
    """Queue the test page on one printer, bound to a register or not (the admin pages' test
    print); the job's id. The print worker prints it like any job, and records the status."""
    now = rt.now_ms()
    cursor = rt.db.execute(
        "INSERT INTO print_job (printer, register, kind, staff, reason, next_attempt_ms,"
        " expires_ms, created_ms) VALUES (?, NULL, 'test', ?, 'test print', ?, ?, ?)",
        (printer, staff, now, now + DOCUMENT_WINDOW_MS, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def enqueue_report(rt: Runtime, printer: int, *, kind: str, shift: str, staff: str | None) -> int:
    """Queue an X or Z report of `shift` on one printer (the admin pages' and a supervisor's
    print); the job's id. An X report is laid out when it prints, a Z report from its stored,
    immutable body."""
    if kind not in ("x_report", "z_report"):
        raise ValueError(f"not a report kind: {kind!r}")
    now = rt.now_ms()
    cursor = rt.db.execute(
        "INSERT INTO print_job (printer, register, kind, ref, staff, reason, next_attempt_ms,"
        " expires_ms, created_ms) VALUES (?, NULL, ?, ?, ?, 'report', ?, ?, ?)",
        (printer, kind, shift, staff, now, now + DOCUMENT_WINDOW_MS, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def recent_jobs(rt: Runtime, *, limit: int = 10) -> list[Any]:
    """The latest print jobs of every printer, newest first (the admin pages show them)."""
    return rt.db.query(
        "SELECT j.id, j.printer, p.name AS printer_name, j.register, j.kind, j.ref, j.staff,"
        " j.reason, j.state, j.attempts, j.last_error, j.created_ms, j.done_ms"
        " FROM print_job j JOIN printer p ON p.id = j.printer ORDER BY j.id DESC LIMIT ?",
        (limit,),
    )


def kick_drawer(
    rt: Runtime, step_register: str, *, event: str, staff: str | None, reason: str
) -> None:
    """Queue a drawer kick for a live cash event (called from the event's apply)."""
    enqueue(rt, register=step_register, kind="drawer", event=event, staff=staff, reason=reason)


def default_factory(rt: Runtime) -> PrinterFactory:
    def make(row: Any) -> Printer:
        return open_printer(
            row["connection"],
            row["address"],
            profile=row["profile"],
            pulse=DrawerPulse(
                pin=row["drawer_pin"], on_ms=row["drawer_on_ms"], off_ms=row["drawer_off_ms"]
            ),
            data_dir=rt.settings.data_dir,
        )

    return make


def document_for(rt: Runtime, job: Any, width: int) -> Document:
    """What a job prints, laid out now from the database."""
    settings = rt.settings
    if width != settings.printer_width:
        rt = _with_width(rt, width)
    kind = job["kind"]
    if kind in RECEIPT_KINDS:
        return sale_receipt(rt, job["ref"], gift=kind == "gift", reprint=kind == "reprint")
    if kind in ("x_report", "z_report"):
        from appliance.shifts import report

        if kind == "z_report":
            row = rt.db.one("SELECT body FROM z_report WHERE shift = ?", (job["ref"],))
            if row is None:
                raise PrinterError(f"no Z report for shift {job['ref']}")
            return shift_report_document(rt, json.loads(row["body"]))
        return shift_report_document(rt, report(rt, job["ref"]))
    return printer_test_page(rt)


def _with_width(rt: Runtime, width: int) -> Runtime:
    import dataclasses

    return dataclasses.replace(rt, settings=rt.settings.replace(printer_width=width))


class PrintWorker:
    """Prints queued jobs in order, one at a time, on its own thread."""

    def __init__(
        self,
        rt: Runtime,
        *,
        factory: PrinterFactory | None = None,
        poll_s: float = 0.25,
    ) -> None:
        self.rt = rt
        self.factory = factory or default_factory(rt)
        self.poll_s = poll_s
        # Set by the push endpoint after each commit, so a receipt does not wait for the poll.
        self._wake = rt.print_wake
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PrintWorker:
        self._thread = threading.Thread(target=self._run, name="print-worker", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the queue now (after a commit that queued something)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    worked = self.run_once()
                except Exception:
                    _log.exception("print worker step failed")
                    worked = 0
                if not worked:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
        finally:
            self.rt.db.close()

    def run_once(self) -> int:
        """Try every job that is due; how many were tried."""
        db, now = self.rt.db, self.rt.now_ms()
        jobs = db.query(
            "SELECT j.*, p.connection, p.address, p.profile, p.width, p.drawer_pin,"
            " p.drawer_on_ms, p.drawer_off_ms FROM print_job j JOIN printer p ON p.id = j.printer"
            " WHERE j.state = 'queued' AND j.next_attempt_ms <= ? ORDER BY j.id LIMIT 20",
            (now,),
        )
        failing: set[int] = set()
        for job in jobs:
            if job["printer"] in failing:
                continue  # keep its order: the rest wait for the printer to come back
            if not self._attempt(job):
                failing.add(job["printer"])
        return len(jobs)

    def _attempt(self, job: Any) -> bool:
        rt, now = self.rt, self.rt.now_ms()
        if job["expires_ms"] is not None and now > job["expires_ms"]:
            self._give_up(job, job["last_error"] or "the printer was not reachable in time")
            return True
        printer = self.factory(job)
        try:
            if job["kind"] == "drawer":
                printer.kick_drawer()
            else:
                printer.print_document(document_for(rt, job, job["width"]))
        except PrinterError as exc:
            self._retry(job, str(exc), printer)
            return False
        except Exception as exc:  # a bad job (a receipt that is gone): never blocks the queue
            _log.exception("print job %s (%s %s) cannot print", job["id"], job["kind"], job["ref"])
            self._give_up(job, f"cannot print: {exc}")
            return True
        with rt.db.write():
            rt.db.execute(
                "UPDATE print_job SET state = 'done', attempts = attempts + 1, done_ms = ?,"
                " last_error = NULL WHERE id = ?",
                (rt.now_ms(), job["id"]),
            )
            if job["kind"] == "drawer":
                self._log_kick(job, "sent", None)
        self._record_status(job["printer"], printer)
        return True

    def _retry(self, job: Any, error: str, printer: Printer) -> None:
        rt = self.rt
        delay = min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** min(job["attempts"], 10))
        _log.warning(
            "print job %s (%s) failed, again in %s ms: %s", job["id"], job["kind"], delay, error
        )
        with rt.db.write():
            rt.db.execute(
                "UPDATE print_job SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ?"
                " WHERE id = ?",
                (rt.now_ms() + delay, error, job["id"]),
            )
        self._record_status(job["printer"], printer, error=error)

    def _give_up(self, job: Any, error: str) -> None:
        rt = self.rt
        with rt.db.write():
            rt.db.execute(
                "UPDATE print_job SET state = 'failed', last_error = ?, done_ms = ? WHERE id = ?",
                (error, rt.now_ms(), job["id"]),
            )
            if job["kind"] == "drawer":
                self._log_kick(job, "failed", error)
        _log.error(
            "print job %s (%s %s) failed for good: %s", job["id"], job["kind"], job["ref"], error
        )

    def _log_kick(self, job: Any, outcome: str, error: str | None) -> None:
        self.rt.db.execute(
            "INSERT INTO drawer_kick (at_ms, register, staff, reason, event, printer, job,"
            " outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.rt.now_ms(),
                job["register"],
                job["staff"],
                job["reason"] or "",
                job["event"],
                job["printer"],
                job["id"],
                outcome,
                error,
            ),
        )

    def _record_status(
        self, printer_id: int, printer: Printer, *, error: str | None = None
    ) -> None:
        try:
            status = printer.status()
        except PrinterError as exc:
            status = PrinterStatus(online=False, error=error or str(exc))
        rt = self.rt
        with rt.db.write():
            rt.db.execute(
                "UPDATE printer SET status = ?, status_ms = ? WHERE id = ?",
                (json.dumps(status.as_dict()), rt.now_ms(), printer_id),
            )
