"""The store and the rest of the chain: requests to the cloud about other stores.

Variant ids are this store's own; the SKU is the chain's key (decisions.md §43). The cloud
knows which SKU each store's ids stand for from the directory upload (`store_variant`,
decisions.md §42), so a request names the SKU and needs nothing else from this store.

Requests (`protocol.chain`) ride the uplink's MQTT connection: a request goes to
`…/rpc/chain` with the store's own reply topic and fresh CorrelationData, and the HTTP
thread that asked waits for the reply, at most `chain_rpc_timeout_ms`. Without a connected
uplink, or with no reply in time, the caller gets a 503; a reply that is not one, a 502.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.errors import ApiError, Unavailable
from appliance.runtime import Runtime
from protocol.chain import ChainReply, ChainRequest, ErrorReply, encode, parse_reply
from protocol.topics import rpc_reply_topic, rpc_request_topic

# publish(topic, payload, properties): the uplink's MQTT client.
Publish = Callable[[str, bytes, Properties], None]

_log = logging.getLogger(__name__)


class BadCloudReply(ApiError):
    """The cloud answered with something that is not an answer (a bug or a version skew)."""

    status: ClassVar[int] = 502
    code: ClassVar[str] = "bad_cloud_reply"


class CloudError(ApiError):
    """The cloud answered that it could not answer (its ErrorReply)."""

    status: ClassVar[int] = 502
    code: ClassVar[str] = "cloud_error"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Pending:
    __slots__ = ("done", "payload")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.payload: bytes | None = None


class ChainRpc:
    """Requests to the cloud over the uplink's connection, each answered by its correlation."""

    def __init__(self, store: str, publish: Publish, timeout_ms: int) -> None:
        self.store = store
        self._publish = publish
        self.timeout_s = timeout_ms / 1000
        self.reply_topic = rpc_reply_topic(store, "chain")
        self._lock = threading.Lock()
        self._pending: dict[bytes, _Pending] = {}
        self._connected = False
        # For the sync status: when the cloud last answered, and the last failure.
        self.answered_ms: int | None = None
        self.failure: str | None = None
        self.failure_ms: int | None = None

    def state(self) -> ChainState:
        """When the cloud last answered, and the last failure (code and time)."""
        with self._lock:
            return ChainState(
                answered_ms=self.answered_ms, failure=self.failure, failure_ms=self.failure_ms
            )

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the uplink subscribes to on connect, for chain replies."""
        return [(self.reply_topic, 1)]

    def set_connected(self, value: bool) -> None:
        """The uplink's connection came up or went down."""
        with self._lock:
            self._connected = value
            if not value:
                # Nobody will answer what was asked on the old connection: fail it now.
                for pending in self._pending.values():
                    pending.done.set()

    # ---- paho's thread ---------------------------------------------------------------------

    def heard(self, topic: str, payload: bytes, correlation: bytes | None) -> bool:
        """Hand a reply to the request waiting for it; whether the message was a chain reply."""
        if topic != self.reply_topic:
            return False
        with self._lock:
            pending = self._pending.get(correlation or b"")
        if pending is None:
            # Late: its caller gave up. Nothing to do.
            _log.debug("store %s: a chain reply nobody waits for", self.store)
            return True
        pending.payload = payload
        pending.done.set()
        return True

    # ---- any thread --------------------------------------------------------------------------

    def call(self, request: ChainRequest) -> ChainReply:
        """`ask`, remembering how it went for the sync status."""
        try:
            reply = self.ask(request)
        except ApiError as exc:
            with self._lock:
                self.failure, self.failure_ms = exc.code, _now_ms()
            raise
        with self._lock:
            self.answered_ms = _now_ms()
        return reply

    def ask(self, request: ChainRequest) -> ChainReply:
        """Ask the cloud and wait for its reply. Unavailable (503) when not connected or
        when no reply comes in time; BadCloudReply (502) for a reply that is not one;
        CloudError (502) when the cloud says it could not answer."""
        correlation = uuid.uuid4().bytes
        pending = _Pending()
        with self._lock:
            if not self._connected:
                raise Unavailable(
                    "the cloud cannot be reached from this store right now",
                    code="cloud_offline",
                    details={"retry_after_s": 30},
                )
            self._pending[correlation] = pending
        try:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = self.reply_topic
            props.CorrelationData = correlation
            self._publish(rpc_request_topic(self.store, "chain"), encode(request), props)
            answered = pending.done.wait(self.timeout_s)
        finally:
            with self._lock:
                self._pending.pop(correlation, None)
        if pending.payload is None and answered:
            # Woken by the connection going down (set_connected(False)), not by a reply.
            raise Unavailable(
                "the connection to the cloud was lost while asking",
                code="cloud_offline",
                details={"retry_after_s": 30},
            )
        if not answered or pending.payload is None:
            _log.warning("store %s: no answer from the cloud to %r", self.store, request)
            raise Unavailable(
                "the cloud did not answer in time",
                code="cloud_timeout",
                details={"retry_after_s": 5},
            )
        try:
            reply = parse_reply(pending.payload)
        except ValueError as exc:
            _log.error("store %s: the cloud's chain reply is not one: %s", self.store, exc)
            raise BadCloudReply(f"the cloud's answer could not be read: {exc}") from None
        if isinstance(reply, ErrorReply):
            raise CloudError(
                reply.message,
                code=reply.error,
                details=None if reply.available is None else {"available": reply.available},
            )
        return reply


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainState:
    """For the sync status: how the uplink's last question to the cloud went."""

    answered_ms: int | None
    failure: str | None
    failure_ms: int | None


def chain_state(rt: Runtime) -> ChainState:
    """When the cloud last answered this process's uplink, and its last failure."""
    rpc = rt.link.rpc
    if rpc is None:
        return ChainState(answered_ms=None, failure=None, failure_ms=None)
    return rpc.state()


def call_cloud(rt: Runtime, request: ChainRequest) -> ChainReply:
    """Ask the cloud through this process's uplink (503 when there is none)."""
    rpc = rt.link.rpc
    if rpc is None:
        raise Unavailable(
            "this store is not connected to a cloud", code="cloud_offline", details=None
        )
    return rpc.call(request)
