"""`tillbox cloud ingest`: an ingest worker on the brokers' shared subscription.

Each store's batches arrive on `$share/ingest/tillbox/v1/stores/+/events`, so any number of
workers split the stores between them (ARCHITECTURE.md, "Hop 2"). For each message, in this
order:

1. `cloud.ingest.ingest_batch` applies it in one PostgreSQL transaction and commits;
2. the ack (`{"applied_through": n}` or `{"expected": n}`) is published to the store's acks
   topic;
3. only then is the MQTT message itself acknowledged (PUBACK; paho's manual ack).

A worker that dies anywhere in between loses nothing: the appliance keeps every event in its
journal until an ack says the cloud has it, and sends the batch again when no ack comes; the
cloud applies a batch once however often it arrives. While PostgreSQL is unreachable the
worker holds the message it has and tries again with a back-off, and the broker holds the
rest (at most `receive_maximum` are handed to a worker unacknowledged).

Status messages (`tillbox/v1/stores/+/status`, the appliances' heartbeats and Last Wills) go
through the same worker into `appliance_status`, for the fleet view.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.types.json import Jsonb

from cloud.ingest import ingest_batch
from cloud.migrate import connect
from protocol.canonical import canonical_json
from protocol.topics import PREFIX, acks_topic

_log = logging.getLogger(__name__)

GROUP = "ingest"
EVENTS_FILTER = f"{PREFIX}/stores/+/events"
STATUS_FILTER = f"{PREFIX}/stores/+/status"
# How long a worker waits before trying PostgreSQL again, doubling up to the maximum.
RETRY_MIN_S, RETRY_MAX_S = 0.5, 30.0
# How long a batch waits for its store's cursor lock. The holder is normally another worker
# applying the same batch (a resend), for milliseconds. One that hangs or is cut off inside
# the transaction holds it until PostgreSQL notices (for a lost host, TCP keepalive: hours),
# and without a limit every resend of that store's batch would wait on it, each taking one
# of a worker's threads, until no thread is left for any store. With it only that store
# waits: the batch is left to the appliance's resend.
LOCK_TIMEOUT_S = 2
# Test-only fault injection for tests/faults; unset (as everywhere else) it does nothing.
# "before_commit:N" or "after_commit:N": the worker SIGKILLs itself the Nth time a batch
# reaches that point, with the batch's transaction still open, or committed and not yet acked.
# With ":stop" after N it SIGSTOPs itself instead: frozen, as a hung or cut-off host is, its
# connections open.
FAULT_ENV = "TILLBOX_INGEST_FAULT"


class WorkerSettingsError(ValueError):
    """The broker settings name a file the worker cannot use; the message says which."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerSettings:
    """How an ingest worker reaches the broker."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    tls_ca: Path | None = None
    keepalive_s: int = 30

    def password(self) -> str | None:
        """The password from `password_file`, or None when there is none."""
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkerSettingsError(
                f"password file {self.password_file} cannot be read: {exc}"
            ) from None

    def client(self, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
        """A paho-mqtt MQTT 5 client set up for this broker (TLS, user, password), not yet
        connected: the one setup every cloud service uses (callbacks are the caller's)."""
        if self.tls and self.tls_ca is not None and not self.tls_ca.is_file():
            raise WorkerSettingsError(f"TLS CA {self.tls_ca} is not a file")
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        if self.tls:
            client.tls_set(
                ca_certs=str(self.tls_ca) if self.tls_ca else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        password = self.password()
        if self.username or password is not None:
            client.username_pw_set(self.username, password)
        return client


def store_of(topic: str, suffix: str) -> str | None:
    """The store segment of `tillbox/v1/stores/{store}/{suffix}`, or None."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:3]) != f"{PREFIX}/stores" or parts[4] != suffix:
        return None
    return parts[3] or None


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


class _Fault:
    """Where and when `FAULT_ENV` says this worker dies (tests only)."""

    def __init__(self, spec: str) -> None:
        point, _, rest = spec.partition(":")
        nth, _, how = rest.partition(":")
        if (
            point not in ("before_commit", "after_commit")
            or not nth.isdigit()
            or int(nth) < 1
            or how not in ("", "stop")
        ):
            raise WorkerSettingsError(
                f"{FAULT_ENV} must be before_commit:N or after_commit:N, optionally with :stop"
            )
        self.point = point
        self._signal = signal.SIGSTOP if how == "stop" else signal.SIGKILL
        self._left = int(nth)
        self._lock = threading.Lock()

    def reached(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left > 0:
                return
        _log.warning("ingest: %s says die %s; %s", FAULT_ENV, self.point, self._signal.name)
        os.kill(os.getpid(), self._signal)
        # The signal may take a moment to land (it is the process's, not this thread's): go
        # no further meanwhile, or a stop would find the batch committed.
        threading.Event().wait()


@dataclass
class Counters:
    """What a worker has done since it started (logged, and read by tests and benchmarks)."""

    batches: int = 0
    statuses: int = 0
    retries: int = 0
    busy: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


class IngestWorker:
    """One MQTT connection on the shared subscription and `threads` PostgreSQL connections."""

    def __init__(
        self,
        dsn: str,
        broker: BrokerSettings,
        *,
        name: str | None = None,
        threads: int = 1,
        group: str = GROUP,
        on_committed: Callable[[str, dict[str, int]], None] | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.dsn = dsn
        self.broker = broker
        self.name = name or f"{socket.gethostname()}-{threading.get_native_id()}"
        self.threads = threads
        self.group = group
        self.counters = Counters()
        self._on_committed = on_committed
        self._inbox: queue.Queue[_Message | None] = queue.Queue()
        self._stopping = threading.Event()
        self._pool: list[threading.Thread] = []
        self._subscribed = threading.Event()
        spec = os.environ.get(FAULT_ENV)
        self._fault = _Fault(spec) if spec else None
        self.client = self._make_client()

    # ---- MQTT: paho's thread only queues ------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = self.broker.client(f"tillbox-ingest-{self.name}", manual_ack=True)
        client.enable_logger(_log)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            _log.warning("ingest %s: the broker refused the connection: %s", self.name, reason)
            return
        _log.info("ingest %s: connected, subscribing to the shared subscription", self.name)
        # A clean session: what this worker had not acknowledged goes to the group's others,
        # and a batch the broker dropped is sent again by its appliance.
        client.subscribe(
            [
                (f"$share/{self.group}/{EVENTS_FILTER}", 1),
                (f"$share/{self.group}/{STATUS_FILTER}", 1),
            ]
        )

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any
    ) -> None:
        failed = [code for code in codes if code.is_failure]
        if failed:
            _log.error("ingest %s: subscription refused: %s", self.name, failed)
            return
        self._subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._subscribed.clear()
        if not self._stopping.is_set():
            _log.warning("ingest %s: disconnected from the broker (%s)", self.name, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Message(message.topic, bytes(message.payload), message.mid, message.qos))

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> IngestWorker:
        """Start the processing threads and connect in the background; returns at once."""
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"ingest-{n}", daemon=True)
            thread.start()
            self._pool.append(thread)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # Hand this worker no more unacknowledged messages than it can be working on.
        props.ReceiveMaximum = max(2, self.threads * 2)
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.broker.keepalive_s,
            clean_start=True,
            properties=props,
        )
        self.client.loop_start()
        return self

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Whether the shared subscription is in place within `timeout` seconds."""
        return self._subscribed.wait(timeout)

    def request_stop(self) -> None:
        """Ask `run_forever` to stop (safe from a signal handler)."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the messages in hand, then disconnect; the rest go to the group's others."""
        self._stopping.set()
        for _ in self._pool:
            self._inbox.put(None)
        for thread in self._pool:
            thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def run_forever(self, report_every_s: float = 60.0) -> None:
        """Start, log what was done every `report_every_s`, and stop after `request_stop()`."""
        self.start()
        while not self._stopping.wait(report_every_s):
            c = self.counters
            _log.info(
                "ingest %s: %s batches, %s statuses, %s retries, %s busy, %s errors",
                self.name,
                c.batches,
                c.statuses,
                c.retries,
                c.busy,
                c.errors,
            )
        self.stop()

    # ---- processing -----------------------------------------------------------------------

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                message = self._inbox.get()
                if message is None:
                    return
                conn = self._handle(conn, message)
        finally:
            if conn is not None:
                conn.close()

    def _handle(
        self, conn: psycopg.Connection[Any] | None, message: _Message
    ) -> psycopg.Connection[Any] | None:
        """Apply one message, retrying while PostgreSQL is away; then ack it on MQTT."""
        delay = RETRY_MIN_S
        while True:
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                self._apply(conn, message)
                break
            except psycopg.errors.LockNotAvailable:
                # Another session has held the store's cursor for LOCK_TIMEOUT_S: nothing was
                # committed and no ack goes, so the appliance sends the batch again later.
                self.counters.add("busy")
                _log.warning(
                    "ingest %s: %s's cursor is locked by another session; left to its resend",
                    self.name,
                    message.topic,
                )
                if conn is not None:
                    conn.close()
                conn = None
                break
            except psycopg.OperationalError as exc:
                # The database is unreachable or restarting: nothing was committed, so the
                # same message is tried again on a fresh connection.
                self.counters.add("retries")
                _log.warning(
                    "ingest %s: PostgreSQL unavailable (%s); retrying in %.1f s",
                    self.name,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    delay,
                )
                if conn is not None:
                    conn.close()
                conn = None
                if self._stopping.wait(delay):
                    # Stopping with the message unapplied: not acknowledged, so the broker
                    # hands it to another worker or the appliance sends it again.
                    return conn
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:
                # A bug, not bad input (ingest_batch dead-letters bad input itself). Nothing
                # was committed and no ack goes to the store, so its appliance sends the batch
                # again after its timeout; the MQTT message is still acknowledged below, or it
                # would hold one of this worker's receive slots for good.
                self.counters.add("errors")
                _log.exception(
                    "ingest %s: could not apply a message on %s", self.name, message.topic
                )
                if conn is not None:
                    conn.close()
                conn = None
                break
        self.client.ack(message.mid, message.qos)
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        conn = connect(self.dsn)
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{LOCK_TIMEOUT_S}s",))
        return conn

    def _apply(self, conn: psycopg.Connection[Any], message: _Message) -> None:
        store = store_of(message.topic, "events")
        if store is not None:
            ack = self._ingest(conn, store, message)
            # Committed: now the ack may go. QoS 1; if it is lost, the appliance resends the
            # batch and is re-acked from the cursor.
            self.client.publish(acks_topic(store), canonical_json(ack), qos=1)
            self.counters.add("batches")
            if self._on_committed is not None:
                self._on_committed(store, ack)
            return
        store = store_of(message.topic, "status")
        if store is not None:
            record_status(conn, store, message.payload)
            self.counters.add("statuses")
            return
        _log.warning("ingest %s: ignored a message on %s", self.name, message.topic)

    def _ingest(
        self, conn: psycopg.Connection[Any], store: str, message: _Message
    ) -> dict[str, int]:
        fault = self._fault
        if fault is None or fault.point == "after_commit":
            ack = ingest_batch(conn, store, message.payload, topic=message.topic)
            if fault is not None:
                fault.reached()
            return ack
        # before_commit: the batch's transaction becomes a savepoint of this one, so the kill
        # leaves it open, holding the store's cursor lock.
        with conn.transaction():
            ack = ingest_batch(conn, store, message.payload, topic=message.topic)
            fault.reached()
        return ack


class _Status(msgspec.Struct, forbid_unknown_fields=False):
    online: bool
    version: str | None = None
    outbox_depth: int | None = None
    oldest_unsynced_age_s: int | None = None
    printer: Any = None
    # Newer appliances say which cloud catalog version they run (HQ's catalog page).
    catalog_version: int | None = None
    catalog_applied_ms: int | None = None


def record_status(conn: psycopg.Connection[Any], store: str, payload: bytes) -> None:
    """Keep an appliance's latest status; a payload that is not one is dead-lettered."""
    try:
        status = msgspec.json.decode(payload, type=_Status)
        raw = msgspec.json.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        with conn.transaction():
            conn.execute(
                "INSERT INTO dead_letter (topic, store, raw, reason) VALUES (%s, %s, %s, %s)",
                (f"{PREFIX}/stores/{store}/status", store, payload, f"not a status: {exc}"),
            )
        _log.warning("ingest: dead letter on %s's status topic: %s", store, exc)
        return
    with conn.transaction():
        conn.execute(
            "INSERT INTO appliance_status (store, online, version, outbox_depth,"
            " oldest_unsynced_age_s, printer, raw, received_at, last_online_at,"
            " catalog_version, catalog_applied_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now(), CASE WHEN %s THEN now() END, %s, %s)"
            " ON CONFLICT (store) DO UPDATE SET online = excluded.online,"
            " version = COALESCE(excluded.version, appliance_status.version),"
            " outbox_depth = COALESCE(excluded.outbox_depth, appliance_status.outbox_depth),"
            " oldest_unsynced_age_s = CASE WHEN excluded.online"
            "   THEN excluded.oldest_unsynced_age_s ELSE appliance_status.oldest_unsynced_age_s END,"
            " printer = COALESCE(excluded.printer, appliance_status.printer),"
            " raw = excluded.raw, received_at = now(),"
            " last_online_at = COALESCE(excluded.last_online_at, appliance_status.last_online_at),"
            " catalog_version = COALESCE(excluded.catalog_version,"
            "   appliance_status.catalog_version),"
            " catalog_applied_at = COALESCE(excluded.catalog_applied_at,"
            "   appliance_status.catalog_applied_at)",
            (
                store,
                status.online,
                status.version,
                status.outbox_depth,
                status.oldest_unsynced_age_s,
                None if status.printer is None else Jsonb(status.printer),
                Jsonb(raw),
                status.online,
                status.catalog_version,
                None
                if status.catalog_applied_ms is None
                else datetime.fromtimestamp(status.catalog_applied_ms / 1000, UTC),
            ),
        )
