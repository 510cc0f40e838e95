"""Sync steady-state benchmark: 200 stores sending at 2 events/s each, then as fast as they can.

Each simulated store is a light paho client speaking the batch protocol as the appliance's
uplink does: the events committed so far and not yet acknowledged go as one batch (at most 500
events or 256 KiB, canonical JSON, QoS 1), one batch in flight, the next only after the ack.
Its envelopes are sealed before the clock starts (a register's mix: sales of 3 lines and 2
tenders, returns, deliveries, counts); event k of a store is committed at a fixed time (2 a
second, each store's clock offset at random), and that time is its commit stamp. The cloud is
`cloud.worker.IngestWorker`, 1 or 2 of them, each in its own process, on the shared
subscription of a private Mosquitto, into a fresh database each time. An event is visible
when the worker commits the batch that holds it (the worker's commit hook, wall clock).

- **Steady**: 200 stores × 2 events/s for `--seconds`; latency from commit stamp to
  visibility, p50/p95/p99/max (the first 5 s are warm-up and left out).
- **Saturation**: the same 200 stores, each with a backlog of `--backlog` events committed at
  once; events/s from the start until the last is committed.

    .venv/bin/python bench/sync_steady_bench.py [--stores 200] [--seconds 60] [--record]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalog_bench import machine, record_section  # noqa: E402
from sync_drain_bench import (  # noqa: E402
    ADMIN,
    backend_cpu,
    cpu_seconds,
    drop,
    load,
    make_backlog,
    scratch_database,
    server_version,
    start_broker,
    start_workers,
    stop_workers,
)

from protocol.canonical import canonical_json  # noqa: E402
from protocol.envelope import envelope_dict  # noqa: E402
from protocol.topics import acks_topic, events_topic  # noqa: E402

BEGIN, END = "<!-- sync-steady-bench:begin -->", "<!-- sync-steady-bench:end -->"
MAX_EVENTS, MAX_BYTES = 500, 256 * 1024
WARM_UP_S = 5.0


class SimStore:
    """One store's appliance, as far as the batch protocol goes."""

    def __init__(self, store: str, events: list[bytes], port: int) -> None:
        self.store = store
        self.events = events
        self.due: list[float] = []
        self.committed = 0
        self.applied = 0
        self.in_flight: tuple[int, int, float] | None = None
        self.resends = 0
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sim-{store}-{secrets.token_hex(3)}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self.connected.wait(30):
            raise RuntimeError(f"simulated store {store} could not connect")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(acks_topic(self.store), qos=1)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        ack = msgspec.json.decode(message.payload)
        with self.lock:
            if "applied_through" in ack:
                self.applied = max(self.applied, int(ack["applied_through"]))
            elif "expected" in ack:
                self.applied = int(ack["expected"]) - 1
            done = self.in_flight is not None and self.applied >= self.in_flight[1]
            if done or "expected" in ack:
                self.in_flight = None
            self._send(time.time())

    def reset(self, events: list[bytes]) -> None:
        """A fresh start against a fresh database, for the next phase."""
        with self.lock:
            self.events = events
            self.due, self.committed, self.applied = [], 0, 0
            self.in_flight, self.resends = None, 0

    def start(self, due: list[float]) -> None:
        with self.lock:
            self.due = due

    def tick(self, now: float) -> None:
        with self.lock:
            while self.committed < len(self.due) and self.due[self.committed] <= now:
                self.committed += 1
            if self.in_flight is not None and now - self.in_flight[2] > 10.0:
                self.resends += 1
                self.in_flight = None  # the uplink's resend timeout
            self._send(now)

    def _send(self, now: float) -> None:
        if self.in_flight is not None or self.committed <= self.applied:
            return
        first = self.applied + 1
        parts, size = [], 40
        for part in self.events[first - 1 : min(self.committed, first - 1 + MAX_EVENTS)]:
            if parts and size + len(part) + 1 > MAX_BYTES:
                break
            parts.append(part)
            size += len(part) + 1
        last = first + len(parts) - 1
        payload = b'{"events":[' + b",".join(parts) + b'],"from":%d,"to":%d}' % (first, last)
        self.client.publish(events_topic(self.store), payload, qos=1)
        self.in_flight = (first, last, now)

    def done(self) -> bool:
        with self.lock:
            return self.applied >= len(self.due)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def prepare(stores: int, per_store: int) -> dict[str, list[bytes]]:
    """Each store's sealed events as canonical JSON (one register each)."""
    prepared = {}
    for n in range(stores):
        store = f"t{n:03d}"
        events = make_backlog(per_store, store=store, registers=1, seed=n, products=300)
        prepared[store] = [canonical_json(envelope_dict(env)) for env in events]
    return prepared


def run_phase(
    prepared: dict[str, list[bytes]],
    sims: list[SimStore],
    port: int,
    workers: int,
    threads: int,
    *,
    rate: float | None,
    seconds: float,
    rng: random.Random,
) -> dict[str, Any]:
    """One phase into a fresh database: paced at `rate` events/s per store for `seconds`, or
    (rate None) every event committed at the start. Latencies, throughput and CPU."""
    name = scratch_database(ADMIN)
    dsn = psycopg.conninfo.make_conninfo(ADMIN, dbname=name)
    try:
        per_store = {
            store: len(events) if rate is None else int(rate * seconds)
            for store, events in prepared.items()
        }
        procs, results, stop = start_workers(dsn, port, workers, threads, per_store)
        for sim in sims:
            sim.reset(prepared[sim.store])
        time.sleep(1.0)  # every ack subscription in place
        broker_cpu, sim_cpu = cpu_seconds(BROKER_PID[0]), _self_cpu()
        start = time.time() + 0.5
        for sim in sims:
            n = per_store[sim.store]
            if rate is None:
                sim.start([start] * n)
            else:
                offset = rng.random() / rate
                sim.start([start + offset + k / rate for k in range(n)])
        deadline = start + (seconds if rate is not None else 0) + 300
        while True:
            now = time.time()
            for sim in sims:
                sim.tick(now)
            if all(sim.done() for sim in sims) or now > deadline:
                break
            time.sleep(0.005)
        elapsed = max(sim.due[-1] for sim in sims) - start
        cpu = {
            "simulators": _self_cpu() - sim_cpu,
            "broker": cpu_seconds(BROKER_PID[0]) - broker_cpu,
            "postgres": backend_cpu(ADMIN, name),
        }
        cpu["workers"], commits = stop_workers(procs, results, stop)
        assert all(sim.done() for sim in sims), "not every store was applied in time"
        with psycopg.connect(dsn) as conn:
            held = conn.execute("SELECT count(*) FROM event").fetchone()
            alerts = conn.execute("SELECT kind, count(*) FROM alert GROUP BY kind").fetchall()
        total = sum(per_store.values())
        assert held == (total,), (held, total)
        assert alerts == [], alerts
        # When each store's events became visible: the first commit covering them.
        latencies: list[float] = []
        last_commit = 0.0
        by_store: dict[str, list[tuple[int, float]]] = {}
        for store, through, at in commits:
            by_store.setdefault(store, []).append((through, at))
            last_commit = max(last_commit, at)
        for sim in sims:
            marks = sorted(by_store[sim.store], key=lambda mark: mark[1])
            k = 0
            for through, at in marks:
                while k < through:
                    if sim.due[k] - start >= WARM_UP_S or rate is None:
                        latencies.append(at - sim.due[k])
                    k += 1
        return {
            "events": total,
            "latencies": sorted(latencies),
            "throughput": total / (last_commit - start),
            "elapsed": elapsed,
            "cpu": cpu,
            "resends": sum(sim.resends for sim in sims),
            "batches": len(commits),
        }
    finally:
        drop(ADMIN, name)


BROKER_PID = [0]


def _self_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def pick(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2.0, help="events/s per store")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=250, help="events per store, saturation")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rng = random.Random(11)

    load_at_start = load()
    started = time.perf_counter()
    steady_n = int(args.rate * args.seconds)
    prepared = prepare(args.stores, max(steady_n, args.backlog))
    print(f"sealed {args.stores} stores' events in {time.perf_counter() - started:.1f} s")
    steady = {s: events[:steady_n] for s, events in prepared.items()}
    backlog = {s: events[: args.backlog] for s, events in prepared.items()}

    root = Path(tempfile.mkdtemp(prefix="tillbox-steady-"))
    broker = start_broker(root / "broker")
    assert broker.process is not None
    BROKER_PID[0] = broker.process.pid
    results: dict[str, dict[str, Any]] = {}
    loads: dict[str, str] = {}
    # The same 200 clients through every phase, connected one after the other (200 at once
    # overflow the broker's listen backlog): paho leaves two descriptors behind for each
    # client closed, and its select() fails past descriptor 1,024.
    sims = [SimStore(store, [], broker.port) for store in prepared]
    try:
        for workers in (1, 2):
            for phase, events, rate in (
                ("steady", steady, args.rate),
                ("saturation", backlog, None),
            ):
                key = f"{phase}-{workers}"
                loads[key] = load()
                print(f"{key}: {workers} worker(s) × {args.threads} threads (load {loads[key]}) …")
                r = run_phase(
                    events,
                    sims,
                    broker.port,
                    workers,
                    args.threads,
                    rate=rate,
                    seconds=args.seconds,
                    rng=rng,
                )
                results[key] = r
                lat = r["latencies"]
                print(
                    f"  {r['events']} events in {r['batches']} batches;"
                    f" latency p50 {pick(lat, 0.5):.3f} p95 {pick(lat, 0.95):.3f}"
                    f" p99 {pick(lat, 0.99):.3f} max {lat[-1]:.3f} s;"
                    f" throughput {r['throughput']:,.0f} events/s; resends {r['resends']};"
                    " CPU s " + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu"].items()),
                    flush=True,
                )
    finally:
        for sim in sims:
            sim.close()
        broker.kill()
        shutil.rmtree(root, ignore_errors=True)
    load_at_end = load()

    if args.record:
        record(args, results, loads, load_at_start, load_at_end)


def record(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    loads: dict[str, str],
    load_at_start: str,
    load_at_end: str,
) -> None:
    offered = args.stores * args.rate

    def latency_row(workers: int) -> str:
        r = results[f"steady-{workers}"]
        lat = r["latencies"]
        return (
            f"| commit to visible in PostgreSQL, {args.stores} stores × {args.rate:g} events/s"
            f" ({offered:,.0f} events/s), {workers} worker{'s' if workers > 1 else ''} |"
            f" p99 ≤ 2 s | p99 {pick(lat, 0.99) * 1000:,.0f} ms (p50 {pick(lat, 0.5) * 1000:,.0f},"
            f" p95 {pick(lat, 0.95) * 1000:,.0f}, max {lat[-1] * 1000:,.0f}; n = {len(lat):,}) |"
        )

    def cpu_line(key: str) -> str:
        r = results[key]
        per = {k: v / r["events"] * 1e6 for k, v in r["cpu"].items()}
        return ", ".join(f"{k} {v:.0f}" for k, v in per.items())

    one, two = results["saturation-1"]["throughput"], results["saturation-2"]["throughput"]
    report = "\n".join(
        [
            BEGIN,
            f"### Sync steady state: {args.stores} stores, 1 and 2 ingest workers"
            f" ({time.strftime('%Y-%m-%d')})",
            "",
            "Command: `.venv/bin/python bench/sync_steady_bench.py --record`",
            "",
            f"Machine: {machine()}; PostgreSQL {server_version(ADMIN)}; Mosquitto (private, on"
            f" a free port); each worker a process with {args.threads} threads; load average"
            f" {load_at_start} at the start, {load_at_end} at the end.",
            "",
            "| what | target (issue 5) | measured |",
            "|---|---|---|",
            latency_row(1),
            latency_row(2),
            f"| saturation, {args.stores} stores × {args.backlog} events each, 1 worker | |"
            f" {one:,.0f} events/s |",
            f"| the same, 2 workers | ≥ 1.6× 1 worker | {two:,.0f} events/s ({two / one:.2f}×) |",
            "",
            "CPU per event (µs) by part: "
            + "; ".join(
                f"{key.replace('-', ', ')} worker(s): {cpu_line(key)}"
                for key in ("steady-1", "steady-2", "saturation-1", "saturation-2")
            )
            + ".",
            "",
            "Load average at the start of each phase: "
            + "; ".join(f"{key}: {value}" for key, value in loads.items())
            + ".",
            END,
        ]
    )
    record_section(BEGIN, END, report)


if __name__ == "__main__":
    main()
