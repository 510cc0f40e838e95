"""Transfer pull: the store's transfers as the cloud has them, asked for on its
`rpc/transfers` topic and kept in SQLite (decisions.md §55).

The store asks for its transfers changed since the change number it applied (MQTT 5
request/response, as the catalog pull does: a ResponseTopic of its own and CorrelationData,
one request in flight, asked again after a timeout that doubles). It asks on connecting,
again at once while a page ends short of the head, and every `interval_s` after that, since
the cloud announces no head for transfers (they are few; a poll is cheap and needs no second
retained topic). Each page is kept in one SQLite transaction with its change number
(`appliance.transfers.apply_page`), so a page applied twice changes nothing.

Everything here runs on the uplink's worker thread except `heard`, which only queues.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance import transfers
from appliance.runtime import Runtime
from protocol.topics import rpc_reply_topic, rpc_request_topic
from protocol.transfers import MAX_PAGE, TransfersReply, TransfersRequest

_log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, Properties], None]
NAME = "transfers"
INTERVAL_S = 30.0


@dataclass
class _Asked:
    correlation: bytes
    since: int
    deadline: float
    timeout_s: float


class TransfersPull:
    """The transfers side of the uplink: asks for pages and keeps them."""

    def __init__(self, rt: Runtime, publish: Publish, interval_s: float = INTERVAL_S) -> None:
        self.rt = rt
        self.store = rt.store
        self._publish = publish
        self._heard: queue.Queue[tuple[bytes, bytes | None]] = queue.Queue()
        self._asked: _Asked | None = None
        self.interval_s = interval_s
        self._next_poll = 0.0
        self.reply_topic = rpc_reply_topic(self.store, NAME)

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the uplink subscribes to on connect, for transfers."""
        return [(self.reply_topic, 1)]

    # ---- paho's thread ---------------------------------------------------------------------

    def heard(self, topic: str, payload: bytes, correlation: bytes | None) -> bool:
        """Queue a reply if it is one of ours; whether it was."""
        if topic != self.reply_topic:
            return False
        self._heard.put((payload, correlation))
        return True

    # ---- the uplink's worker thread ----------------------------------------------------

    def connected(self) -> None:
        """A new connection: ask now (what was asked may have died with the old one)."""
        self._next_poll = 0.0
        if self._asked is not None:
            self._asked.deadline = 0.0

    def poll_now(self) -> None:
        """Ask at the next step (a manager pressed "check now")."""
        self._next_poll = 0.0

    def drain(self) -> None:
        """Handle the replies heard."""
        while True:
            try:
                payload, correlation = self._heard.get_nowait()
            except queue.Empty:
                return
            self._on_reply(payload, correlation)

    def step(self) -> None:
        """Ask when the poll is due and nothing is asked, or what was asked had no answer."""
        now = time.monotonic()
        asked = self._asked
        if asked is None and now < self._next_poll:
            return
        if asked is not None and now < asked.deadline:
            return
        settings = self.rt.settings
        timeout_s = settings.sync_ack_timeout_ms / 1000
        if asked is not None and asked.deadline:
            timeout_s = min(asked.timeout_s * 2, settings.sync_ack_timeout_max_ms / 1000)
        since = transfers.version(self.rt)
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        request = TransfersRequest(since=since, limit=MAX_PAGE)
        self._publish(rpc_request_topic(self.store, NAME), msgspec.json.encode(request), props)
        self._asked = _Asked(
            correlation=correlation, since=since, deadline=now + timeout_s, timeout_s=timeout_s
        )

    def _on_reply(self, payload: bytes, correlation: bytes | None) -> None:
        asked = self._asked
        if asked is None or correlation != asked.correlation:
            return
        try:
            reply = msgspec.json.decode(payload, type=TransfersReply)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            _log.error("store %s: a transfers reply that is not one: %s", self.store, exc)
            transfers.record_problem(self.rt, f"the cloud's reply could not be read: {exc}")
            return
        if reply.error is not None:
            _log.error(
                "store %s: the cloud refused the transfers request: %s", self.store, reply.error
            )
            transfers.record_problem(self.rt, reply.error)
            return
        applied = transfers.apply_page(self.rt, asked.since, reply)
        if reply.transfers:
            _log.info(
                "store %s: %s transfer(s) from the cloud, now at %s of %s",
                self.store,
                len(reply.transfers),
                applied,
                reply.head,
            )
        self._asked = None
        # More to come: ask again at once; otherwise at the next poll.
        self._next_poll = 0.0 if applied < reply.head else time.monotonic() + self.interval_s
