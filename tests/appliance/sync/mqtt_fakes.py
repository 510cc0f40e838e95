"""A tiny fake cloud (a paho client that answers batches) and a private Mosquitto, for the
uplink's tests against a real broker."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.topics import acks_topic, events_topic, status_topic

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 1883


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    """Poll until `condition()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


@dataclass
class FakeCloud:
    """Receives a store's batches and answers as the ingest workers will: a batch that
    continues the cursor is applied and acked, a repeat is re-acked, a gap gets `expected`.
    With `silent` it hears everything and answers nothing."""

    store: str
    port: int = SHARED_PORT
    silent: bool = False
    # Answer every batch with the cursor as it stands, as the cloud does a batch it refused.
    refuse: bool = False
    applied: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"fake-cloud-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: self.subscribed.set()

    def start(self) -> FakeCloud:
        self.client.connect(SHARED_HOST, self.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the fake cloud never subscribed"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(events_topic(self.store), 1), (status_topic(self.store), 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == status_topic(self.store):
            with self.lock:
                self.statuses.append(json.loads(message.payload))
            return
        batch = json.loads(message.payload)
        with self.lock:
            self.raw.append(bytes(message.payload))
            self.batches.append(batch)
            if self.silent:
                return
            first, last = batch["from"], batch["to"]
            if self.refuse:
                answer = {"applied_through": self.applied}
            elif first > self.applied + 1:
                answer = {"expected": self.applied + 1}
            else:
                fresh = batch["events"][self.applied + 1 - first :]
                self.events.extend(fresh)
                self.applied = max(self.applied, last)
                answer = {"applied_through": self.applied}
        self.ack(answer)

    def ack(self, answer: Any) -> None:
        payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.client.publish(acks_topic(self.store), payload, qos=1)

    def ranges(self) -> list[tuple[int, int]]:
        with self.lock:
            return [(b["from"], b["to"]) for b in self.batches]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port_run(count: int) -> int:
    """The first of `count` consecutive ports that are all free right now (for `base_port + n`)."""
    for _ in range(100):
        base = free_port()
        if base + count > 65_536:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise RuntimeError(f"no run of {count} free ports found")


class Broker:
    """A private Mosquitto with persistence on a free port, to kill and restart."""

    def __init__(self, root: Path, *, tls: bool = False) -> None:
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / "mosquitto.conf"
        lines = [
            # Run as root (CI), mosquitto would drop to its own user, which cannot read the
            # test's temporary directory.
            f"user {getpass.getuser()}",
            "per_listener_settings false",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {root}/",
            "log_dest none",
            f"listener {self.port} 127.0.0.1",
        ]
        self.tls_port = 0
        self.ca: Path | None = None
        if tls:
            # A TLS listener with a throw-away CA; the plain one stays for the fake cloud.
            self.ca = make_ca_and_server_cert(root)
            self.tls_port = free_port()
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.ca}",
                f"certfile {root / 'server.pem'}",
                f"keyfile {root / 'server.key'}",
            ]
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.conf)])
        try:
            for port in (self.port, self.tls_port):
                if port:
                    wait_for(lambda p=port: _listening(p), what=f"mosquitto on {port}")
        except BaseException:
            self.kill()
            raise
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def make_ca_and_server_cert(root: Path) -> Path:
    """A CA and a certificate for 127.0.0.1 signed by it, made with openssl; the CA's path."""
    ca, ca_key = root / "ca.pem", root / "ca.key"
    ext = root / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "subjectAltName=IP:127.0.0.1\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n",
        encoding="utf-8",
    )
    commands = [
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca),
            "-days",
            "2",
            "-subj",
            "/CN=Tillbox test CA",
        ],
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(root / "server.key"),
            "-out",
            str(root / "server.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(root / "server.csr"),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(root / "server.pem"),
            "-days",
            "2",
            "-extfile",
            str(ext),
        ],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return ca
