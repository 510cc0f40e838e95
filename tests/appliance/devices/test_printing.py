"""The print queue and drawer kicks, end to end from pushed events to the bytes a network
printer receives (a local TCP listener speaking the port-9100 protocol with status replies)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.devices.print_queue import DRAWER_WINDOW_MS, PrintWorker, enqueue
from appliance.devices.printer import DrawerPulse, NetworkPrinter, PrinterError, parse_status
from appliance.devices.printers import (
    add_printer,
    bind_printer,
    list_printers,
    printer_summary,
    remove_printer,
)
from appliance.errors import Invalid
from appliance.receipts.layouts import sale_receipt
from appliance.receipts.render import to_escpos
from appliance.runtime import Runtime
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store

READY = 0x12  # bits 1 and 4 are fixed at 1
PAPER_OUT = 0x12 | 0x60  # roll paper end sensor
COVER_OPEN = 0x12 | 0x04


class FakePrinter:
    """A network receipt printer: takes bytes, answers DLE EOT 1/2/4 with its status."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.printed = bytearray()
        self.status = {1: READY, 2: READY, 4: READY}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buffered = b""
                while chunk := conn.recv(65536):
                    buffered += chunk
                    while b"\x10\x04" in buffered:
                        before, _, rest = buffered.partition(b"\x10\x04")
                        with self.lock:
                            self.printed += before
                            conn.sendall(bytes([self.status[rest[0]]]))
                        buffered = rest[1:]
                with self.lock:
                    self.printed += buffered

    def taken(self) -> bytes:
        with self.lock:
            return bytes(self.printed)

    def close(self) -> None:
        # shutdown() first: a close() alone leaves the blocked accept() listening.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@pytest.fixture
def printer() -> Iterator[FakePrinter]:
    fake = FakePrinter()
    yield fake
    fake.close()


@pytest.fixture
def till(store: Store, catalog: Runtime, wall: FakeWall, printer: FakePrinter) -> Till:
    """The front till, bound to the network printer, with a shift open."""
    printer_id = add_printer(
        catalog, name="Front", connection="network", address=f"127.0.0.1:{printer.port}"
    )
    bind_printer(catalog, store.register_id, printer_id)
    return make_till(store, wall)


def cash_and_card(till: Till, rt: Runtime, cash: int = 1000) -> dict[str, Any]:
    body = till.sale_body(
        [Item(uid(rt, "TEE-M-RED"), 1, 1299), Item(uid(rt, "MUG-1"), 1, 950)],
        tenders=[
            *([{"kind": "cash", "amount": cash, "tendered": cash}] if cash else []),
            {"kind": "card", "amount": 2249 - cash, "reference": "AUTH9"},
        ],
    )
    ok(till.send("sale.completed", body))
    return body


def jobs(rt: Runtime) -> list[tuple[str, str, int]]:
    return [
        (r["kind"], r["state"], r["attempts"])
        for r in rt.db.query("SELECT kind, state, attempts FROM print_job ORDER BY id")
    ]


def test_a_cash_sale_opens_the_drawer_and_its_receipt_prints_byte_for_byte(
    store: Store, catalog: Runtime, till: Till, printer: FakePrinter
) -> None:
    body = cash_and_card(till, catalog)
    ok(till.send("receipt.requested", {"receipt": body["receipt"], "channel": "print"}))
    assert jobs(catalog) == [("drawer", "queued", 0), ("receipt", "queued", 0)]
    assert PrintWorker(catalog).run_once() == 2
    assert jobs(catalog) == [("drawer", "done", 1), ("receipt", "done", 1)]
    kick = DrawerPulse().command()
    assert kick == b"\x1bp\x00\x32\x32"  # pin 2, 100 ms on, 100 ms off
    receipt = to_escpos(sale_receipt(catalog, body["receipt"]))
    assert printer.taken() == kick + receipt
    log = catalog.db.one("SELECT register, staff, reason, outcome, event FROM drawer_kick")
    assert log is not None
    assert (log["register"], log["staff"], log["reason"], log["outcome"]) == (
        store.register_id,
        store.staff["cashier"],
        "sale",
        "sent",
    )
    # Asked again, the same receipt is a reprint.
    ok(till.send("receipt.requested", {"receipt": body["receipt"], "channel": "print"}))
    PrintWorker(catalog).run_once()
    assert b"*** REPRINT ***" in printer.taken()
    [row] = list_printers(catalog)
    assert row.status is not None and row.status["online"] and not row.status["paper_out"]


def test_only_cash_opens_the_drawer_and_replayed_events_print_nothing(
    store: Store, catalog: Runtime, till: Till
) -> None:
    card = till.sale_body(
        [Item(uid(catalog, "MUG-1"), 1, 950)],
        tenders=[{"kind": "card", "amount": 950, "reference": "AUTH1"}],
    )
    ok(till.send("sale.completed", card))
    assert jobs(catalog) == []
    offline = cash_and_card_event(till, catalog)
    ok(till.push(offline, mode="replay", token=till.device))
    assert jobs(catalog) == []


def cash_and_card_event(till: Till, rt: Runtime) -> Any:
    body = till.sale_body(
        [Item(uid(rt, "MUG-1"), 1, 950)], tenders=[{"kind": "cash", "amount": 950}]
    )
    return till.event("sale.completed", body)


def test_paper_out_holds_the_receipt_until_the_paper_is_back(
    store: Store, catalog: Runtime, till: Till, printer: FakePrinter, wall: FakeWall
) -> None:
    body = cash_and_card(till, catalog, cash=0)  # card only: no drawer
    printer.status[4] = PAPER_OUT
    ok(till.send("receipt.requested", {"receipt": body["receipt"], "channel": "print"}))
    worker = PrintWorker(catalog)
    worker.run_once()
    row = catalog.db.one("SELECT state, attempts, last_error FROM print_job")
    assert row is not None and (row["state"], row["attempts"]) == ("queued", 1)
    assert "out of paper" in row["last_error"]
    [status] = list_printers(catalog)
    assert status.status is not None and status.status["paper_out"]
    # What the heartbeat on the cloud status topic says about it.
    assert printer_summary(catalog) == {
        "printers": [
            {
                "name": "Front",
                "connection": "network",
                "online": True,
                "paper_out": True,
                "cover_open": False,
                "queued": 1,
            }
        ],
        "trouble": True,
    }
    assert worker.run_once() == 0  # not due yet: backing off
    printer.status[4] = READY
    wall.advance(1.5)
    worker.run_once()
    assert jobs(catalog) == [("receipt", "done", 2)]
    assert b"TOTAL EUR" in printer.taken()


def test_a_drawer_kick_is_not_sent_late_and_its_failure_is_logged(
    store: Store, catalog: Runtime, till: Till, printer: FakePrinter, wall: FakeWall
) -> None:
    printer.close()  # switched off
    cash_and_card(till, catalog)
    worker = PrintWorker(catalog)
    worker.run_once()
    assert jobs(catalog) == [("drawer", "queued", 1)]
    wall.advance(DRAWER_WINDOW_MS / 1000 + 1)
    worker.run_once()
    assert jobs(catalog) == [("drawer", "failed", 1)]
    log = catalog.db.one("SELECT reason, outcome, error FROM drawer_kick")
    assert log is not None and (log["reason"], log["outcome"]) == ("sale", "failed")
    assert "unreachable" in log["error"]


def test_no_sale_and_pay_outs_kick_the_drawer_with_their_reason(
    store: Store, catalog: Runtime, till: Till
) -> None:
    from tests.appliance.selling.test_stock import approve

    no_sale = approve(store, till, "no_sale", "supervisor")
    ok(
        till.send(
            "cash.moved",
            {"shift": till.shift, "kind": "no_sale", "amount": 0, "reason": "customer_change"},
            override=no_sale,
        )
    )
    reasons = [r["reason"] for r in catalog.db.query("SELECT reason FROM print_job")]
    assert reasons == ["no_sale"]


def test_the_demo_printer_writes_png_and_text(
    store: Store, catalog: Runtime, wall: FakeWall, tmp_path: Path
) -> None:
    printer_id = add_printer(
        catalog, name="Demo", connection="demo", address=str(tmp_path / "prints")
    )
    bind_printer(catalog, store.register_id, printer_id)
    till = make_till(store, wall)
    body = cash_and_card(till, catalog)
    ok(
        till.send(
            "receipt.requested", {"receipt": body["receipt"], "channel": "print", "gift": True}
        )
    )
    PrintWorker(catalog).run_once()
    files = sorted(p.name for p in (tmp_path / "prints").iterdir())
    assert files == [
        f"000001-gift-receipt-{body['receipt']}.png",
        f"000001-gift-receipt-{body['receipt']}.txt",
        "drawer.log",
    ]
    text = (tmp_path / "prints" / files[1]).read_text(encoding="utf-8")
    assert "GIFT RECEIPT" in text and "12.99" not in text


def test_status_replies_are_read_and_garbage_is_refused() -> None:
    assert parse_status(READY, READY, READY).online
    assert parse_status(READY, COVER_OPEN, READY).cover_open
    assert parse_status(READY | 0x08, READY, READY).online is False
    assert parse_status(READY, READY, 0x12 | 0x0C).paper_low
    with pytest.raises(PrinterError):
        parse_status(0xFF, READY, READY)


def test_a_printer_that_does_not_answer_is_an_error_not_a_hang() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        printer = NetworkPrinter("127.0.0.1", silent.getsockname()[1], timeout_s=0.3)
        with pytest.raises(PrinterError, match="did not answer"):
            printer.status()
    finally:
        silent.close()


def test_bad_printer_settings_are_refused_and_removal_cancels_its_jobs(
    store: Store, catalog: Runtime, till: Till
) -> None:
    for kwargs in (
        {"name": "", "connection": "network", "address": "10.0.0.9"},
        {"name": "X", "connection": "bluetooth", "address": "x"},
        {"name": "X", "connection": "usb", "address": "printer"},
        {"name": "X", "connection": "network", "address": "10.0.0.9:99999"},
        {"name": "X", "connection": "network", "address": "10.0.0.9", "drawer_pin": 3},
        {"name": "Front", "connection": "network", "address": "10.0.0.9"},
    ):
        with pytest.raises(Invalid):
            add_printer(catalog, **kwargs)  # type: ignore[arg-type]
    cash_and_card(till, catalog)
    remove_printer(catalog, "Front")
    assert jobs(catalog) == [("drawer", "cancelled", 0)]
    assert list_printers(catalog) == []
    assert enqueue(catalog, register=store.register_id, kind="test") is None  # no printer now


def test_the_register_sees_its_printers_status_and_queue(
    store: Store, catalog: Runtime, till: Till, printer: FakePrinter, wall: FakeWall
) -> None:
    answer = store.client.get("/api/v1/printer", headers=store.bearer(store.device))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checked_at"] is None and answer.get_json()["queued"] == 0
    printer.status[4] = PAPER_OUT
    body = cash_and_card(till, catalog, cash=0)
    ok(till.send("receipt.requested", {"receipt": body["receipt"], "channel": "print"}))
    PrintWorker(catalog).run_once()
    state = store.client.get("/api/v1/printer", headers=store.bearer(store.device)).get_json()
    assert (state["name"], state["online"], state["paper_out"], state["queued"]) == (
        "Front",
        True,
        True,
        1,
    )
    assert "out of paper" in state["last_error"]
    other = store.new_register("Back")[1]
    missing = store.client.get("/api/v1/printer", headers=store.bearer(other))
    assert missing.status_code == 404 and missing.get_json()["error"] == "no_printer"
