"""`tillbox cloud demo`: the cloud and two demo stores on one machine, with events flowing.

What it brings up, all local:
- a PostgreSQL database for the cloud (created if missing, then migrated);
- an ingest worker (`cloud.worker.IngestWorker`) on the broker's shared subscription;
- two store appliances (`tillbox appliance serve`, each a demo store with two weeks of history
  on first run), each with its uplink to the broker: their history drains to the cloud first;
- on each store, a live register that rings up a sale every few seconds over the appliance's
  HTTP API, exactly as the cashier app does (sealed, hash-chained events);
- HQ's web pages (`cloud.hq`, waitress on 127.0.0.1, plain HTTP) with a demo HQ admin whose
  password is new on every run and printed, so the fleet and stock pages show the stores live;
- a digital receipts worker (`cloud.receipts.ReceiptWorker`) that, having no mail server or
  SMS gateway to use, writes each emailed or texted receipt into the data folder's
  `receipts-outbox/` (an .eml file per email, a .txt per text);

and every two seconds a table of what each appliance holds against what the cloud has applied.
Ctrl-C (or `--seconds`) stops everything; the stores and the database are kept for next time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg

from appliance.demo.catalog import DEMO_STAFF
from appliance.receipts.sending import Email
from cloud.hq import accounts
from cloud.hq import create_app as create_hq_app
from cloud.hq.settings import HqSettings
from cloud.migrate import connect, migrate
from cloud.receipts import ReceiptWorker
from cloud.worker import BrokerSettings, IngestWorker
from protocol.envelope import envelope_dict
from protocol.ids import new_id
from protocol.pricing import TaxMode, TaxRounding
from protocol.simulate import Item, SealingTill, split_tender_sale

TILLBOX = str(Path(sys.executable).parent / "tillbox")


class DemoError(RuntimeError):
    """Something the demo needs is not there; the message says what."""


def http_call(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    """One JSON request to the appliance on 127.0.0.1:`port`; the decoded answer, or DemoError."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        answer = conn.getresponse()
        data = answer.read()
    except OSError as exc:
        raise DemoError(f"{method} {path}: {exc}") from None
    finally:
        conn.close()
    if answer.status >= 400:
        raise DemoError(f"{method} {path}: {answer.status} {data[:300]!r}")
    return json.loads(data) if data else None


def ensure_database(dsn: str) -> None:
    """Create the DSN's database if it does not exist (connecting to `postgres` to do so)."""
    name = str(psycopg.conninfo.conninfo_to_dict(dsn).get("dbname") or "")
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if not name or f'"{name}" does not exist' not in str(exc):
            raise DemoError(f"PostgreSQL at {dsn!r}: {str(exc).strip()}") from None
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))


@dataclass
class LiveTill:
    """A register that sells over HTTP as the cashier app does: its own origin and chain."""

    port: int
    store: str
    device: str
    chain: SealingTill | None = None
    token: str = ""
    staff: str = ""
    shift: str = ""
    receipts: int = 0
    products: list[tuple[str, int, int]] = field(default_factory=list)
    tax: tuple[TaxMode, TaxRounding] = (TaxMode.INCLUSIVE, TaxRounding.LINE)
    sold: int = 0

    def call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        return http_call(self.port, method, f"/api/v1{path}", token, body)

    def start(self) -> None:
        """Log the demo cashier in, learn prices and tax, and open a shift."""
        register = self.call("GET", "/registers/current", self.device)
        self.chain = SealingTill(store=self.store, origin=register["id"])
        staff = self.call("GET", "/staff", self.device)["staff"]
        pins = {m.name: m.pin for m in DEMO_STAFF if m.role == "cashier"}
        cashier = next((s for s in staff if s["name"] in pins), None)
        if cashier is None:
            raise DemoError(f"store {self.store} is not a demo store (no demo cashier)")
        session = self.call(
            "POST", "/sessions", self.device, {"staff": cashier["id"], "pin": pins[cashier["name"]]}
        )
        self.token, self.staff = session["token"], cashier["id"]
        store = self.call("GET", "/store", self.device)
        rates = {r["tax_class"]: r["rate_ppm"] for r in store["tax_rates"]}
        self.tax = (TaxMode(store["tax_mode"]), TaxRounding(store["tax_rounding"]))
        changes = self.call("GET", "/catalog/changes?since=0&limit=5000", self.device)["changes"]
        self.products = [
            (c["id"], c["data"]["price"], rates[c["data"]["tax_class"]])
            for c in changes
            if c["kind"] == "variant" and c["data"].get("price") and c["data"].get("active", True)
        ][:300]
        if not self.products:
            raise DemoError(f"store {self.store} has nothing to sell")
        self.shift = new_id()
        float_ = {"counts": {"1000": 10}, "total": 10000}
        self.push("shift.opened", {"shift": self.shift, "float": float_})

    def push(self, type: str, body: dict[str, Any]) -> None:
        assert self.chain is not None
        envelope = self.chain.seal(type, body, actor=self.staff)
        self.call("POST", "/events", self.token, {"events": [envelope_dict(envelope)]})

    def sell(self, rng: random.Random) -> None:
        """One sale of one to three items, paid part cash, part card."""
        assert self.chain is not None
        self.receipts += 1
        items = [
            Item(variant=uid, qty=rng.randint(1, 2), unit_price=price, tax_rate_ppm=rate)
            for uid, price, rate in rng.sample(self.products, rng.randint(1, 3))
        ]
        body = split_tender_sale(
            items,
            receipt=f"{self.chain.origin}-{self.receipts:06d}",
            shift=self.shift,
            mode=self.tax[0],
            rounding=self.tax[1],
            card_reference="DEMO",
        )
        self.push("sale.completed", body)
        self.sold += 1


@dataclass
class DemoStore:
    """One demo store appliance: its data directory, its server process and its live till."""

    store: str
    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    till: LiveTill | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def journal_head(self) -> int:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.data / 'tillbox.sqlite3'}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COALESCE(MAX(store_seq), 0) FROM event").fetchone()[0])
        finally:
            conn.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    dsn: str
    broker: BrokerSettings
    data: Path
    stores: tuple[str, ...] = ("d01", "d02")
    base_port: int = 8081
    sale_every_s: float = 2.0
    seconds: float | None = None
    report_every_s: float = 2.0
    # HQ's web pages on 127.0.0.1 (0: any free port).
    hq_port: int = 8090
    hq_admin: str = "demo-admin"


@dataclass(slots=True, kw_only=True)
class DemoHq:
    """HQ's pages served by waitress on a background thread, and who can sign in."""

    server: Any
    thread: threading.Thread
    username: str
    password: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/hq/"

    def stop(self) -> None:
        """Close the server on its own loop thread (as appliance.server does) and wait."""
        from waitress import wasyncore

        server = self.server

        def shut_down() -> None:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)

        server.trigger.pull_trigger(shut_down)
        self.thread.join(timeout=10)


class OutboxMailer:
    """The demo's mail server: each receipt email becomes an .eml file in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, email: Email) -> None:
        message = email_message(email)
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{_outbox_name(email.to)}.eml").open("xb") as out:
            out.write(message.as_bytes())


class OutboxSms:
    """The demo's SMS gateway: each texted receipt becomes a .txt file in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{_outbox_name(to)}.txt").open("x", encoding="utf-8") as out:
            out.write(f"To: {to}\n\n{body}\n")


def _outbox_name(to: str) -> str:
    # A random part, not an id's prefix: ids made in the same moment share their first digits.
    unique = secrets.token_hex(6)
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{unique}-{re.sub(r'[^A-Za-z0-9@.+-]', '_', to)}"


def email_message(email: Email) -> EmailMessage:
    """The receipt as a MIME message: text and HTML alternatives and the receipt picture."""
    message = EmailMessage()
    message["To"] = email.to
    message["From"] = "receipts@demo.invalid"
    message["Subject"] = email.subject
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    if email.image:
        message.add_attachment(email.image, maintype="image", subtype="png", filename="receipt.png")
    return message


def demo_admin(dsn: str, username: str) -> str:
    """Make sure the demo HQ admin exists and give it a new password, which is returned."""
    password = secrets.token_urlsafe(12)
    passwords = accounts.Passwords()
    with connect(dsn) as conn:
        found = conn.execute("SELECT id FROM hq_user WHERE username = %s", (username,)).fetchone()
        if found is None:
            accounts.add_user(
                conn,
                passwords,
                username=username,
                name="Demo HQ admin",
                role="admin",
                password=password,
                stores=[],
                by=None,
                address="demo",
            )
        else:
            accounts.set_active(conn, found[0], active=True, by=None, address="demo")
            accounts.set_password(
                conn, passwords, found[0], password=password, by=None, address="demo"
            )
    return password


def start_hq(options: DemoOptions) -> DemoHq:
    """HQ's pages on 127.0.0.1:options.hq_port with the demo admin; DemoError if taken."""
    from waitress.server import create_server

    password = demo_admin(options.dsn, options.hq_admin)
    # Plain HTTP on loopback: a Secure cookie would never come back over it.
    app = create_hq_app(HqSettings(dsn=options.dsn, cookie_secure="never"))
    try:
        server = create_server(
            app, host="127.0.0.1", port=options.hq_port, threads=4, ident="tillbox-hq"
        )
    except OSError as exc:
        raise DemoError(f"HQ cannot listen on 127.0.0.1:{options.hq_port}: {exc}") from None
    thread = threading.Thread(target=server.run, name="demo-hq", daemon=True)
    thread.start()
    return DemoHq(server=server, thread=thread, username=options.hq_admin, password=password)


def _run(args: list[str], env: dict[str, str]) -> str:
    # Only ever this venv's own `tillbox` with fixed arguments.
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise DemoError(f"{' '.join(args[1:4])}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _store_env(store: DemoStore, broker: BrokerSettings) -> dict[str, str]:
    return {
        **os.environ,
        "TILLBOX_DATA": str(store.data),
        "TILLBOX_MQTT_HOST": broker.host,
        "TILLBOX_MQTT_PORT": str(broker.port),
        "TILLBOX_MQTT_TLS": "true" if broker.tls else "false",
        "TILLBOX_SYNC_HEARTBEAT_MS": "5000",
    }


def _serve_log(store: DemoStore) -> Path:
    return store.data / "demo-serve.log"


def _log_tail(store: DemoStore, lines: int = 5) -> str:
    """The last lines the appliance wrote, to say why it stopped."""
    try:
        said = _serve_log(store).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(said[-lines:]) or "(nothing logged)"


def _wait_healthy(store: DemoStore, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.process is not None and store.process.poll() is not None:
            raise DemoError(
                f"store {store.store}'s appliance exited ({store.process.returncode}):"
                f" {_log_tail(store)}"
            )
        with contextlib.suppress(DemoError):
            http_call(store.port, "GET", "/api/v1/health")
            return
        time.sleep(0.2)
    raise DemoError(f"store {store.store}'s appliance did not answer on {store.base}")


def report_lines(conn: psycopg.Connection[Any], stores: list[DemoStore]) -> list[str]:
    """One line per store: what the appliance holds, what the cloud has, the day's sales."""
    lines = [
        f"{'store':<6} {'appliance':>9} {'cloud':>7} {'behind':>6} {'sales in cloud':>14}"
        f" {'takings':>11} {'on-hand rows':>12}  status"
    ]
    for store in stores:
        head = store.journal_head()
        row = conn.execute(
            "SELECT (SELECT applied_through FROM store_cursor WHERE store = %(s)s),"
            " (SELECT count(DISTINCT event) FROM sale_fact WHERE store = %(s)s AND kind = 'sale'),"
            " (SELECT COALESCE(sum(net + tax), 0) FROM sale_fact WHERE store = %(s)s),"
            " (SELECT count(*) FROM on_hand WHERE store = %(s)s),"
            " (SELECT online FROM appliance_status WHERE store = %(s)s)",
            {"s": store.store},
        ).fetchone()
        assert row is not None
        cursor, sales, takings, on_hand, online = row
        cursor = int(cursor or 0)
        status = "online" if online else ("offline" if online is False else "—")
        lines.append(
            f"{store.store:<6} {head:>9} {cursor:>7} {head - cursor:>6} {int(sales):>14}"
            f" {int(takings) / 100:>11,.2f} {int(on_hand):>12}  {status}"
        )
    return lines


@contextlib.contextmanager
def running(options: DemoOptions, echo: Callable[[str], None]) -> Iterator[list[DemoStore]]:
    """Everything up (database, worker, stores, live tills); torn down on exit."""
    ensure_database(options.dsn)
    with connect(options.dsn) as conn:
        for name in migrate(conn):
            echo(f"cloud: applied migration {name}")
    worker = IngestWorker(options.dsn, options.broker, name="demo", threads=2).start()
    if not worker.wait_subscribed(15):
        worker.stop()
        raise DemoError(
            f"no MQTT broker answered at {options.broker.host}:{options.broker.port}"
            " (scripts/ensure-services.sh starts one)"
        )
    echo(f"cloud: ingest worker subscribed on {options.broker.host}:{options.broker.port}")
    outbox = options.data / "receipts-outbox"
    receipts = ReceiptWorker(
        options.dsn, mailer=OutboxMailer(outbox), sms=OutboxSms(outbox), name="demo-receipts"
    )
    receipts_thread = threading.Thread(
        target=receipts.run_forever, name="demo-receipts", daemon=True
    )
    receipts_thread.start()
    echo(f"cloud: receipts worker writing emailed and texted receipts into {outbox}/")
    hq: DemoHq | None = None
    stores = [
        DemoStore(store=s, data=options.data / s, port=options.base_port + n)
        for n, s in enumerate(options.stores)
    ]
    try:
        hq = start_hq(options)
        echo(f"cloud: HQ at {hq.url}  sign in as {hq.username}, password {hq.password}")
        with connect(options.dsn) as conn:
            for store in stores:
                conn.execute(
                    "INSERT INTO store (id, name) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                    " SET name = excluded.name WHERE store.name IS NULL",
                    (store.store, f"Demo store {store.store}"),
                )
        for store in stores:
            env = _store_env(store, options.broker)
            if not (store.data / "tillbox.sqlite3").exists():
                echo(f"store {store.store}: creating a demo store with two weeks of history…")
                _run([TILLBOX, "appliance", "init", "--store", store.store, "--demo"], env)
            device = _run(
                [TILLBOX, "appliance", "register", "add", f"Live demo {time.strftime('%H:%M:%S')}"],
                env,
            ).strip()
            with _serve_log(store).open("ab") as log:
                store.process = subprocess.Popen(  # noqa: S603 (this venv's tillbox)
                    [TILLBOX, "appliance", "serve", "--port", str(store.port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            _wait_healthy(store)
            store.till = LiveTill(port=store.port, store=store.store, device=device)
            store.till.start()
            echo(f"store {store.store}: appliance on {store.base}, a live till selling")
        yield stores
    finally:
        for store in stores:
            if store.process is not None:
                store.process.terminate()
        for store in stores:
            if store.process is not None:
                try:
                    store.process.wait(15)
                except subprocess.TimeoutExpired:
                    store.process.kill()
        if hq is not None:
            hq.stop()
        receipts.request_stop()
        receipts_thread.join(10)
        worker.stop()


def run_demo(options: DemoOptions, echo: Callable[[str], None] = print) -> list[DemoStore]:
    """Bring everything up, sell and report until Ctrl-C or `options.seconds`; the stores."""
    stop = threading.Event()
    rng = random.Random()
    with running(options, echo) as stores, connect(options.dsn) as conn:

        def sell(store: DemoStore) -> None:
            assert store.till is not None
            while not stop.wait(options.sale_every_s * rng.uniform(0.5, 1.5)):
                try:
                    store.till.sell(rng)
                except DemoError as exc:
                    echo(f"store {store.store}: a sale failed: {exc}")

        sellers = [threading.Thread(target=sell, args=(s,), daemon=True) for s in stores]
        for thread in sellers:
            thread.start()
        ends = None if options.seconds is None else time.monotonic() + options.seconds
        try:
            while ends is None or time.monotonic() < ends:
                echo("")
                for line in report_lines(conn, stores):
                    echo(line)
                time.sleep(options.report_every_s)
        except KeyboardInterrupt:
            echo("stopping…")
        finally:
            stop.set()
            for thread in sellers:
                thread.join(10)
        # Let the last sales reach the cloud before the stores stop.
        settle = time.monotonic() + 30
        while time.monotonic() < settle:
            behind = [
                s
                for s in stores
                if s.journal_head()
                != (
                    conn.execute(
                        "SELECT applied_through FROM store_cursor WHERE store = %s", (s.store,)
                    ).fetchone()
                    or (0,)
                )[0]
            ]
            if not behind:
                break
            time.sleep(0.2)
        for line in report_lines(conn, stores):
            echo(line)
    return stores
