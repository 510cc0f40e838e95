"""A crash in the middle of a sale: `kill -9` the appliance during a burst of pushes.

Four registers sell as fast as they can, one sale (3 lines, cash and card) per push, over real
HTTP to the real `tillbox appliance serve` process. The server is killed with SIGKILL while
pushes are in flight, then started again on the same data directory. Every event that got a
2xx must be there, each origin's seqs must run 1..max without a hole, every stored sale must
have all of its projections (and no projection may lack its event), `PRAGMA integrity_check`
must say ok and `verify-journal` must pass. Then each register replays what got no answer,
as its outbox would, sells once more, and the journal still verifies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from protocol.envelope import Envelope, envelope_dict, format_at, seal
from protocol.hlc import Clock
from protocol.ids import new_id
from protocol.pricing import LineInput, TaxMode, TaxRounding, price_sale

TILLBOX = str(Path(sys.executable).parent / "tillbox")
STORE = "s01"
STANDARD_PPM = 200_000
MANAGER_PIN = "9753"
CASHIER_PINS = ("1357", "2468", "1122", "3344")
CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,reorder_qty,pack_size,active\r\n"
    "CR-TEN,Crash Ten,,,Goods,Acme,5.00,10.00,standard,,,1,1\r\n"
    "CR-FIVE,Crash Five,,,Goods,Acme,2.00,5.00,standard,,,1,1\r\n"
    "CR-TWO,Crash Two Fifty,,,Goods,Acme,1.00,2.50,standard,,,1,1\r\n"
)
# The burst ends with a kill after this long, or once this many pushes were acknowledged.
BURST_SECONDS = 1.5
BURST_ACKS = 600
TIMEOUT = 10


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    """The caller's environment without TILLBOX_* settings, so only the data dir counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")}


def _tillbox(*args: str) -> str:
    """Run a `tillbox appliance` command to completion; its standard output."""
    done = subprocess.run(
        [TILLBOX, "appliance", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """The store database opened read-only (the server may be running beside it)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


class Appliance:
    """`tillbox appliance serve` as a child process of its own, on a free port."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            [TILLBOX, "appliance", "serve", "--data", str(data_dir), "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
        self.log_path = log_path

    def wait_healthy(self, http: requests.Session, seconds: float = 30) -> float:
        """Poll /health until it answers for this store; how long that took."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log_path.read_text()}")
            with contextlib.suppress(requests.ConnectionError):
                answer = http.get(self.url + "/api/v1/health", timeout=2)
                if answer.status_code == 200 and answer.json()["store"] == STORE:
                    return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"the server never became healthy: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no handler runs, no request finishes, nothing is flushed or closed."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self) -> None:
        """End the server (gently, then not) and release everything it held."""
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            self.process.wait()
            self.log.close()


@dataclass
class Push:
    """One push as the register saw it."""

    envelope: Envelope
    sent: float
    answered: float | None = None
    status: int | None = None
    acked: int | None = None
    error: str | None = None


@dataclass
class Till:
    """A paired register with its own chain, its cashier's session and its open shift."""

    id: str
    device: str
    clock: Clock
    token: str = ""
    staff: str = ""
    shift: str = ""
    seq: int = 0
    prev: str | None = None
    receipts: int = 0
    pushes: list[Push] = field(default_factory=list)
    failure: BaseException | None = None

    def seal(self, type: str, body: dict[str, Any]) -> Envelope:
        """The next event of this register's chain."""
        self.seq += 1
        envelope = seal(
            id=new_id(),
            type=type,
            store=STORE,
            origin=self.id,
            seq=self.seq,
            hlc=str(self.clock.now()),
            at=format_at(_now_ms()),
            actor=self.staff,
            override=None,
            body=body,
            prev=self.prev,
        )
        self.prev = envelope.hash
        return envelope

    def sale(self, catalog: list[tuple[str, int]]) -> Envelope:
        """A sale of three lines, paid part cash (with change) and part card."""
        quantities = (1, 2, 1)
        totals = price_sale(
            [
                LineInput(qty=qty, unit_price=price, tax_rate_ppm=STANDARD_PPM)
                for (_, price), qty in zip(catalog, quantities, strict=True)
            ],
            order_discount=None,
            mode=TaxMode.INCLUSIVE,
            rounding=TaxRounding.LINE,
        )
        self.receipts += 1
        cash = 500
        body = {
            "receipt": f"{self.id}-{self.receipts:06d}",
            "shift": self.shift,
            "catalog_version": 10**9,
            "currency": "EUR",
            "lines": [
                {"line": number, "variant": uid, "qty": qty, "unit_price": price}
                for number, ((uid, price), qty) in enumerate(
                    zip(catalog, quantities, strict=True), start=1
                )
            ],
            "tenders": [
                {"kind": "cash", "amount": cash, "tendered": 1000},
                {"kind": "card", "amount": totals.total - cash, "reference": f"C{self.receipts}"},
            ],
            "totals": {
                "subtotal": totals.subtotal,
                "discount": totals.discount,
                "tax": totals.tax,
                "total": totals.total,
            },
        }
        return self.seal("sale.completed", body)


def _post(
    http: requests.Session, url: str, till: Till, events: list[Envelope], mode: str
) -> requests.Response:
    return http.post(
        url + "/api/v1/events",
        json={"events": [envelope_dict(e) for e in events], "mode": mode},
        headers={"Authorization": f"Bearer {till.token}"},
        timeout=TIMEOUT,
    )


def _sell_until_the_line_drops(
    till: Till, url: str, catalog: list[tuple[str, int]], acked: list[int], lock: threading.Lock
) -> None:
    """Push sales back to back; stop at the first push that gets no answer (or not a 2xx)."""
    try:
        with requests.Session() as http:
            while True:
                envelope = till.sale(catalog)
                push = Push(envelope=envelope, sent=time.monotonic())
                till.pushes.append(push)
                try:
                    answer = _post(http, url, till, [envelope], "live")
                except requests.RequestException as exc:
                    push.error = type(exc).__name__
                    return
                push.answered, push.status = time.monotonic(), answer.status_code
                if not 200 <= answer.status_code < 300:
                    push.error = answer.text
                    return
                push.acked = answer.json()["acked"][till.id]
                with lock:
                    acked[0] += 1
    except BaseException as exc:  # reported by the main thread, never lost in this one
        till.failure = exc


def _setup_store(data_dir: Path, tmp_path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """A store with a manager, four cashiers and a three-item catalog: cashier ids, items."""
    _tillbox("init", "--store", STORE, "--data", str(data_dir))
    _tillbox(
        "staff",
        "add",
        "--data",
        str(data_dir),
        "--name",
        "Mona",
        "--role",
        "manager",
        "--pin",
        MANAGER_PIN,
    )
    cashiers = []
    for n, pin in enumerate(CASHIER_PINS, start=1):
        added = _tillbox(
            "staff",
            "add",
            "--data",
            str(data_dir),
            "--name",
            f"Cashier {n}",
            "--role",
            "cashier",
            "--pin",
            pin,
        )
        cashiers.append(added.split()[1])  # "added {id} {name} (cashier)"
    csv_file = tmp_path / "catalog.csv"
    csv_file.write_text(CATALOG, encoding="utf-8")
    _tillbox("import-catalog", "--data", str(data_dir), str(csv_file))
    with _read_only(data_dir / "tillbox.sqlite3") as db:
        prices = {
            sku: (uid, price)
            for uid, sku, price in db.execute("SELECT uid, sku, price FROM variant")
        }
    return cashiers, [prices["CR-TEN"], prices["CR-FIVE"], prices["CR-TWO"]]


def _open_tills(http: requests.Session, url: str, cashiers: list[str]) -> list[Till]:
    """Pair four tablets with the manager's PIN, log a cashier in on each, open shifts."""
    tills = []
    for n, (cashier, pin) in enumerate(zip(cashiers, CASHIER_PINS, strict=True), start=1):
        paired = http.post(
            url + "/api/v1/registers",
            json={"name": f"Till {n}", "manager_pin": MANAGER_PIN},
            timeout=TIMEOUT,
        )
        assert paired.status_code == 201, paired.text
        rid = paired.json()["register"]["id"]
        till = Till(id=rid, device=paired.json()["token"], clock=Clock(rid))
        login = http.post(
            url + "/api/v1/sessions",
            json={"staff": cashier, "pin": pin},
            headers={"Authorization": f"Bearer {till.device}"},
            timeout=TIMEOUT,
        )
        assert login.status_code == 201, login.text
        till.token, till.staff, till.shift = login.json()["token"], cashier, new_id()
        counts = {"2000": 2, "1000": 4, "500": 4, "100": 10}
        opened = till.seal(
            "shift.opened",
            {
                "shift": till.shift,
                "float": {"counts": counts, "total": sum(int(k) * v for k, v in counts.items())},
            },
        )
        answer = _post(http, url, till, [opened], "live")
        assert answer.status_code == 200, answer.text
        assert answer.json()["acked"] == {till.id: 1}
        tills.append(till)
    return tills


def _check_the_store(db_path: Path, tills: list[Till]) -> dict[str, int]:
    """Every acknowledged event is held; chains have no holes; nothing is half-written.

    Returns the seq the appliance holds per register."""
    held: dict[str, int] = {}
    with _read_only(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        for till in tills:
            seqs = [
                s
                for (s,) in db.execute(
                    "SELECT seq FROM event WHERE origin = ? ORDER BY seq", (till.id,)
                )
            ]
            assert seqs == list(range(1, len(seqs) + 1)), f"{till.id} has holes"
            cursor = db.execute(
                "SELECT last_seq, last_hash FROM origin_cursor WHERE origin = ?", (till.id,)
            ).fetchone()
            top = db.execute(
                "SELECT hash FROM event WHERE origin = ? AND seq = ?", (till.id, len(seqs))
            ).fetchone()
            assert cursor == (len(seqs), top[0]), (till.id, cursor, len(seqs))
            held[till.id] = len(seqs)
            # Acknowledged means stored, as sent; what the appliance holds beyond the last
            # ack is this register's own unanswered push, never anything else.
            sealed = {p.envelope.seq: p for p in till.pushes}
            for push in till.pushes:
                if push.acked is not None:
                    assert push.acked == push.envelope.seq
            top_acked = max((p.acked for p in till.pushes if p.acked is not None), default=1)
            assert top_acked <= held[till.id] <= till.seq
            for seq, event_id, digest in db.execute(
                "SELECT seq, id, hash FROM event WHERE origin = ? AND seq > 1", (till.id,)
            ):
                assert (event_id, digest) == (sealed[seq].envelope.id, sealed[seq].envelope.hash)

        # Each sale event has all of its projections, and every projection has its event.
        sales = db.execute("SELECT id FROM event WHERE type = 'sale.completed'").fetchall()
        per_sale = db.execute(
            "SELECT e.id, s.total,"
            " (SELECT count(*) FROM sale_line l WHERE l.sale = e.id),"
            " (SELECT count(*) FROM payment p WHERE p.event = e.id),"
            " (SELECT COALESCE(SUM(p.amount), 0) FROM payment p WHERE p.event = e.id),"
            " (SELECT count(*) FROM stock_ledger k WHERE k.event = e.id),"
            " (SELECT COALESCE(SUM(k.qty), 0) FROM stock_ledger k WHERE k.event = e.id)"
            " FROM event e LEFT JOIN sale s ON s.id = e.id WHERE e.type = 'sale.completed'"
        ).fetchall()
        assert len(per_sale) == len(sales)
        for event_id, total, lines, payments, paid, moves, moved in per_sale:
            assert total is not None, f"sale {event_id} has an event but no sale row"
            assert (lines, payments, paid, moves, moved) == (3, 2, total, 3, -4), event_id
        shifts = db.execute(
            "SELECT count(*) FROM event e JOIN shift s ON s.id = json_extract(e.envelope, '$.body.shift')"
            " WHERE e.type = 'shift.opened'"
        ).fetchone()
        assert shifts == (len(tills),)
        for table, column in (
            ("sale", "id"),
            ("sale_line", "sale"),
            ("payment", "event"),
            ("stock_ledger", "event"),
            ("review_flag", "event"),
        ):
            orphans = db.execute(
                f"SELECT count(*) FROM {table} t WHERE NOT EXISTS"
                f" (SELECT 1 FROM event e WHERE e.id = t.{column})"
            ).fetchone()
            assert orphans == (0,), f"{table} rows without their event"
        counts = db.execute(
            "SELECT (SELECT count(*) FROM sale), (SELECT count(*) FROM sale_line),"
            " (SELECT count(*) FROM payment), (SELECT count(*) FROM stock_ledger)"
        ).fetchone()
        assert counts == (len(sales), 3 * len(sales), 2 * len(sales), 3 * len(sales))
        store_seqs = db.execute("SELECT count(*), MIN(store_seq), MAX(store_seq) FROM event")
        n, low, top = store_seqs.fetchone()
        assert (low, top) == (1, n), "the store sequence has a hole"
    return held


def _verify_journal(data_dir: Path) -> str:
    out = _tillbox("verify-journal", "--data", str(data_dir))
    assert "journal intact" in out, out
    return out


def test_kill_9_during_a_burst_loses_no_acknowledged_sale(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    db_path = data_dir / "tillbox.sqlite3"
    timings: dict[str, float] = {}
    started = time.monotonic()
    cashiers, catalog = _setup_store(data_dir, tmp_path)
    timings["setup"] = time.monotonic() - started

    servers: list[Appliance] = []
    threads: list[threading.Thread] = []
    http = requests.Session()
    try:
        first = Appliance(data_dir, tmp_path / "serve-1.log")
        servers.append(first)
        timings["first start"] = first.wait_healthy(http)
        tills = _open_tills(http, first.url, cashiers)

        # ---- the burst, and the kill -------------------------------------------------------
        acked, lock = [0], threading.Lock()
        threads = [
            threading.Thread(
                target=_sell_until_the_line_drops,
                args=(till, first.url, catalog, acked, lock),
                name=f"burst-{till.id}",
            )
            for till in tills
        ]
        burst_started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - burst_started < BURST_SECONDS and acked[0] < BURST_ACKS:
            if not all(thread.is_alive() for thread in threads):
                break  # a register stopped early: its failure is reported below
            time.sleep(0.005)
        killed_at = time.monotonic()
        first.kill()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        assert not any(thread.is_alive() for thread in threads)
        for till in tills:
            if till.failure is not None:
                raise till.failure
        timings["burst"] = killed_at - burst_started

        pushes = [push for till in tills for push in till.pushes]
        acknowledged = [push for push in pushes if push.acked is not None]
        unanswered = [push for push in pushes if push.status is None]
        refused = [push for push in pushes if push.status is not None and push.acked is None]
        assert not refused, [(p.status, p.error) for p in refused]
        assert len(acknowledged) >= 20, "too few sales before the kill to mean anything"
        # One push per register got no answer: the one it was sending when the server died.
        assert [len([p for p in till.pushes if p.status is None]) for till in tills] == [1] * 4
        in_flight = [push for push in unanswered if push.sent < killed_at]

        # ---- restart on the same data: everything acknowledged is there, whole -----------------
        second = Appliance(data_dir, tmp_path / "serve-2.log")
        servers.append(second)
        timings["restart"] = second.wait_healthy(http)
        held = _check_the_store(db_path, tills)
        committed_unanswered = sum(held[till.id] - till.seq + 1 for till in tills)
        _verify_journal(data_dir)
        for push in acknowledged:
            till = next(t for t in tills if t.id == push.envelope.origin)
            receipt = http.get(
                f"{second.url}/api/v1/receipts/{push.envelope.body['receipt']}",
                headers={"Authorization": f"Bearer {till.device}"},
                timeout=TIMEOUT,
            )
            assert receipt.status_code == 200, receipt.text
            sold = receipt.json()
            assert sold["id"] == push.envelope.id
            assert sold["total"] == push.envelope.body["totals"]["total"]
            assert [line["qty"] for line in sold["lines"]] == [1, 2, 1]
            assert [(t["kind"], t["paid"]) for t in sold["tenders"]] == [
                (t["kind"], t["amount"]) for t in push.envelope.body["tenders"]
            ]

        # ---- recovery: each register replays what got no answer, then sells again ----------------
        duplicates = 0
        for till in tills:
            outbox = [push.envelope for push in till.pushes if push.status is None]
            answer = _post(http, second.url, till, outbox, "replay")
            assert answer.status_code == 200, answer.text
            result = answer.json()
            assert result["acked"] == {till.id: till.seq}
            already = held[till.id] - (till.seq - len(outbox))
            assert (result["duplicates"], result["applied"]) == (already, len(outbox) - already)
            assert result["flagged"] == [] or all(
                {f["code"] for f in e["flags"]} <= {"negative_stock"} for e in result["flagged"]
            ), result["flagged"]
            duplicates += result["duplicates"]
            again = till.sale(catalog)
            answer = _post(http, second.url, till, [again], "live")
            assert answer.status_code == 200, answer.text
            assert answer.json()["acked"] == {till.id: till.seq}
            assert answer.json()["applied"] == 1
            till.pushes.append(Push(envelope=again, sent=time.monotonic(), acked=again.seq))
        assert duplicates == committed_unanswered
        final = _check_the_store(db_path, tills)
        assert final == {till.id: till.seq for till in tills}
        out = _verify_journal(data_dir)
        timings["total"] = time.monotonic() - started

        latencies = sorted(p.answered - p.sent for p in acknowledged if p.answered is not None)
        print(
            f"\nacknowledged before the kill: {len(acknowledged)} in {timings['burst']:.2f} s"
            f" ({len(acknowledged) / timings['burst']:.0f}/s), push latency p50"
            f" {latencies[len(latencies) // 2] * 1000:.1f} ms p99"
            f" {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms;"
            f" unanswered: {len(unanswered)} ({len(in_flight)} sent before the kill,"
            f" {committed_unanswered} of them committed: duplicates on replay);"
            f" timings: { {k: round(v, 2) for k, v in timings.items()} }; {out.strip()}"
        )
    finally:
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        http.close()
        for server in servers:
            server.stop()
