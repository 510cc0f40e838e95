"""The catalog responder on a private Mosquitto and the real PostgreSQL: the retained head,
and changes since N answered to the response topic with the request's correlation data."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.catalog import head_version, import_csv, set_store_price
from cloud.catalog_rpc import CatalogResponder, requesting_store
from cloud.cli import cloud
from cloud.worker import BrokerSettings
from protocol.topics import catalog_head_topic, catalog_reply_topic, catalog_request_topic
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.conftest import SMALL_CATALOG

Conn = psycopg.Connection[Any]
TILLBOX = str(Path(sys.executable).parent / "tillbox")


class Store:
    """A bare MQTT 5 client standing in for a store's appliance."""

    def __init__(self, store: str, port: int) -> None:
        self.store = store
        self.heard: queue.Queue[tuple[str, Any, bytes | None]] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(catalog_head_topic(), 1), (catalog_reply_topic(store), 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        self.heard.put((message.topic, json.loads(message.payload), correlation))

    def ask(self, body: dict[str, int], *, reply_to: str | None = None) -> bytes:
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = reply_to or catalog_reply_topic(self.store)
        props.CorrelationData = correlation
        self.client.publish(
            catalog_request_topic(self.store), json.dumps(body), qos=1, properties=props
        )
        return correlation

    def next(self, topic: str, timeout: float = 10) -> tuple[Any, bytes | None]:
        while True:
            heard, body, correlation = self.heard.get(timeout=timeout)
            if heard == topic:
                return body, correlation

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker").start()
    yield running
    running.kill()


@pytest.fixture
def responder(cloud_dsn: str, broker: Broker) -> Iterator[CatalogResponder]:
    running = CatalogResponder(
        cloud_dsn, BrokerSettings(port=broker.port), name="t", poll_s=0.2
    ).start()
    assert running.wait_subscribed()
    yield running
    running.stop()


def test_the_request_topic_names_the_store() -> None:
    assert requesting_store("tillbox/v1/stores/s01/rpc/catalog") == "s01"
    assert requesting_store("tillbox/v1/stores/s01/rpc/catalog/reply") is None
    assert requesting_store("tillbox/v1/stores//rpc/catalog") is None
    assert requesting_store("tillbox/v1/stores/s01/rpc/stock") is None


def test_the_head_is_retained_and_follows_each_import(
    pg: Conn, broker: Broker, responder: CatalogResponder
) -> None:
    start = head_version(pg)
    wait_for(lambda: responder.published_head == start, what="the head at start")
    store = Store("s01", broker.port)
    try:
        assert store.next(catalog_head_topic()) == ({"version": start}, None)
        version = import_csv(pg, SMALL_CATALOG.encode()).version
        assert store.next(catalog_head_topic()) == ({"version": version}, None)
        later = set_store_price(pg, "s01", "MUG-1", 700)
        assert store.next(catalog_head_topic()) == ({"version": later}, None)
    finally:
        store.stop()


def test_a_request_is_answered_on_its_response_topic_with_its_correlation_data(
    pg: Conn, broker: Broker, responder: CatalogResponder
) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    set_store_price(pg, "s01", "MUG-1", 700)
    head = head_version(pg)
    store = Store("s01", broker.port)
    try:
        asked = store.ask({"since": 0, "limit": 3})
        page, correlation = store.next(catalog_reply_topic("s01"))
        assert correlation == asked
        assert [c["sku"] for c in page["changes"]] == ["TEE-M-RED", "TEE-L-RED", "MUG-1"]
        assert page["head"] == head and page["next"] == page["changes"][-1]["seq"]
        rest = store.ask({"since": page["next"], "limit": 3})
        page, correlation = store.next(catalog_reply_topic("s01"))
        assert correlation == rest
        assert [(c["sku"], c["price"]) for c in page["changes"]] == [("OLD-1", 200), ("MUG-1", 700)]
        assert page["next"] == head
        # A reply asked for on another store's topic, or a request that is not one, is dropped.
        store.ask({"since": 0, "limit": 3}, reply_to=catalog_reply_topic("s02"))
        store.ask({"since": -1, "limit": 3})
        wait_for(lambda: responder.dropped == 2, what="two dropped requests")
        assert responder.answered == 2
    finally:
        store.stop()


def test_the_serve_command_refuses_a_group_that_cannot_name_a_shared_subscription() -> None:
    result = CliRunner().invoke(
        cloud, ["catalog", "serve", "--dsn", "host=nowhere", "--group", "a/b"]
    )
    assert result.exit_code == 2
    assert "cannot name a shared subscription group" in result.output


def test_the_serve_command_publishes_the_head_and_stops_on_sigterm(
    pg: Conn, cloud_dsn: str, broker: Broker
) -> None:
    version = import_csv(pg, SMALL_CATALOG.encode()).version
    process = subprocess.Popen(
        [TILLBOX, "cloud", "catalog", "serve", "--mqtt-port", str(broker.port), "--name", "c1"],
        env={**os.environ, "TILLBOX_CLOUD_DSN": cloud_dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    store = Store("s01", broker.port)
    try:
        assert store.next(catalog_head_topic(), timeout=20) == ({"version": version}, None)
        asked = store.ask({"since": 0, "limit": 2})
        page, correlation = store.next(catalog_reply_topic("s01"))
        assert correlation == asked and len(page["changes"]) == 2
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        store.stop()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert f"head {version}" in output
