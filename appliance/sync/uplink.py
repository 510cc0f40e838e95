"""The uplink: the journal sent to the cloud over MQTT 5, one batch in flight, until acked.

The journal is the outbox (decisions.md §29). The uplink reads the events after the cloud's
cursor (`cloud_cursor.applied_through`) in `store_seq` order, publishes them as one batch
`{"from", "to", "events"}` (QoS 1) and waits for the cloud's application ack on the store's
acks topic: `{"applied_through": n}` is written to SQLite and the next batch goes;
`{"expected": n}` rewinds to n. A PUBACK means only that the broker has the batch, so with no
application ack within a timeout (doubling up to a maximum) the same batch is sent again;
the cloud applies a batch once however often it arrives.

paho's network loop runs in its own thread and only queues what it hears; one worker thread
owns the state (what is in flight, the timers) and does all SQLite work, so no lock is needed.
The catalog down-sync (`appliance.sync.catalog_pull`) rides the same connection and worker,
and the store's questions to the cloud (`appliance.sync.chain`) ride the connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance import __version__
from appliance.db import Database
from appliance.devices.printers import printer_summary
from appliance.runtime import Runtime
from appliance.sync.catalog_pull import CatalogPull
from appliance.sync.chain import ChainRpc
from appliance.sync.directory import DirectoryPush
from appliance.sync.mqtt import MqttSettingsError, make_client
from appliance.sync.staff_pull import StaffPull
from appliance.sync.status import sync_state
from appliance.sync.transfers_pull import TransfersPull
from protocol.canonical import canonical_json
from protocol.topics import acks_topic, events_topic, status_topic

_log = logging.getLogger(__name__)

OFFLINE = b'{"online":false}'


# The MQTT settings name a file the uplink cannot use; the message says which.
UplinkSettingsError = MqttSettingsError


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Consecutive journal events `first`..`last` (store_seq), as the bytes published."""

    first: int
    last: int
    payload: bytes
    # Cut short by the limits (the journal may hold more after it): it would read the same
    # whenever it is read, the journal being append-only.
    full: bool = False

    @property
    def count(self) -> int:
        """How many events the batch carries."""
        return self.last - self.first + 1


def read_batch(
    db: Database, first: int, *, max_events: int, max_bytes: int, appliance: str | None = None
) -> Batch | None:
    """The events from store_seq `first` on, at most `max_events` and `max_bytes` of payload
    (an event bigger than that alone still goes, alone), or None when there are none.

    `appliance` is a replacement appliance's origin (s01-ap2), sent as the batch's `ap`: the
    cloud takes batches only from the store's current appliance (decisions.md §42).
    `cloud_sends` lists the batch's receipt requests that were queued for the cloud to send
    (decisions.md §48); a batch with none has no such key."""
    rows = db.query(
        "SELECT e.store_seq, e.id, e.envelope, m.event IS NOT NULL AS cloud_sends FROM event e"
        " LEFT JOIN receipt_message m ON m.event = e.id AND m.sender = 'cloud'"
        " WHERE e.store_seq >= ? ORDER BY e.store_seq LIMIT ?",
        (first, max_events),
    )
    parts: list[bytes] = []
    cloud_sends: list[str] = []
    # The frame, {"ap":…,"cloud_sends":[…],"events":[],"from":…,"to":…}, keys in canonical
    # order; the ids of what the cloud sends count towards the size like the events.
    head = b"{" if appliance is None else b'{"ap":' + canonical_json(appliance) + b","
    size = 60 + len(head)
    for row in rows:
        # Stored as plain JSON; sent in the canonical form the hash is computed over.
        part = canonical_json(msgspec.json.decode(row["envelope"]))
        extra = 39 if row["cloud_sends"] else 0
        if parts and size + len(part) + 1 + extra > max_bytes:
            break
        parts.append(part)
        size += len(part) + 1 + extra
        if row["cloud_sends"]:
            cloud_sends.append(row["id"])
    if not parts:
        return None
    last = first + len(parts) - 1
    if int(rows[len(parts) - 1]["store_seq"]) != last:
        raise RuntimeError(f"the journal has a gap in store_seq after {first}")
    if cloud_sends:
        head += b'"cloud_sends":' + canonical_json(cloud_sends) + b","
    payload = head + b'"events":[' + b",".join(parts) + b'],"from":%d,"to":%d}' % (first, last)
    full = len(parts) < len(rows) or len(rows) == max_events
    return Batch(first=first, last=last, payload=payload, full=full)


def parse_ack(payload: bytes) -> tuple[str, int] | None:
    """`("applied_through", n)` or `("expected", n)`, or None for anything else."""
    try:
        ack = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(ack, dict) or len(ack) != 1:
        return None
    ((kind, value),) = ack.items()
    if kind not in ("applied_through", "expected"):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    if kind == "expected" and value < 1:
        return None
    return kind, value


def read_cursor(db: Database) -> int:
    """Through which store_seq the cloud has applied the journal."""
    return int(db.scalar("SELECT applied_through FROM cloud_cursor WHERE id = 1"))


def write_cursor(db: Database, applied_through: int, ack_ms: int) -> None:
    """Record the cloud's cursor, when it was heard, and per origin the highest seq it now
    covers, durably and in one transaction."""
    with db.write():
        before = read_cursor(db)
        db.execute(
            "UPDATE cloud_cursor SET applied_through = ?, last_ack_ms = ? WHERE id = 1",
            (applied_through, ack_ms),
        )
        if applied_through > before:
            # Only the newly applied events: a batch's worth of store_seq's index range.
            db.execute(
                "INSERT INTO cloud_origin (origin, seq)"
                " SELECT origin, MAX(seq) FROM event WHERE store_seq > ? AND store_seq <= ?"
                " GROUP BY origin"
                " ON CONFLICT (origin) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (before, applied_through),
            )
        elif applied_through < before:
            # The cloud went back (decisions.md §36): rare, so recounted from the journal.
            db.execute("DELETE FROM cloud_origin")
            db.execute(
                "INSERT INTO cloud_origin (origin, seq)"
                " SELECT origin, MAX(seq) FROM event WHERE store_seq <= ? GROUP BY origin",
                (applied_through,),
            )


def head(db: Database) -> int:
    """The highest store_seq in the journal."""
    return int(db.scalar("SELECT COALESCE(MAX(store_seq), 0) FROM event"))


@dataclass
class _InFlight:
    batch: Batch
    deadline: float
    timeout_s: float


class Uplink:
    """The store's one MQTT connection to the cloud, and the worker that drives the outbox."""

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        if not settings.mqtt_host:
            raise ValueError("no cloud is configured (mqtt_host is empty)")
        self.rt = rt
        self.settings = settings
        self.store = rt.store
        # A replacement appliance names itself in its batches (decisions.md §42).
        self._appliance = rt.origin if settings.appliance_generation > 1 else None
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._connected = False
        self._in_flight: _InFlight | None = None
        self._ahead: Batch | None = None
        self._next = 0
        self._applied = 0
        self._next_heartbeat = 0.0
        self.client = self._make_client()
        # The catalog down-sync shares this connection and this worker thread.
        self.catalog = CatalogPull(rt, self._publish_request)
        # So does the directory upload (staff, registers, variant ids: decisions.md §42).
        self.directory = DirectoryPush(rt, self._publish_request)
        # And the store's transfers, pulled (decisions.md §55).
        self.transfers = TransfersPull(rt, self._publish_request)
        # And head office's staff changes for this store (decisions.md §57).
        self.staff = StaffPull(rt, self._publish_request)
        # Questions from the HTTP threads (other stores' stock) go out on this connection too.
        self.chain = ChainRpc(self.store, self._publish_request, settings.chain_rpc_timeout_ms)

    @property
    def client_id(self) -> str:
        """Stable per appliance, so the broker keeps its session across reconnects."""
        return f"tillbox-{self.rt.origin}"

    def _make_client(self) -> mqtt.Client:
        client = make_client(self.settings, store=self.store, client_id=self.client_id)
        # The broker publishes this if the connection drops without a DISCONNECT.
        client.will_set(status_topic(self.store), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # ---- paho's thread: only queue what was heard -------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            _log.warning("store %s: the broker refused the connection: %s", self.store, reason)
            return
        # Subscribed again on every connect: the session may have expired meanwhile.
        client.subscribe(
            [
                (acks_topic(self.store), 1),
                *self.catalog.subscriptions(),
                *self.directory.subscriptions(),
                *self.transfers.subscriptions(),
                *self.staff.subscriptions(),
                *self.chain.subscriptions(),
            ]
        )
        self._inbox.put(("connected", b""))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.chain.set_connected(False)
        self._inbox.put(("disconnected", str(reason).encode()))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        if self.chain.heard(message.topic, bytes(message.payload), correlation):
            return
        if self.catalog.heard(message.topic, bytes(message.payload), correlation):
            self._inbox.put(("catalog", b""))
            return
        if self.directory.heard(message.topic, bytes(message.payload), correlation):
            self._inbox.put(("directory", b""))
            return
        if self.transfers.heard(message.topic, bytes(message.payload), correlation):
            self._inbox.put(("transfers", b""))
            return
        if self.staff.heard(message.topic, bytes(message.payload), correlation):
            self._inbox.put(("staff", b""))
            return
        self._inbox.put(("ack", bytes(message.payload)))

    def _publish_request(self, topic: str, payload: bytes, props: Properties) -> None:
        self.client.publish(topic, payload, qos=1, properties=props)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start sending; returns at once."""
        s = self.settings
        self._applied = read_cursor(self.rt.db)
        self._next = self._applied + 1
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.mqtt_session_expiry_s
        self.client.connect_async(
            s.mqtt_host,
            s.mqtt_port,
            keepalive=s.mqtt_keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self.rt.link.set_rpc(self.chain)
        self._worker = threading.Thread(target=self._run, name=f"uplink-{self.store}", daemon=True)
        self._worker.start()
        _log.info(
            "store %s: uplink to %s:%s from store_seq %s",
            self.store,
            s.mqtt_host,
            s.mqtt_port,
            self._next,
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect cleanly and end both threads."""
        self._stopping.set()
        self.rt.link.set_rpc(None)
        self.chain.set_connected(False)
        if self._worker is not None:
            self._worker.join(timeout)
        if self._connected:
            info = self.client.publish(status_topic(self.store), OFFLINE, qos=1, retain=True)
            # Not sent if the connection is already gone; the broker then sends the Will.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=min(timeout, 2.0))
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()
        self.rt.link.set_connected(False)

    # ---- the worker ------------------------------------------------------------------------

    def _run(self) -> None:
        poll = self.settings.sync_poll_ms / 1000
        while not self._stopping.is_set():
            try:
                kind, payload = self._inbox.get(timeout=poll)
            except queue.Empty:
                kind, payload = "", b""
            try:
                self._handle(kind, payload)
                if self._connected:
                    self._send_due()
                    self._heartbeat_due()
                    self.catalog.step()
                    self.directory.step()
                    self.transfers.step()
                    self.staff.step()
            except Exception:
                # The loop must outlive a bad moment (a locked database, a closed socket):
                # the outbox is in SQLite, so trying again later loses nothing.
                _log.exception("store %s: uplink step failed", self.store)
                time.sleep(poll)
        self.rt.db.close()

    def _handle(self, kind: str, payload: bytes) -> None:
        if kind == "connected":
            self._connected = True
            self.rt.link.set_connected(True)
            self._next_heartbeat = 0.0
            if self._in_flight is not None:
                # Whatever was in flight may have died with the old connection.
                self._in_flight.deadline = 0.0
            self.catalog.connected()
            self.directory.connected()
            self.transfers.connected()
            self.staff.connected()
            self.chain.set_connected(True)
            _log.info("store %s: connected to the cloud", self.store)
        elif kind == "disconnected":
            self._connected = False
            self.rt.link.set_connected(False)
            _log.warning("store %s: disconnected from the cloud (%s)", self.store, payload)
        elif kind == "ack":
            self._on_ack(payload)
        elif kind == "catalog":
            self.catalog.drain()
        elif kind == "directory":
            self.directory.drain()
        elif kind == "transfers":
            self.transfers.drain()
        elif kind == "staff":
            self.staff.drain()

    def _on_ack(self, payload: bytes) -> None:
        ack = parse_ack(payload)
        if ack is None:
            _log.warning("store %s: ignored a malformed ack: %.200r", self.store, payload)
            return
        kind, n = ack
        db = self.rt.db
        newest = head(db)
        cloud_applied = n if kind == "applied_through" else n - 1
        if cloud_applied > newest:
            _log.error(
                "store %s: the cloud says it applied through store_seq %s, the journal ends at %s",
                self.store,
                cloud_applied,
                newest,
            )
            return
        if kind == "applied_through" and n < self._applied:
            # A late re-ack of a batch sent again: it says nothing new.
            _log.debug("store %s: stale ack %s (cursor %s)", self.store, n, self._applied)
            return
        write_cursor(db, cloud_applied, self.rt.now_ms())
        if cloud_applied < self._applied:
            _log.warning(
                "store %s: the cloud expects store_seq %s, rewinding from %s",
                self.store,
                n,
                self._applied + 1,
            )
        self._applied = cloud_applied
        self._next = cloud_applied + 1
        flight = self._in_flight
        if flight is not None and flight.batch.first == self._next:
            # The cloud is just before what is in flight: it may still be on its way, or the
            # cloud refused it (and answers with its cursor, decisions.md §34). Let the
            # timeout and its back-off resend it, rather than loop as fast as acks come.
            return
        self._in_flight = None

    def _send_due(self) -> None:
        now = time.monotonic()
        flight = self._in_flight
        if flight is None:
            s = self.settings
            ahead, self._ahead = self._ahead, None
            if ahead is not None and ahead.first == self._next and ahead.full:
                batch: Batch | None = ahead
            else:
                batch = read_batch(
                    self.rt.db,
                    self._next,
                    max_events=s.sync_batch_max_events,
                    max_bytes=s.sync_batch_max_bytes,
                    appliance=self._appliance,
                )
            if batch is None:
                return
            flight = _InFlight(batch=batch, deadline=0.0, timeout_s=s.sync_ack_timeout_ms / 1000)
            self._in_flight = flight
        elif now < flight.deadline:
            return
        else:
            if flight.deadline:
                _log.info(
                    "store %s: no ack for %s–%s in %.1f s, sending it again",
                    self.store,
                    flight.batch.first,
                    flight.batch.last,
                    flight.timeout_s,
                )
                flight.timeout_s = min(
                    flight.timeout_s * 2, self.settings.sync_ack_timeout_max_ms / 1000
                )
        self.client.publish(events_topic(self.store), flight.batch.payload, qos=1)
        flight.deadline = now + flight.timeout_s
        if flight.batch.full and self._ahead is None:
            # A backlog: the next batch is read while the cloud works on this one, and sent
            # as soon as the ack comes if it is full too (so it is what a read then would give).
            s = self.settings
            self._ahead = read_batch(
                self.rt.db,
                flight.batch.last + 1,
                max_events=s.sync_batch_max_events,
                max_bytes=s.sync_batch_max_bytes,
                appliance=self._appliance,
            )

    def _heartbeat_due(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.settings.sync_heartbeat_ms / 1000
        self.client.publish(status_topic(self.store), self.status_payload(), qos=1, retain=True)

    def status_payload(self) -> bytes:
        """The retained status: online, version, outbox depth, oldest unsynced age, printer,
        the catalog version applied."""
        state = sync_state(self.rt)
        oldest = state.oldest_received_ms
        return canonical_json(
            {
                "online": True,
                "version": __version__,
                "outbox_depth": state.depth,
                "oldest_unsynced_age_s": None
                if oldest is None
                else max(0, self.rt.now_ms() - oldest) // 1000,
                "printer": printer_summary(self.rt),
                # The cloud catalog version applied here, for HQ's catalog page (newer than
                # the other fields: a cloud that does not know them ignores them).
                "catalog_version": state.catalog.version,
                "catalog_applied_ms": state.catalog.applied_ms,
            }
        )
