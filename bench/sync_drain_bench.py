"""Sync drain benchmark: one store's backlog of 50,000 events, appliance to cloud, end to end.

A fresh store's SQLite journal is filled with a realistic backlog (four registers: sales of 3
lines paid in cash and by card, returns, deliveries, adjustments, cycle counts, shifts opened
and closed), sealed as registers seal them and written through the appliance's journal code.
Then the store's real uplink (`appliance.sync.uplink.Uplink`) connects to a private Mosquitto
and drains it into a fresh PostgreSQL database through `cloud.ingest.worker.IngestWorker`,
which runs in a process of its own (as it does in production). The figure is events/s from
the uplink's start (connect) to the cloud's commit of the last batch.

Beside it, in the same run, the raw limits of the two hops:

- MQTT: the same batch payloads published by a bare paho client at QoS 1 to the same broker
  and received by a bare subscriber (QoS 1), as fast as paho goes; and the same one at a
  time, each published only when the last was received (the uplink's one batch in flight);
- PostgreSQL: COPY of the same event rows into the same `event` table, 500 per transaction.

    .venv/bin/python bench/sync_drain_bench.py [--events 50000] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalog_bench import machine, record_section  # noqa: E402

from appliance.journal import append_in_chain  # noqa: E402
from appliance.runtime import Runtime, open_runtime  # noqa: E402
from appliance.settings import load_settings  # noqa: E402
from appliance.setup import init_store  # noqa: E402
from appliance.sync.uplink import Uplink, read_batch, read_cursor  # noqa: E402
from cloud.ingest import _EVENT_COLUMNS, _event_row, decode_batch  # noqa: E402
from cloud.migrate import connect, migrate  # noqa: E402
from cloud.worker import BrokerSettings, IngestWorker  # noqa: E402
from protocol.envelope import Envelope  # noqa: E402
from protocol.ids import new_id  # noqa: E402
from protocol.simulate import Item, SealingTill, split_tender_sale  # noqa: E402
from tests.appliance.sync.mqtt_fakes import Broker  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
BEGIN, END = "<!-- sync-drain-bench:begin -->", "<!-- sync-drain-bench:end -->"
STORE = "d01"
RATE = 200_000
FLOAT = {"2000": 5, "1000": 5, "500": 4, "100": 20}


# ---- the backlog ----------------------------------------------------------------------------


@dataclass
class Register:
    """One register's chain, shift and recent sales (for returns)."""

    chain: SealingTill
    shift: str = ""
    receipts: int = 0
    sales: int = 0
    recent: list[dict[str, Any]] | None = None


def make_backlog(
    count: int, *, store: str = STORE, registers: int = 4, seed: int = 5, products: int = 3000
) -> list[Envelope]:
    """`count` events of a store's registers, interleaved as they reach the appliance."""
    rng = random.Random(seed)
    wall = [1_795_000_000_000]
    tills = [
        Register(chain=SealingTill(store, f"{store}-r0{n}", wall=lambda: wall[0]), recent=[])
        for n in range(1, registers + 1)
    ]
    catalog = [(new_id(), rng.choice((199, 499, 999, 1450, 2495))) for _ in range(products)]
    events: list[Envelope] = []

    def seal(reg: Register, type: str, body: dict[str, Any]) -> None:
        events.append(reg.chain.seal(type, body, actor=f"{store}-staff-{reg.chain.origin[-1]}"))

    def open_shift(reg: Register) -> None:
        reg.shift = new_id()
        total = sum(int(k) * v for k, v in FLOAT.items())
        seal(reg, "shift.opened", {"shift": reg.shift, "float": {"counts": FLOAT, "total": total}})

    for reg in tills:
        open_shift(reg)
    while len(events) < count:
        wall[0] += rng.randint(200, 3000)
        reg = rng.choice(tills)
        roll = rng.random()
        if reg.sales >= 1500 and roll < 0.01:
            seal(
                reg,
                "shift.closed",
                {"shift": reg.shift, "cash": {"counts": FLOAT, "total": 20_500}},
            )
            reg.sales = 0
            reg.recent = []
            open_shift(reg)
        elif roll < 0.90 or not reg.recent:
            reg.receipts += 1
            reg.sales += 1
            items = [
                Item(variant=uid, qty=rng.randint(1, 3), unit_price=price, tax_rate_ppm=RATE)
                for uid, price in rng.sample(catalog, 3)
            ]
            body = split_tender_sale(
                items,
                receipt=f"{reg.chain.origin}-{reg.receipts:06d}",
                shift=reg.shift,
                cash_share=1 / 3,
            )
            seal(reg, "sale.completed", body)
            assert reg.recent is not None
            reg.recent = [*reg.recent[-50:], body]
        elif roll < 0.94:
            assert reg.recent
            sale = rng.choice(reg.recent)
            line = sale["lines"][0]
            refund = line["qty"] * line["unit_price"]
            tax = refund * RATE // (1_000_000 + RATE)
            reg.receipts += 1
            seal(
                reg,
                "return.completed",
                {
                    "receipt": f"{reg.chain.origin}-{reg.receipts:06d}",
                    "shift": reg.shift,
                    "original": sale["receipt"],
                    "lines": [
                        {
                            "line": 1,
                            "original_line": 1,
                            "variant": line["variant"],
                            "qty": line["qty"],
                            "refund": refund,
                            "tax": tax,
                            "reason": rng.choice(("wrong_size", "defective", "changed_mind")),
                        }
                    ],
                    "tenders": [{"kind": "cash", "amount": refund}],
                    "totals": {"total": refund, "tax": tax},
                },
            )
        elif roll < 0.97:
            lines = [
                {"variant": uid, "qty": rng.randint(6, 48)} for uid, _ in rng.sample(catalog, 5)
            ]
            seal(reg, "stock.received", {"lines": lines, "reference": f"PO-{len(events)}"})
        elif roll < 0.985:
            uid, _ = rng.choice(catalog)
            seal(
                reg,
                "stock.adjusted",
                {"lines": [{"variant": uid, "qty": -1, "reason": "damaged"}]},
            )
        else:
            lines = [
                {"variant": uid, "counted": rng.randint(0, 40)} for uid, _ in rng.sample(catalog, 3)
            ]
            seal(reg, "stock.counted", {"count": new_id(), "scope": "cycle", "lines": lines})
    return events[:count]


def fill_journal(rt: Runtime, events: list[Envelope]) -> None:
    """Write the events through the journal, 5,000 to a transaction."""
    last: dict[str, str | None] = {}
    for start in range(0, len(events), 5000):
        with rt.db.write():
            for env in events[start : start + 5000]:
                append_in_chain(rt, env, prev_hash=last.get(env.origin))
                last[env.origin] = env.hash


def journal_payloads(rt: Runtime) -> list[bytes]:
    """The batches exactly as the uplink reads them, from the start of the journal."""
    s = rt.settings
    payloads, first = [], 1
    while (
        batch := read_batch(
            rt.db, first, max_events=s.sync_batch_max_events, max_bytes=s.sync_batch_max_bytes
        )
    ) is not None:
        payloads.append(batch.payload)
        first = batch.last + 1
    return payloads


# ---- helpers shared with sync_steady_bench ---------------------------------------------------


def scratch_database(admin: str) -> str:
    name = f"tillbox_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    with connect(dsn) as conn:
        migrate(conn)
    return name


def drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(admin: str, database: str) -> float:
    """CPU time of the PostgreSQL backends connected to `database` so far."""
    with psycopg.connect(admin, autocommit=True) as conn:
        pids = [
            int(pid)
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            )
        ]
    return sum(cpu_seconds(pid) for pid in pids)


def worker_process(
    dsn: str,
    port: int,
    threads: int,
    name: str,
    target: dict[str, int],
    results: Any,
    stop: Any,
) -> None:
    """An ingest worker in its own process: reports when each store's `target` is committed
    (as wall-clock time), and its own CPU time when told to stop."""
    done: dict[str, float] = {}
    commits: list[tuple[str, int, float]] = []

    def committed(store: str, ack: dict[str, int]) -> None:
        now = time.time()
        through = ack.get("applied_through", 0)
        commits.append((store, through, now))
        if store in target and through >= target[store] and store not in done:
            done[store] = now
            results.put(("done", store, now))

    worker = IngestWorker(
        dsn,
        BrokerSettings(port=port),
        name=name,
        threads=threads,
        on_committed=committed,
    )
    worker.start()
    if not worker.wait_subscribed(20):
        results.put(("error", name, 0.0))
        return
    results.put(("ready", name, time.time()))
    before = os.times()
    stop.wait()
    worker.stop()
    after = os.times()
    # From subscribed to stopped: the start-up (imports, connecting) is not the ingest's.
    results.put(("cpu", name, after.user + after.system - before.user - before.system))
    results.put(("commits", name, commits))


def start_workers(
    dsn: str, port: int, count: int, threads: int, target: dict[str, int]
) -> tuple[list[Any], Any, Any]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    stop = ctx.Event()
    procs = [
        ctx.Process(
            target=worker_process,
            args=(dsn, port, threads, f"bench-{n}", target, results, stop),
            daemon=True,
        )
        for n in range(count)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        kind, name, _ = results.get(timeout=60)
        if kind != "ready":
            raise RuntimeError(f"worker {name} did not subscribe")
    return procs, results, stop


def stop_workers(procs: list[Any], results: Any, stop: Any) -> tuple[float, list[Any]]:
    """Stop the workers; their CPU seconds in all and every commit they reported."""
    stop.set()
    cpu, commits = 0.0, []
    wanted = 2 * len(procs)
    while wanted:
        kind, _, value = results.get(timeout=60)
        if kind == "cpu":
            cpu += value
            wanted -= 1
        elif kind == "commits":
            commits.extend(value)
            wanted -= 1
    for proc in procs:
        proc.join(10)
    return cpu, commits


# ---- raw limits -------------------------------------------------------------------------------


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-{name}-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5,
    )


def raw_mqtt(port: int, payloads: list[bytes], *, one_at_a_time: bool) -> float:
    """Seconds from the first publish until a bare subscriber has received every payload."""
    topic = f"bench/raw/{secrets.token_hex(4)}"
    received = threading.Semaphore(0)
    got = [0]
    all_in = threading.Event()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        got[0] += 1
        received.release()
        if got[0] == len(payloads):
            all_in.set()

    subscribed = threading.Event()
    sub = _client("sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = _client("pub")
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        assert subscribed.wait(10)
        started = time.perf_counter()
        for payload in payloads:
            pub.publish(topic, payload, qos=1)
            if one_at_a_time:
                assert received.acquire(timeout=30)
        assert all_in.wait(120), f"{got[0]} of {len(payloads)} received"
        return time.perf_counter() - started
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


def raw_copy(admin: str, payloads: list[bytes]) -> float:
    """Seconds to COPY the same event rows into `event`, one transaction per batch."""
    batches = [[_event_row(STORE, i) for i in decode_batch(STORE, p).items] for p in payloads]
    origins = sorted({row[2] for rows in batches for row in rows})
    name = scratch_database(admin)
    try:
        with connect(psycopg.conninfo.make_conninfo(admin, dbname=name)) as conn:
            conn.execute("INSERT INTO store (id) VALUES (%s)", (STORE,))
            for origin in origins:
                conn.execute("INSERT INTO origin (id, store) VALUES (%s, %s)", (origin, STORE))
            started = time.perf_counter()
            for rows in batches:
                with (
                    conn.transaction(),
                    conn.cursor().copy(f"COPY event ({_EVENT_COLUMNS}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
            return time.perf_counter() - started
    finally:
        drop(admin, name)


# ---- the drain ------------------------------------------------------------------------------


def drain(
    rt: Runtime, port: int, admin: str, threads: int, events: int
) -> tuple[float, dict[str, float]]:
    """Seconds from the uplink's start to the cloud's last commit, and CPU seconds by part."""
    name = scratch_database(admin)
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    try:
        procs, results, stop = start_workers(dsn, port, 1, threads, {STORE: events})
        broker_pid = broker_pid_of(port)
        cpu_before = {"broker": cpu_seconds(broker_pid), "appliance": _self_cpu()}
        uplink = Uplink(rt)
        started_wall, started = time.time(), time.perf_counter()
        uplink.start()
        try:
            while True:
                kind, store, at = results.get(timeout=600)
                if kind == "done" and store == STORE:
                    break
            elapsed = at - started_wall
            cpu = {
                "broker": cpu_seconds(broker_pid) - cpu_before["broker"],
                "appliance": _self_cpu() - cpu_before["appliance"],
                "postgres": backend_cpu(admin, name),
            }
        finally:
            uplink.stop()
        cpu["worker"], _ = stop_workers(procs, results, stop)
        # The wall clock and the monotonic clock agree over the run (sanity).
        assert abs((time.perf_counter() - started) - (time.time() - started_wall)) < 1.0
        with connect(dsn) as conn:
            held = conn.execute("SELECT count(*) FROM event").fetchone()
            alerts = conn.execute("SELECT count(*) FROM alert").fetchone()
        assert held == (events,), held
        assert alerts == (0,), alerts
        assert read_cursor(rt.db) == events
        return elapsed, cpu
    finally:
        drop(admin, name)


def _self_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def broker_pid_of(port: int) -> int:
    return BROKERS[port]


BROKERS: dict[int, int] = {}


def start_broker(root: Path) -> Broker:
    broker = Broker(root).start()
    assert broker.process is not None
    BROKERS[broker.port] = broker.process.pid
    return broker


def make_store(root: Path, port: int, events: list[Envelope]) -> Runtime:
    init_store(root, store=STORE, name="Drain bench")
    settings = load_settings(
        root,
        env={},
        overrides={
            "mqtt_host": "127.0.0.1",
            "mqtt_port": port,
            "mqtt_tls": False,
            "mqtt_session_expiry_s": 60,
        },
    )
    rt = open_runtime(settings)
    fill_journal(rt, events)
    return rt


def reset_cursor(rt: Runtime) -> None:
    with rt.db.write():
        rt.db.execute("UPDATE cloud_cursor SET applied_through = 0, last_ack_ms = NULL")
        rt.db.execute("DELETE FROM cloud_origin")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def timed(what: str, run: Callable[[], float]) -> float:
    print(f"{what} …", flush=True)
    seconds = run()
    print(f"  {seconds:.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1, help="ingest worker threads")
    parser.add_argument("--dsn", default=ADMIN, help="an admin DSN that may create databases")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()

    load_at_start = load()
    started = time.perf_counter()
    events = make_backlog(args.events)
    kinds: dict[str, int] = {}
    for env in events:
        kinds[env.type] = kinds.get(env.type, 0) + 1
    print(f"sealed {len(events)} events in {time.perf_counter() - started:.1f} s: {kinds}")

    root = Path(tempfile.mkdtemp(prefix="tillbox-drain-"))
    broker = start_broker(root / "broker")
    try:
        started = time.perf_counter()
        rt = make_store(root / "store", broker.port, events)
        print(f"journal written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        payloads = journal_payloads(rt)
        read_s = time.perf_counter() - started
        sizes = [len(p) for p in payloads]
        print(
            f"{len(payloads)} batches, {sum(sizes) / 1e6:.1f} MB, read_batch {read_s:.2f} s"
            f" ({args.events / read_s:,.0f} events/s)"
        )
        mqtt_s = timed(
            "raw MQTT, QoS 1", lambda: raw_mqtt(broker.port, payloads, one_at_a_time=False)
        )
        mqtt_one_s = timed(
            "raw MQTT, QoS 1, one at a time",
            lambda: raw_mqtt(broker.port, payloads, one_at_a_time=True),
        )
        copy_s = timed("raw COPY", lambda: raw_copy(args.dsn, payloads))
        print(f"drain (load average {load()}) …", flush=True)
        drain_s, cpu = drain(rt, broker.port, args.dsn, args.threads, args.events)
        print(f"  {drain_s:.2f} s; CPU seconds {cpu}")
        rt.close()
    finally:
        broker.kill()
        shutil.rmtree(root, ignore_errors=True)
    load_at_end = load()

    n = args.events
    rate = n / drain_s
    mqtt_rate, mqtt_one_rate, copy_rate = n / mqtt_s, n / mqtt_one_s, n / copy_s
    slower = min(mqtt_rate, copy_rate)
    per_event = {part: seconds / n * 1e6 for part, seconds in cpu.items()}
    print(f"drain: {rate:,.0f} events/s")
    print(f"raw MQTT QoS 1: {mqtt_rate:,.0f} events/s; one batch at a time {mqtt_one_rate:,.0f}")
    print(f"raw COPY: {copy_rate:,.0f} rows/s")
    print(f"ratio to the slower raw rate: {rate / slower:.2f}x")
    print("CPU µs per event: " + ", ".join(f"{k} {v:.0f}" for k, v in per_event.items()))

    if args.record:
        mix = ", ".join(f"{kinds[k]:,} {k}" for k in sorted(kinds, key=lambda k: -kinds[k]))
        busy = sum(per_event.values())
        report = "\n".join(
            [
                BEGIN,
                f"### Sync drain: one store's backlog of {n:,} events, end to end"
                f" ({time.strftime('%Y-%m-%d')})",
                "",
                "Command: `.venv/bin/python bench/sync_drain_bench.py --record`",
                "",
                f"Machine: {machine()}; PostgreSQL {server_version(args.dsn)}; Mosquitto"
                f" (private, on a free port); load average {load_at_start} at the start,"
                f" {load_at_end} at the end.",
                "",
                f"Backlog: {mix}; {len(payloads)} batches of up to"
                f" {rt.settings.sync_batch_max_events} events ({sum(sizes) / len(sizes) / 1024:.0f}"
                " KiB on average).",
                "",
                "| what | target (issue 5) | measured | limit, same run | ratio |",
                "|---|---|---|---|---|",
                f"| backlog drain: the store's uplink to the cloud's last commit (1 worker,"
                f" {args.threads} thread) | ≥ 10,000 events/s, ≥ 0.5× the slower raw rate |"
                f" {rate:,.0f} events/s ({drain_s:.1f} s) | {min(mqtt_rate, copy_rate):,.0f}"
                f" events/s, the slower of: MQTT QoS 1 {mqtt_rate:,.0f} events/s, COPY"
                f" {copy_rate:,.0f} rows/s | {rate / slower:.2f}× |",
                f"| the same bytes over MQTT, one batch in flight (publish, wait until received)"
                f" | | {mqtt_one_rate:,.0f} events/s | | |",
                f"| `read_batch` alone on the appliance (the whole journal) | |"
                f" {n / read_s:,.0f} events/s | | |",
                "",
                "CPU per event during the drain (µs): "
                + ", ".join(f"{k} {v:.0f}" for k, v in per_event.items())
                + f"; {busy:.0f} in all, against {drain_s / n * 1e6:.0f} µs of wall time per"
                " event on 2 cores.",
                END,
            ]
        )
        record_section(BEGIN, END, report)


def server_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


if __name__ == "__main__":
    main()
