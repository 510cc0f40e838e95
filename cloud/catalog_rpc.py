"""`tillbox cloud catalog serve`: the catalog served to the stores over MQTT 5.

- **Head.** `tillbox/v1/catalog/head` carries the catalog version `{"version": n}`, retained,
  published at start and after every catalog change (PostgreSQL tells this process with a
  NOTIFY from the change_seq trigger; a check every `poll_s` catches one missed meanwhile).
- **Changes.** A store asks on `tillbox/v1/stores/{store}/rpc/catalog` with `{"since": n,
  "limit": l}`, its own `…/rpc/catalog/reply` as ResponseTopic, and CorrelationData.
  Responders share `$share/catalog/…`, so any number of them split the requests. The reply
  (`protocol.catalog.ChangesReply`) goes to that response topic with the same
  CorrelationData. A request that is not one, or that asks for a reply elsewhere than the
  asking store's own reply topic, is logged and dropped: the store asks again after its
  timeout.

paho's thread only queues; one thread answers requests, another watches the head.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.catalog import changes_since, head_version
from cloud.migrate import connect
from cloud.worker import BrokerSettings
from protocol.catalog import Head, parse_request
from protocol.topics import PREFIX, catalog_head_topic, catalog_reply_topic

_log = logging.getLogger(__name__)

GROUP = "catalog"
REQUEST_FILTER = f"{PREFIX}/stores/+/rpc/catalog"
NOTIFY_CHANNEL = "tillbox_catalog"
RETRY_MIN_S, RETRY_MAX_S = 0.5, 30.0


def requesting_store(topic: str) -> str | None:
    """The store of `tillbox/v1/stores/{store}/rpc/catalog`, or None."""
    parts = topic.split("/")
    if (
        len(parts) != 6
        or "/".join(parts[:3]) != f"{PREFIX}/stores"
        or parts[4:]
        != [
            "rpc",
            "catalog",
        ]
    ):
        return None
    return parts[3] or None


@dataclass(frozen=True, slots=True)
class _Request:
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


class CatalogResponder:
    """One MQTT connection on the shared request subscription, and the retained head."""

    def __init__(
        self,
        dsn: str,
        broker: BrokerSettings,
        *,
        name: str | None = None,
        group: str = GROUP,
        poll_s: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.broker = broker
        self.name = name or f"{socket.gethostname()}-{threading.get_native_id()}"
        self.group = group
        self.poll_s = poll_s
        self.answered = 0
        self.dropped = 0
        self.published_head: int | None = None
        self._inbox: queue.Queue[_Request | None] = queue.Queue()
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._head_due = threading.Event()
        self._threads: list[threading.Thread] = []
        self.client = self._make_client()

    # ---- MQTT: paho's thread only queues ------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = self.broker.client(f"tillbox-catalog-{self.name}")
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
            _log.warning("catalog %s: the broker refused the connection: %s", self.name, reason)
            return
        client.subscribe(f"$share/{self.group}/{REQUEST_FILTER}", qos=1)
        # Published again on each connect: cheap, and right even if the broker lost it.
        self._head_due.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any
    ) -> None:
        if any(code.is_failure for code in codes):
            _log.error("catalog %s: subscription refused: %s", self.name, codes)
            return
        self._subscribed.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._subscribed.clear()
        if not self._stopping.is_set():
            _log.warning("catalog %s: disconnected from the broker (%s)", self.name, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        response = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._inbox.put(_Request(message.topic, bytes(message.payload), response, correlation))

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> CatalogResponder:
        """Connect in the background and start both threads; returns at once."""
        for target, label in ((self._answer_loop, "answer"), (self._head_loop, "head")):
            thread = threading.Thread(target=target, name=f"catalog-{label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.broker.keepalive_s,
            clean_start=True,
        )
        self.client.loop_start()
        return self

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """Whether the request subscription is in place within `timeout` seconds."""
        return self._subscribed.wait(timeout)

    def request_stop(self) -> None:
        """Ask `run_forever` to stop (safe from a signal handler)."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads and disconnect."""
        self._stopping.set()
        self._inbox.put(None)
        self._head_due.set()
        for thread in self._threads:
            thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def run_forever(self) -> None:
        """Start, and stop after `request_stop()`."""
        self.start()
        self._stopping.wait()
        self.stop()

    # ---- answering ------------------------------------------------------------------------

    def _answer_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                request = self._inbox.get()
                if request is None:
                    return
                conn = self._answer(conn, request)
        finally:
            if conn is not None:
                conn.close()

    def _answer(
        self, conn: psycopg.Connection[Any] | None, request: _Request
    ) -> psycopg.Connection[Any] | None:
        store = requesting_store(request.topic)
        asked = parse_request(request.payload)
        reply_to = request.response_topic
        # Only to the asking store's own reply topic: the one it may read, and the only one
        # the broker lets responders write (provisioning/mosquitto/tillbox.acl).
        if store is None or asked is None or reply_to != catalog_reply_topic(store):
            self.dropped += 1
            _log.warning(
                "catalog %s: dropped a request on %s (reply to %r): %.200r",
                self.name,
                request.topic,
                reply_to,
                request.payload,
            )
            return conn
        try:
            if conn is None or conn.closed:
                conn = connect(self.dsn)
            page = changes_since(conn, asked.since, asked.limit, store)
        except psycopg.OperationalError as exc:
            # No answer: the store asks again after its timeout, by when PostgreSQL may be back.
            _log.warning("catalog %s: PostgreSQL unavailable (%s)", self.name, exc)
            if conn is not None:
                conn.close()
            return None
        except Exception:
            # A bug, not bad input: this request goes unanswered (the store asks again), and
            # the thread lives on for the next one.
            _log.exception("catalog %s: could not answer store %s", self.name, store)
            if conn is not None:
                conn.close()
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if request.correlation is not None:
            props.CorrelationData = request.correlation
        self.client.publish(reply_to, msgspec.json.encode(page), qos=1, properties=props)
        self.answered += 1
        _log.debug(
            "catalog %s: store %s since %s: %s changes, next %s, head %s",
            self.name,
            store,
            asked.since,
            len(page.changes),
            page.next,
            page.head,
        )
        return conn

    # ---- the head -------------------------------------------------------------------------

    def _head_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        delay = RETRY_MIN_S
        while not self._stopping.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(self.dsn)
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._head_due.set()
                version = head_version(conn)
                if version != self.published_head or self._head_due.is_set():
                    self._head_due.clear()
                    self._publish_head(version)
                delay = RETRY_MIN_S
                # Wakes on the trigger's NOTIFY, or after poll_s to check anyway.
                for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                    pass
            except Exception as exc:
                # PostgreSQL away (or a bug): the head is published late, never not at all.
                _log.warning(
                    "catalog %s: cannot read the catalog head (%s); retrying in %.1f s",
                    self.name,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    delay,
                )
                if conn is not None:
                    conn.close()
                conn = None
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        if conn is not None:
            conn.close()

    def _publish_head(self, version: int) -> None:
        self.client.publish(
            catalog_head_topic(), msgspec.json.encode(Head(version=version)), qos=1, retain=True
        )
        self.published_head = version
        _log.info("catalog %s: head %s", self.name, version)
