"""A private Mosquitto started from the shipped provisioning/mosquitto files, with only the
paths, ports and user rewritten, and MQTT 5 test clients that remember what they hear."""

from __future__ import annotations

import getpass
import signal
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.stores import issue_credentials
from tests.appliance.sync.mqtt_fakes import (
    _listening,
    free_port,
    make_ca_and_server_cert,
    wait_for,
)

SHIPPED = Path(__file__).resolve().parents[2] / "provisioning" / "mosquitto"


def render(conf: str, replacements: dict[str, str]) -> str:
    """The shipped config with whole lines replaced; each must be there exactly once, so a
    changed config fails here rather than going untested."""
    lines = conf.splitlines()
    for old, new in replacements.items():
        at = [i for i, line in enumerate(lines) if line == old]
        assert len(at) == 1, f"mosquitto.conf no longer has exactly one line {old!r}"
        lines[at[0]] = new
    return "\n".join(lines) + "\n"


class ShippedBroker:
    """Mosquitto with the shipped mosquitto.conf and tillbox.acl: stores' TLS listener on
    `tls_port`, the cloud's loopback listener on `port`, users in `password_file`."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.ca = make_ca_and_server_cert(root)
        self.tls_port, self.port = free_port(), free_port()
        self.password_file = root / "tillbox.passwd"
        self.secrets = root / "secrets"
        self.acl_file = SHIPPED / "tillbox.acl"
        self.log = root / "mosquitto.log"
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(
            render(
                (SHIPPED / "mosquitto.conf").read_text(encoding="utf-8"),
                {
                    # The tests run as whoever runs them (root in CI): mosquitto would drop
                    # to a user that cannot read the temporary directory.
                    "user mosquitto": f"user {getpass.getuser()}",
                    "persistence_location /var/lib/mosquitto/": f"persistence_location {root}/",
                    "password_file /etc/mosquitto/tillbox.passwd": (
                        f"password_file {self.password_file}"
                    ),
                    "acl_file /etc/mosquitto/tillbox.acl": f"acl_file {self.acl_file}",
                    "cafile /etc/mosquitto/certs/ca.pem": f"cafile {self.ca}",
                    "certfile /etc/mosquitto/certs/server.pem": f"certfile {root / 'server.pem'}",
                    "keyfile /etc/mosquitto/certs/server.key": f"keyfile {root / 'server.key'}",
                    "listener 8883": f"listener {self.tls_port} 127.0.0.1",
                    "listener 1883 127.0.0.1": f"listener {self.port} 127.0.0.1",
                },
            ),
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    def credentials(self, username: str) -> Path:
        """A new password for `username` (as `tillbox cloud store add` makes it); its file."""
        return issue_credentials(
            username, password_file=self.password_file, secrets_dir=self.secrets
        ).secret_file

    def password(self, username: str) -> str:
        """The plain password last issued to `username`."""
        return (self.secrets / f"{username}.mqtt-password").read_text().strip()

    def start(self) -> ShippedBroker:
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=self._log_file, stderr=self._log_file
        )
        try:
            wait_for(
                lambda: _listening(self.port) and _listening(self.tls_port),
                what="the shipped mosquitto's listeners",
            )
        except BaseException:
            self.kill()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def reload(self) -> None:
        """SIGHUP: read the password and ACL files again."""
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Client:
    """One MQTT 5 connection that records its CONNACK, PUBACKs, SUBACKs and messages."""

    broker: ShippedBroker
    username: str | None
    password: str | None
    tls: bool = True
    client_id: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:10]}")
    connack: Any = None
    pubacks: dict[int, Any] = field(default_factory=dict)
    subacks: dict[int, list[Any]] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    disconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        if self.tls:
            client.tls_set(ca_certs=str(self.broker.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self.client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connack = reason

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self.lock:
            self.pubacks[mid] = reason

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        with self.lock:
            self.subacks[mid] = list(codes)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        with self.lock:
            self.disconnects += 1

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def connect(self) -> Any:
        """Connect and wait for the CONNACK; its reason code."""
        port = self.broker.tls_port if self.tls else self.broker.port
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        return wait_for(lambda: self.connack, what=f"{self.username}'s CONNACK")

    def publish(self, topic: str, payload: bytes) -> Any:
        """Publish at QoS 1 and wait for the PUBACK; its reason code."""
        info = self.client.publish(topic, payload, qos=1)
        return wait_for(lambda: self.pubacks.get(info.mid), what=f"PUBACK on {topic}")

    def subscribe(self, topic_filter: str) -> list[Any]:
        """Subscribe at QoS 1 and wait for the SUBACK; its reason codes."""
        _, mid = self.client.subscribe(topic_filter, qos=1)
        return list(wait_for(lambda: self.subacks.get(mid), what=f"SUBACK for {topic_filter}"))

    def heard(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
