"""Selling benchmark: 8 registers pushing sales at once through the real waitress server.

Each sale has 3 lines and 2 tenders (cash and card) and is one push, one transaction, one
fsync. Measured: commit latency per push (p50/p95/p99) and throughput; the raw SQLite rate
for the same transaction shape with the same pragmas, in the same run; and how long the
X report and the Z report (written at close) take for a shift with 2,000 sales.

    .venv/bin/python bench/selling_bench.py [--registers 8] [--sales 250] [--record]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))

from catalog_bench import free_port, machine, record_section  # noqa: E402

from appliance.db import PRAGMAS  # noqa: E402
from protocol.envelope import envelope_dict  # noqa: E402
from protocol.ids import new_id  # noqa: E402
from protocol.simulate import Item, SealingTill, split_tender_sale  # noqa: E402

OUT = ROOT / "bench" / "out"
TILLBOX = str(Path(sys.executable).parent / "tillbox")
BEGIN, END = "<!-- selling-bench:begin -->", "<!-- selling-bench:end -->"
RATE = 200_000  # standard rate, ppm


def run(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.conn.request(
            method, path, body=None if body is None else json.dumps(body), headers=headers
        )
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


@dataclass
class Till:
    """A register with its chain, ready to seal sales."""

    id: str
    device: str
    token: str
    staff: str
    chain: SealingTill
    shift: str = ""
    receipts: int = 0

    def seal(self, type: str, body: dict[str, Any]) -> dict[str, Any]:
        return envelope_dict(self.chain.seal(type, body, actor=self.staff))

    def sale(self, rng: random.Random, products: list[tuple[str, int]]) -> dict[str, Any]:
        self.receipts += 1
        items = [
            Item(variant=uid, qty=rng.randint(1, 3), unit_price=price, tax_rate_ppm=RATE)
            for uid, price in rng.sample(products, 3)
        ]
        body = split_tender_sale(
            items, receipt=f"{self.id}-{self.receipts:06d}", shift=self.shift, cash_share=1 / 3
        )
        return self.seal("sale.completed", body)


def raw_rate(transactions: int, sample_event: dict[str, Any]) -> float:
    """The same rows per sale (event, sale, 3 lines, 2 payments, 3 ledger rows, 3 stock levels,
    cursor) in one fsync'd transaction each, with the appliance's pragmas, and nothing else."""
    path = OUT / "raw-selling.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for name, value in PRAGMAS:
        conn.execute(f"PRAGMA {name} = {value}")
    conn.executescript(
        """
        CREATE TABLE event (id TEXT PRIMARY KEY, origin TEXT, seq INTEGER, store_seq INTEGER UNIQUE,
            type TEXT, hlc_wall INTEGER, hlc_counter INTEGER, at TEXT, actor TEXT, envelope TEXT,
            hash TEXT, received_ms INTEGER, UNIQUE (origin, seq)) WITHOUT ROWID;
        CREATE TABLE origin_cursor (origin TEXT PRIMARY KEY, last_seq INTEGER, last_hash TEXT) WITHOUT ROWID;
        CREATE TABLE sale (id TEXT PRIMARY KEY, receipt TEXT, register TEXT, shift TEXT, actor TEXT, at TEXT,
            catalog_version INTEGER, currency TEXT, subtotal INTEGER, discount INTEGER, tax INTEGER,
            total INTEGER, exchange_of TEXT) WITHOUT ROWID;
        CREATE INDEX sale_receipt ON sale (receipt);
        CREATE INDEX sale_shift ON sale (shift);
        CREATE TABLE sale_line (sale TEXT, line INTEGER, variant TEXT, qty INTEGER, qty_scale INTEGER,
            unit_price INTEGER, list_price INTEGER, gross INTEGER, line_discount INTEGER,
            order_discount INTEGER, net INTEGER, tax INTEGER, total INTEGER, tax_rate_ppm INTEGER,
            voided INTEGER, PRIMARY KEY (sale, line)) WITHOUT ROWID;
        CREATE TABLE payment (event TEXT, idx INTEGER, shift TEXT, kind TEXT, amount INTEGER,
            reference TEXT, tendered INTEGER, change INTEGER, PRIMARY KEY (event, idx)) WITHOUT ROWID;
        CREATE INDEX payment_shift ON payment (shift, kind);
        CREATE TABLE stock_ledger (event TEXT, line INTEGER, variant TEXT, kind TEXT, qty INTEGER,
            hlc_wall INTEGER, hlc_counter INTEGER, hlc_node TEXT, origin TEXT, reason TEXT,
            PRIMARY KEY (event, line)) WITHOUT ROWID;
        CREATE INDEX stock_ledger_variant ON stock_ledger (variant, hlc_wall, hlc_counter, hlc_node);
        CREATE TABLE stock_level (variant TEXT PRIMARY KEY, on_hand INTEGER, anchor_wall INTEGER,
            anchor_counter INTEGER, anchor_node TEXT, anchor_origin TEXT) WITHOUT ROWID;
        """
    )
    envelope = json.dumps(sample_event)
    started = time.perf_counter()
    for n in range(transactions):
        event = new_id()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO event VALUES (?, 'b01-r01', ?, ?, 'sale.completed', ?, 0, 'at', 'staff', ?, 'hash', 0)",
            (event, n + 1, n + 1, n, envelope),
        )
        conn.execute(
            "INSERT INTO sale VALUES (?, ?, 'b01-r01', 'shift', 'staff', 'at', 1, 'EUR', 100, 0, 17, 100, NULL)",
            (event, f"b01-r01-{n:06d}"),
        )
        for line in (1, 2, 3):
            conn.execute(
                "INSERT INTO sale_line VALUES (?, ?, 'variant', 1, 1, 100, 100, 100, 0, 0, 100, 17, 100, 200000, 0)",
                (event, line),
            )
            conn.execute(
                "INSERT INTO stock_ledger VALUES (?, ?, ?, 'sale', -1, ?, 0, 'b01-r01', 'b01-r01', NULL)",
                (event, line, f"variant-{line}", n),
            )
            conn.execute(
                "INSERT INTO stock_level (variant, on_hand) VALUES (?, -1)"
                " ON CONFLICT (variant) DO UPDATE SET on_hand = on_hand - 1",
                (f"variant-{line}",),
            )
        for idx in (0, 1):
            conn.execute(
                "INSERT INTO payment VALUES (?, ?, 'shift', 'cash', 50, NULL, NULL, NULL)",
                (event, idx),
            )
        conn.execute("INSERT OR REPLACE INTO origin_cursor VALUES ('b01-r01', ?, 'hash')", (n + 1,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return transactions / elapsed


def drive(
    port: int,
    tills: list[Till],
    work: dict[str, list[dict[str, Any]]],
    *,
    interval: float | None = None,
) -> tuple[list[float], float]:
    """Every register pushes its sales, one push each, all at once: back to back (closed
    loop), or one every `interval` seconds on a fixed schedule. The latencies, and the time."""
    latencies: dict[str, list[float]] = {till.id: [] for till in tills}
    errors: list[str] = []
    barrier = threading.Barrier(len(tills) + 1)

    def register(till: Till, offset: float) -> None:
        client = Client(port)
        client.conn.connect()  # a till keeps its connection: setting one up is not a push
        barrier.wait()
        begun = time.perf_counter()
        try:
            for n, event in enumerate(work[till.id]):
                if interval is not None:
                    due = begun + offset + n * interval
                    time.sleep(max(0.0, due - time.perf_counter()))
                started = time.perf_counter()
                status, answer = client.call(
                    "POST", "/api/v1/events", till.token, {"events": [event]}
                )
                latencies[till.id].append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{status} {answer}")
        finally:
            client.close()

    spread = (interval or 0) / len(tills)
    threads = [
        threading.Thread(target=register, args=(till, n * spread)) for n, till in enumerate(tills)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} pushes failed, e.g. {errors[0]}")
    return [s for per in latencies.values() for s in per], elapsed


HELLO = """
import sys
from flask import Flask, request
from waitress import serve
app = Flask("hello")
@app.post("/api/v1/events")
def events():
    return {"acked": {"x": len(request.get_data())}, "flagged": []}
serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=16, _quiet=True)
"""


def http_ceiling(registers: int, requests: int, sample_event: dict[str, Any]) -> float:
    """Requests per second of a Flask app on waitress that does nothing with the same body,
    driven the same way: what the HTTP stack alone allows on this machine."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", HELLO, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        body = {"events": [sample_event]}
        barrier = threading.Barrier(registers + 1)

        def client() -> None:
            conn = Client(port)
            barrier.wait()
            for _ in range(requests):
                conn.call("POST", "/api/v1/events", "token", body)
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(registers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        return registers * requests / (time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registers", type=int, default=8)
    parser.add_argument("--sales", type=int, default=250, help="sales per register")
    parser.add_argument("--z-sales", type=int, default=2000)
    parser.add_argument(
        "--paced-rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[10.0, 20.0, 30.0],
        help="sales per second per register for the paced phases (comma-separated)",
    )
    parser.add_argument("--paced-seconds", type=float, default=5, help="length of each paced phase")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / "selling-store"
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "TILLBOX_DATA": str(data)}
    run(TILLBOX, "appliance", "init", "--store", "b01", env=env)
    catalog = OUT / "selling-catalog.csv"
    with catalog.open("w", encoding="utf-8") as out:
        out.write("sku,product,price,tax_class\r\n")
        for n in range(300):
            out.write(
                f"B-{n:04d},Bench Product {n},{rng.choice((1.99, 4.99, 9.99, 14.50, 24.95))},standard\r\n"
            )
    run(TILLBOX, "appliance", "import-catalog", str(catalog), env=env)
    run(
        TILLBOX,
        "appliance",
        "staff",
        "add",
        "--name",
        "Bench Manager",
        "--role",
        "manager",
        "--pin",
        "97531",
        env=env,
    )
    pins = [f"{4000 + n}" for n in range(args.registers + 1)]
    for n, pin in enumerate(pins):
        run(
            TILLBOX,
            "appliance",
            "staff",
            "add",
            "--name",
            f"Cashier {n}",
            "--role",
            "cashier",
            "--pin",
            pin,
            env=env,
        )
    devices = [
        run(TILLBOX, "appliance", "register", "add", f"Till {n}", env=env).strip()
        for n in range(args.registers + 1)
    ]

    port = free_port()
    proc = subprocess.Popen(
        [TILLBOX, "appliance", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe = Client(port)
                if probe.call("GET", "/api/v1/health")[0] == 200:
                    probe.close()
                    break
                probe.close()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        setup = Client(port)
        products = []
        _, found = setup.call("GET", "/api/v1/catalog/changes?since=0&limit=5000", devices[0])
        products = [
            (c["id"], c["data"]["price"]) for c in found["changes"] if c["kind"] == "variant"
        ]
        tills = []
        for n in range(args.registers + 1):
            status, register = setup.call("GET", "/api/v1/registers/current", devices[n])
            staff_id = f"b01-staff-{n + 2}"
            status, login = setup.call(
                "POST", "/api/v1/sessions", devices[n], {"staff": staff_id, "pin": pins[n]}
            )
            assert status == 201, login
            till = Till(
                id=register["id"],
                device=devices[n],
                token=login["token"],
                staff=staff_id,
                chain=SealingTill(store="b01", origin=register["id"]),
            )
            till.shift = new_id()
            event = till.seal(
                "shift.opened",
                {"shift": till.shift, "float": {"counts": {"1000": 10}, "total": 10000}},
            )
            status, answer = setup.call("POST", "/api/v1/events", till.token, {"events": [event]})
            assert status == 200, answer
            tills.append(till)
        z_till, tills = tills[-1], tills[:-1]
        # Goods in before trading, as in a store: sales that drive stock negative are flagged
        # for review, which is not the everyday path being measured.
        status, manager = setup.call(
            "POST", "/api/v1/sessions", z_till.device, {"staff": "b01-staff-1", "pin": "97531"}
        )
        assert status == 201, manager
        cashier, z_till.staff = z_till.staff, "b01-staff-1"
        received = z_till.seal(
            "stock.received",
            {
                "lines": [{"variant": uid, "qty": 10_000} for uid, _ in products],
                "reference": "BENCH",
            },
        )
        z_till.staff = cashier
        status, answer = setup.call(
            "POST", "/api/v1/events", manager["token"], {"events": [received]}
        )
        assert status == 200 and not answer["flagged"], answer
        setup.close()
        # Sealing costs CPU on the same two cores: it is done before the clock starts.
        work = {till.id: [till.sale(rng, products) for _ in range(args.sales)] for till in tills}
        samples, elapsed = drive(port, tills, work)
        throughput = len(samples) / elapsed
        # The same registers at a steady pace (each a sale every 1/rate s, sent on schedule
        # whether or not the last one was answered): latency when the appliance is not
        # saturated, still far busier than any store's eight tills.
        paced: dict[float, list[float]] = {}
        for rate in args.paced_rates:
            paced_work = {
                till.id: [till.sale(rng, products) for _ in range(int(rate * args.paced_seconds))]
                for till in tills
            }
            paced[rate], _ = drive(port, tills, paced_work, interval=1 / rate)

        # A shift with 2,000 sales, pushed in replay batches (quick), then the X and Z reports.
        client = Client(port)
        for start in range(0, args.z_sales, 100):
            batch = [z_till.sale(rng, products) for _ in range(min(100, args.z_sales - start))]
            status, answer = client.call(
                "POST", "/api/v1/events", z_till.device, {"events": batch, "mode": "replay"}
            )
            assert status == 200, answer
        status, manager = client.call(
            "POST", "/api/v1/sessions", z_till.device, {"staff": "b01-staff-1", "pin": "97531"}
        )
        x_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            status, x = client.call(
                "GET", f"/api/v1/shifts/{z_till.shift}/report?kind=x", manager["token"]
            )
            x_times.append(time.perf_counter() - t0)
            assert status == 200 and x["sales"]["count"] == args.z_sales, x
        close = z_till.seal(
            "shift.closed", {"shift": z_till.shift, "cash": {"counts": {}, "total": 0}}
        )
        t0 = time.perf_counter()
        status, answer = client.call("POST", "/api/v1/events", z_till.token, {"events": [close]})
        z_close = time.perf_counter() - t0
        assert status == 200, answer
        t0 = time.perf_counter()
        status, z = client.call(
            "GET", f"/api/v1/shifts/{z_till.shift}/report?kind=z", manager["token"]
        )
        z_read = time.perf_counter() - t0
        assert status == 200 and z["number"] == 1 and z["sales"]["count"] == args.z_sales
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    raw = raw_rate(len(samples), work[tills[0].id][0])
    ceiling = http_ceiling(len(tills), args.sales, work[tills[0].id][0])
    p50, p95, p99 = (percentile(samples, q) for q in (0.5, 0.95, 0.99))
    paced_rows = []
    for rate, latencies in paced.items():
        q50, q95, q99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
        paced_rows.append(
            f"| the same, {len(tills)} registers at {rate:g} sales/s each ({len(tills) * rate:g} sales/s offered, {len(tills) * rate / throughput:.0%} of saturation) | ≤ 25 ms | {q99:.1f} ms (p50 {q50:.1f}, p95 {q95:.1f}) | | |"
        )
    report = "\n".join(
        [
            BEGIN,
            f"### Selling: {len(tills)} registers × {args.sales} sales ({time.strftime('%Y-%m-%d')})",
            "",
            "Command: `.venv/bin/python bench/selling_bench.py --record`",
            "",
            f"Machine: {machine()}",
            "",
            "| what | target | measured | limit, same run | ratio |",
            "|---|---|---|---|---|",
            f"| push of a sale (3 lines, 2 tenders), commit latency p99, {len(tills)} registers back to back (saturated) | ≤ 25 ms | {p99:.1f} ms (p50 {p50:.1f}, p95 {p95:.1f}) | | |",
            *paced_rows,
            f"| throughput, {len(tills)} concurrent registers | ≥ 0.5 × raw | {throughput:.0f} sales/s | {raw:.0f} tx/s plain SQLite, same rows and pragmas | {throughput / raw:.2f}× |",
            f"| the same against the HTTP stack alone | | | {ceiling:.0f} req/s, Flask on waitress doing nothing with the same body | {throughput / ceiling:.2f}× |",
            f"| X report, shift of {args.z_sales} sales (HTTP) | ≤ 200 ms | {min(x_times) * 1000:.1f} ms (max of 5: {max(x_times) * 1000:.1f}) | | |",
            f"| close with Z report, shift of {args.z_sales} sales (HTTP push) | ≤ 200 ms | {z_close * 1000:.1f} ms; reading it back {z_read * 1000:.1f} ms | | |",
            END,
        ]
    )
    print(report)
    if args.record:
        record_section(BEGIN, END, report)


if __name__ == "__main__":
    main()
