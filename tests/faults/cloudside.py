"""The cloud side of the sync fault tests: stores that trade, their uplinks, ingest workers as
real `tillbox cloud ingest` processes, and a PostgreSQL cluster of a test's own to restart.

A `Shop` is a store of its own (data directory, SQLite, app, staff, registers with clocks of
their own) whose registers replay sales, receipts and counts into its journal; `uplink(shop,
broker)` drains that journal to the cloud. `WorkerProcess` runs one ingest worker, to kill.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg

from appliance.app import create_app
from appliance.catalog.csvio import import_csv
from appliance.runtime import Runtime, open_runtime
from appliance.settings import DATABASE_FILE
from appliance.setup import init_store
from appliance.staff.directory import add_staff
from appliance.sync.uplink import Uplink, head, read_cursor
from cloud.migrate import connect, migrate
from cloud.worker import FAULT_ENV
from protocol.envelope import Envelope
from protocol.ids import new_id
from protocol.permissions import Role
from tests.appliance.sync.mqtt_fakes import Broker, free_port, wait_for
from tests.appliance.till import Item, Till
from tests.conftest import PINS, SMALL_CATALOG, FakeWall, Store, make_settings
from tests.faults.invariants import Journal

TILLBOX = str(Path(sys.executable).parent / "tillbox")
PRICES = {"TEE-M-RED": 1299, "TEE-L-RED": 1299, "MUG-1": 950}
HOUR_MS = 3_600_000
# The uplink as the fault tests run it: small batches (many of them, so many points to fail
# at), quick resends and polls.
UPLINK = {
    "mqtt_host": "127.0.0.1",
    "mqtt_tls": False,
    "sync_ack_timeout_ms": 250,
    "sync_ack_timeout_max_ms": 500,
    "sync_poll_ms": 20,
    "sync_heartbeat_ms": 1000,
    "sync_batch_max_events": 3,
}


@dataclass
class Shop:
    """One store: its appliance, and registers that each stamp with a clock of their own."""

    id: str
    store: Store
    wall: FakeWall
    tills: list[Till]
    variants: dict[str, str]
    rng: random.Random
    journal: Journal
    made: int = 0

    @property
    def rt(self) -> Runtime:
        return self.store.rt

    def close(self) -> None:
        self.store.rt.close()

    def replay(self, till: Till, *events: Envelope) -> dict[str, Any]:
        """Push a register's events as its outbox would; every one must be kept."""
        response = till.push(*events, mode="replay", token=till.device)
        assert response.status_code == 200, response.get_json()
        data: dict[str, Any] = response.get_json()
        self.made += len(events)
        return data

    def open_shifts(self) -> None:
        for till in self.tills:
            till.shift = new_id()
            opened = till.event(
                "shift.opened",
                {"shift": till.shift, "float": {"counts": {"2000": 5}, "total": 10000}},
            )
            self.replay(till, opened)

    def event(self, till: Till) -> Envelope:
        """A register's next event: mostly sales, some deliveries, now and then a count."""
        self.wall.advance(self.rng.uniform(1, 90))
        sku = self.rng.choice(sorted(self.variants))
        variant = self.variants[sku]
        roll = self.rng.random()
        if roll < 0.65:
            qty = self.rng.randint(1, 3)
            body = till.sale_body([Item(variant, qty, PRICES[sku])])
            body["tenders"] = [{"kind": "cash", "amount": body["totals"]["total"]}]
            return till.event("sale.completed", body)
        manager = self.store.staff["manager"]
        if roll < 0.9:
            lines = [{"variant": variant, "qty": self.rng.randint(5, 20)}]
            return till.event(
                "stock.received", {"lines": lines, "reference": "PO-7"}, actor=manager
            )
        counted = [{"variant": variant, "counted": self.rng.randint(0, 30)}]
        return till.event(
            "stock.counted",
            {"count": new_id(), "scope": "cycle", "lines": counted},
            actor=manager,
        )

    def trade(self, n: int, *, per_push: int = 5) -> None:
        """`n` more events, a few at a time from one register after another."""
        left = n
        while left > 0:
            till = self.rng.choice(self.tills)
            events = [self.event(till) for _ in range(min(per_push, left))]
            self.replay(till, *events)
            left -= len(events)


def open_shop(
    root: Path,
    store_id: str,
    *,
    seed: int,
    skews_ms: tuple[int, ...] = (0, 0, 0),
    start_ms: int = 1_795_000_000_000,
    open_shifts: bool = True,
) -> Shop:
    """A new store in `root`: staff, the small catalog, and one register per clock skew, each
    with a shift open unless told not to."""
    init_store(root, store=store_id, name=f"Store {store_id}")
    wall = FakeWall(start_ms)
    rt = open_runtime(make_settings(root), wall=wall)
    store = Store(rt=rt, client=create_app(rt.settings, runtime=rt).test_client())
    for who, role in (("cashier", Role.CASHIER), ("manager", Role.MANAGER)):
        store.staff[who] = add_staff(rt, name=who.title(), role=role, pin=PINS[who]).id
    report = import_csv(rt, SMALL_CATALOG.encode())
    assert report.applied, report
    variants = {
        sku: str(rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))) for sku in PRICES
    }
    tills = []
    for n, skew in enumerate(skews_ms, start=1):
        origin, device = store.new_register(f"Till {n}")

        def clock(skew: int = skew) -> int:
            return wall.ms + skew

        till = Till(client=store.client, store=store_id, origin=origin, device=device, wall=clock)
        till.actor = store.staff["cashier"]
        tills.append(till)
    shop = Shop(
        id=store_id,
        store=store,
        wall=wall,
        tills=tills,
        variants=variants,
        rng=random.Random(seed),
        journal=Journal(store_id, root / DATABASE_FILE),
    )
    if open_shifts:
        shop.open_shifts()
    return shop


@dataclass
class Link:
    """A shop's uplink, on a second runtime over the same data directory (as serve runs it)."""

    shop: Shop
    rt: Runtime
    uplink: Uplink

    def start(self) -> Link:
        self.uplink.start()
        return self

    def stop(self) -> None:
        self.uplink.stop()
        self.rt.close()

    def cursor(self) -> int:
        return read_cursor(self.rt.db)

    def head(self) -> int:
        return head(self.rt.db)

    def synced(self) -> bool:
        return self.shop.journal.cloud_cursor() == self.shop.journal.head()


def uplink(shop: Shop, broker: Broker, **overrides: Any) -> Link:
    """The shop's uplink to `broker`, not yet started."""
    settings = make_settings(
        shop.rt.settings.data_dir, **{**UPLINK, "mqtt_port": broker.port, **overrides}
    )
    rt = open_runtime(settings)
    return Link(shop=shop, rt=rt, uplink=Uplink(rt))


def _env(**extra: str) -> dict[str, str]:
    """This environment without TILLBOX_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")}
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    """`tillbox cloud ingest` as a process of its own, its log in a file."""

    dsn: str
    port: int
    name: str
    log_path: Path
    fault: str | None = None
    threads: int = 2
    # Another MQTT keepalive than the CLI's 30 s: the worker is then started by a one-line
    # program around the same IngestWorker.run_forever (with the CLI's logging).
    keepalive_s: int | None = None
    process: subprocess.Popen[bytes] = field(init=False)
    _log: IO[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._log = self.log_path.open("ab")
        extra = {FAULT_ENV: self.fault} if self.fault else {}
        command = [
            TILLBOX,
            "cloud",
            "ingest",
            "--dsn",
            self.dsn,
            "--mqtt-port",
            str(self.port),
            "--name",
            self.name,
            "--threads",
            str(self.threads),
        ]
        if self.keepalive_s is not None:
            command = [
                sys.executable,
                "-c",
                "import logging, sys\n"
                "from cloud.worker import BrokerSettings, IngestWorker\n"
                "logging.basicConfig(level=logging.INFO,"
                " format='%(asctime)s %(levelname)s %(name)s: %(message)s')\n"
                "IngestWorker(sys.argv[1], BrokerSettings(port=int(sys.argv[2]),"
                " keepalive_s=int(sys.argv[3])), name=sys.argv[4],"
                " threads=int(sys.argv[5])).run_forever()",
                self.dsn,
                str(self.port),
                str(self.keepalive_s),
                self.name,
                str(self.threads),
            ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_env(**extra),
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def subscribed(self) -> bool:
        """Whether its log says it connected (its subscription follows at once)."""
        return b"connected, subscribing" in self.log_path.read_bytes()

    def ingesting(self) -> bool:
        """Whether its log says it has applied a batch."""
        return b"ingested store=" in self.log_path.read_bytes()

    def kill(self) -> int:
        """SIGKILL (if it still runs); its exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        code = self.process.wait(10)
        self._log.close()
        return code

    def wait_dead(self, timeout: float) -> int | None:
        """Its exit status once it ends by itself within `timeout` seconds, else None."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> str:
        """SIGTERM and wait (SIGKILL if it lingers); its log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def wait_synced(links: list[Link], *, timeout: float, what: str = "every store synced") -> None:
    """Until each link's cloud cursor is at its journal's head."""
    wait_for(lambda: all(link.synced() for link in links), timeout=timeout, what=what)


def pg_bin() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name)
    )
    assert found, "no PostgreSQL server binaries under /usr/lib/postgresql"
    return found[-1].parent


class Cluster:
    """A PostgreSQL cluster of the test's own on a free port, run as the postgres user,
    to restart or crash without touching the shared server."""

    def __init__(self) -> None:
        self.bin = pg_bin()
        # Under /tmp, so the postgres user can reach it whatever the test's tmp_path is.
        self.root = Path(tempfile.mkdtemp(prefix="tillbox-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nfsync = on\n"
                "shared_buffers = 16MB\nmax_connections = 20\n"
            )

    def _as_postgres(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def start(self) -> Cluster:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: the postmaster and every backend quit at once, without
        a checkpoint; the next start recovers from the WAL."""
        self.stop("immediate")

    def kill_postmaster(self) -> None:
        """SIGKILL the postmaster; its backends notice and quit, and the next start recovers."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        backends = _children_of(pid)
        assert backends, "the postmaster has no children"
        os.kill(pid, signal.SIGKILL)
        # The orphaned backends keep the shared memory until they are gone.
        wait_for(
            lambda: not any(_alive(child) for child in (pid, *backends)),
            timeout=20,
            what="the postmaster and its backends to quit",
        )
        # Nobody here may reap the dead postmaster, and the next one takes a zombie's pid in
        # a lock file for a live server: they are stale, so they go.
        (self.data / "postmaster.pid").unlink()
        (self.root / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def running(self) -> bool:
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(self.dsn(), connect_timeout=1).close()
            return True
        return False

    def cloud_database(self) -> str:
        """A migrated `tillbox` database; its DSN."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tillbox")
        dsn = self.dsn("tillbox")
        with connect(dsn) as conn:
            migrate(conn)
        return dsn

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _stat(pid: int) -> list[str]:
    """A process's /proc stat fields after its name (state, parent, …), or [] once gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def _children_of(parent: int) -> list[int]:
    """The live processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 1 and int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A started cluster, destroyed afterwards."""
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


def until(deadline_s: float, step: Callable[[], bool]) -> bool:
    """Run `step` until it says done or `deadline_s` seconds pass; whether it was done."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if step():
            return True
        time.sleep(0.01)
    return False
