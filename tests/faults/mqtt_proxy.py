"""A small TCP proxy between an MQTT client and its broker that understands MQTT framing, so it
can duplicate, delay and reorder whole PUBLISH packets in either direction.

MQTT is a stream: each packet is a fixed header byte, its remaining length as a varint of 1 to
4 bytes, then that many bytes. The proxy reads whole packets and hands every one to a sender
that writes it when due. Packets other than PUBLISH (CONNECT, PUBACK, SUBSCRIBE, PINGREQ …)
always go at once, in order. A PUBLISH may be
- duplicated: sent twice, the copy a few milliseconds later with the DUP flag set (QoS > 0),
  as a client or broker resending it would; its packet id is the same;
- delayed: held back for a while, so whatever comes after it may overtake it;
- swapped: held until the next PUBLISH of its direction has gone, then sent right after it
  (reordering across packet ids), or after `hold_s` if none comes.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO

PUBLISH = 3
DUP_FLAG = 0x08


@dataclass(frozen=True, slots=True)
class Chaos:
    """What happens to the PUBLISH packets of one direction (probabilities per packet)."""

    duplicate: float = 0.0
    delay: float = 0.0
    swap: float = 0.0
    delay_s: tuple[float, float] = (0.05, 0.5)
    hold_s: float = 1.0


def read_packet(stream: BinaryIO) -> bytes | None:
    """One whole MQTT packet from the stream, or None at its end."""
    first = stream.read(1)
    if not first:
        return None
    header = bytearray(first)
    length, multiplier = 0, 1
    for _ in range(4):
        byte = stream.read(1)
        if not byte:
            return None
        header += byte
        length += (byte[0] & 0x7F) * multiplier
        if not byte[0] & 0x80:
            break
        multiplier *= 128
    else:
        raise ValueError("an MQTT remaining length is at most 4 bytes")
    body = stream.read(length) if length else b""
    if len(body) != length:
        return None
    return bytes(header) + body


def packet_type(packet: bytes) -> int:
    return packet[0] >> 4


def qos_of(packet: bytes) -> int:
    return (packet[0] >> 1) & 0x03


@dataclass
class _Pipe:
    """One direction of one connection: a reader that parses and a sender that writes."""

    name: str
    source: socket.socket
    target: socket.socket
    chaos: Chaos
    rng: random.Random
    stats: Counter[str]
    lock: threading.Lock
    closed: threading.Event
    # [when, order, publish arrival (-1 for other packets), packet, still to send]
    _heap: list[list[Any]] = field(default_factory=list)
    _ready: threading.Condition = field(default_factory=threading.Condition)
    _publishes: int = 0
    _order: int = 0
    _sent_up_to: int = -1
    _held: list[Any] | None = None

    def start(self) -> None:
        for target, role in ((self._read, "read"), (self._send, "send")):
            threading.Thread(target=target, name=f"proxy-{self.name}-{role}", daemon=True).start()

    def _schedule(self, at: float, arrival: int, packet: bytes) -> list[Any]:
        with self._ready:
            self._order += 1
            entry = [at, self._order, arrival, packet, True]
            heapq.heappush(self._heap, entry)
            self._ready.notify()
            return entry

    def _release_held(self, at: float) -> None:
        """Send the swapped packet at `at` (just after the one that overtook it)."""
        with self._ready:
            held, self._held = self._held, None
            if held is None or not held[4]:
                return
            held[4] = False
        self._schedule(at, held[2], held[3])

    def _read(self) -> None:
        stream = self.source.makefile("rb")
        try:
            while not self.closed.is_set():
                packet = read_packet(stream)
                if packet is None:
                    break
                now = time.monotonic()
                if packet_type(packet) != PUBLISH:
                    self._schedule(now, -1, packet)
                    continue
                arrival, self._publishes = self._publishes, self._publishes + 1
                roll = self.rng.random()
                pause = self.rng.uniform(*self.chaos.delay_s)
                with self.lock:
                    self.stats[f"{self.name} publish"] += 1
                chaos = self.chaos
                if roll < chaos.duplicate:
                    copy = packet
                    if qos_of(packet) > 0:
                        copy = bytes([packet[0] | DUP_FLAG]) + packet[1:]
                    self._schedule(now, arrival, packet)
                    self._schedule(now + 0.005, arrival, copy)
                    self._count("duplicated")
                elif roll < chaos.duplicate + chaos.delay:
                    self._schedule(now + pause, arrival, packet)
                    self._count("delayed")
                elif roll < chaos.duplicate + chaos.delay + chaos.swap and self._held is None:
                    self._held = self._schedule(now + chaos.hold_s, arrival, packet)
                    self._count("held")
                    continue
                else:
                    self._schedule(now, arrival, packet)
                self._release_held(now + 0.001)
        except (OSError, ValueError):
            pass
        finally:
            self.close()

    def _count(self, what: str) -> None:
        with self.lock:
            self.stats[f"{self.name} {what}"] += 1

    def _send(self) -> None:
        try:
            while not self.closed.is_set():
                with self._ready:
                    while not self._heap or self._heap[0][0] > time.monotonic():
                        if self.closed.is_set():
                            return
                        wait = self._heap[0][0] - time.monotonic() if self._heap else 0.1
                        self._ready.wait(max(0.0, min(wait, 0.1)))
                    _, order, arrival, packet, live = heapq.heappop(self._heap)
                    if not live:
                        continue  # a swapped packet, scheduled again after its overtaker
                    if self._held is not None and self._held[1] == order:
                        self._held = None  # nothing overtook it within hold_s
                if 0 <= arrival < self._sent_up_to:
                    self._count("reordered")  # a PUBLISH overtaken by a later one
                self._sent_up_to = max(self._sent_up_to, arrival)
                self.target.sendall(packet)
        except OSError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.source, self.target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._ready:
            self._ready.notify_all()


class MqttProxy:
    """Listens on a free port; each client connection gets its own connection to the broker.
    `up` is what happens to the client's PUBLISH packets, `down` to the broker's."""

    def __init__(
        self, broker_port: int, *, up: Chaos, down: Chaos, seed: int = 5, host: str = "127.0.0.1"
    ) -> None:
        self.broker = (host, broker_port)
        self.up, self.down = up, down
        # One generator per direction of each connection: the nth PUBLISH of a direction
        # always meets the same fate, whatever the threads' timing.
        self.seed = seed
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.listener = socket.create_server((host, 0))
        self.port: int = self.listener.getsockname()[1]
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def start(self) -> MqttProxy:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.broker, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, upstream]
            closed = threading.Event()
            with self.lock:
                self.stats["connections"] += 1
            for name, source, target, chaos in (
                ("up", client, upstream, self.up),
                ("down", upstream, client, self.down),
            ):
                _Pipe(
                    name=name,
                    source=source,
                    target=target,
                    chaos=chaos,
                    rng=random.Random(f"{self.seed}-{self.stats['connections']}-{name}"),
                    stats=self.stats,
                    lock=self.lock,
                    closed=closed,
                ).start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)
