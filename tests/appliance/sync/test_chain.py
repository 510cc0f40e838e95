"""The store and the rest of the chain, end to end on a private Mosquitto and the real
PostgreSQL: other stores' stock asked over MQTT 5 request/response by SKU, each store's own
variant ids translated through the directory's `store_variant`, and every way asking can
fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.runtime import Runtime
from appliance.settings import Settings
from appliance.stock import quick_on_hand
from appliance.sync.uplink import Uplink, head, read_cursor
from cloud.chain import stock_elsewhere
from cloud.ingest import ingest_batch
from cloud.store_directory import apply_upload
from cloud.store_rpc import StoreResponder
from cloud.worker import BrokerSettings
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope
from protocol.ids import new_id
from protocol.topics import rpc_reply_topic, rpc_request_topic
from tests.appliance.selling.helpers import make_till
from tests.appliance.sync.mqtt_fakes import Broker, free_port, wait_for
from tests.cloud.batches import batch, offline_till, received
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.cloud.test_worker import FAST
from tests.conftest import FakeWall, Store, make_settings

Conn = psycopg.Connection[Any]
TILLBOX = str(Path(sys.executable).parent / "tillbox")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    running = Broker(tmp_path / "broker").start()
    yield running
    running.kill()


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store, configured for the private broker, asking with a short wait."""
    return make_settings(
        data_dir,
        **{**FAST, "mqtt_port": broker.port, "chain_rpc_timeout_ms": 1500},
    )


@pytest.fixture
def worker(broker: Broker, cloud_dsn: str) -> Iterator[subprocess.Popen[bytes]]:  # noqa: F811
    process = subprocess.Popen(
        [TILLBOX, "cloud", "ingest", "--mqtt-port", str(broker.port), "--name", "w1"],
        env={**os.environ, "TILLBOX_CLOUD_DSN": cloud_dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=20)[0].decode()
    assert "Traceback" not in output, output


@pytest.fixture
def responder(cloud_dsn: str, broker: Broker) -> Iterator[StoreResponder]:  # noqa: F811
    running = StoreResponder(cloud_dsn, BrokerSettings(port=broker.port), name="t", poll_s=0.2)
    running.start()
    assert running.wait_subscribed()
    yield running
    running.stop()


@pytest.fixture
def uplink(store: Store, catalog: Runtime) -> Iterator[Uplink]:
    """The test store (its catalog imported here, so its variant ids are its own) with its
    uplink running on the app's own runtime, so the API asks through it."""
    running = Uplink(store.rt)
    running.start()
    wait_for(lambda: store.rt.link.connected, what="the uplink's connection")
    yield running
    running.stop()


def other_store(
    pg: Conn,  # noqa: F811
    store: str,
    links: dict[str, str],
    receipts: dict[str, int],
) -> None:
    """Another store as the cloud has it: its own ids for SKUs (its directory upload), and
    goods received (its events, ingested)."""
    upload = DirectoryUpload(
        variants_after=0,
        variants=[(n, uid, sku) for n, (uid, sku) in enumerate(links.items(), start=1)],
    )
    assert apply_upload(pg, store, upload).error is None
    till = offline_till(store, f"{store}-ap")
    events: list[Envelope] = [received(till, variant, qty) for variant, qty in receipts.items()]
    if events:
        assert ingest_batch(pg, store, batch(1, events)) == {"applied_through": len(events)}


def uid(rt: Runtime, sku: str) -> str:
    return str(rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,)))


def get(store: Store, path: str) -> tuple[int, Any]:
    response = store.client.get(path, headers=store.bearer(store.device))
    return response.status_code, response.get_json()


# ---- identity --------------------------------------------------------------------------------


def test_a_store_with_its_own_variant_ids_is_found_by_sku_from_another_store(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    """s01 imported its catalog itself before joining (its ids are its own) and sold one
    tee; s02, whose id for the tee is another, asks by SKU and gets s01's own figure."""
    rt = store.rt
    till = make_till(store, wall, "manager")
    tee = uid(rt, "TEE-M-RED")
    response = till.send("stock.received", {"lines": [{"variant": tee, "qty": 5}]})
    assert response.status_code == 200, response.get_json()
    synced(rt)
    wait_for(
        lambda: (
            pg.execute("SELECT count(*) FROM store_variant WHERE store = 's01'").fetchone() == (4,)
        ),
        timeout=20,
        what="s01's variant ids in the cloud",
    )
    other_store(pg, "s02", {new_id(): "TEE-M-RED"}, {})
    assert quick_on_hand(rt, tee) == 5
    assert [(s.store, s.on_hand) for s in stock_elsewhere(pg, "s02", "tee-m-red").stores] == [
        ("s01", 5)
    ]


def synced(rt: Runtime) -> None:
    wait_for(lambda: read_cursor(rt.db) == head(rt.db) > 0, timeout=20, what="the cloud's ack")


def test_the_cloud_sums_a_stores_ids_for_a_sku_and_matches_skus_whatever_their_case(
    pg: Conn,  # noqa: F811
) -> None:
    a, b, c = new_id(), new_id(), new_id()
    other_store(pg, "s02", {a: "tee-m-red"}, {a: 7})
    # s03 was rebuilt once: two ids of its own for the same SKU.
    other_store(pg, "s03", {b: "TEE-M-RED", c: "TEE-M-RED"}, {b: 2, c: 5})
    other_store(pg, "s04", {new_id(): "MUG-1"}, {})
    reply = stock_elsewhere(pg, "s01", "Tee-M-Red")
    assert [(s.store, s.on_hand) for s in reply.stores] == [("s02", 7), ("s03", 7)]
    assert all(s.synced_at and s.synced_at.endswith("Z") for s in reply.stores)
    # The asking store is never among the others.
    assert [s.store for s in stock_elsewhere(pg, "s02", "TEE-M-RED").stores] == ["s03"]
    # A store that carries the SKU but never moved it has 0, and has not synced any events.
    assert [
        (s.store, s.on_hand, s.synced_at) for s in stock_elsewhere(pg, "s01", "MUG-1").stores
    ] == [("s04", 0, None)]


# ---- stock elsewhere --------------------------------------------------------------------------


def test_other_stores_stock_is_asked_of_the_cloud_by_sku(
    store: Store,
    pg: Conn,  # noqa: F811
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    a, b = new_id(), new_id()
    other_store(pg, "s02", {a: "TEE-M-RED"}, {a: 7})
    other_store(pg, "s03", {b: "TEE-M-RED"}, {b: 3})
    pg.execute("UPDATE store SET name = 'Harbour Street' WHERE id = 's02'")
    for asked in ("TEE-M-RED", uid(store.rt, "TEE-M-RED")):
        status, body = get(store, f"/api/v1/stock/chain?variant={asked}")
        assert status == 200, body
        assert body["variant"] == uid(store.rt, "TEE-M-RED") and body["sku"] == "TEE-M-RED"
        assert [(s["store"], s["name"], s["on_hand"]) for s in body["stores"]] == [
            ("s02", "Harbour Street", 7),
            ("s03", None, 3),
        ]
        assert all(s["synced_at"] for s in body["stores"])
    status, body = get(store, "/api/v1/stock/chain?variant=MUG-1")
    assert (status, body["stores"]) == (200, [])
    status, body = get(store, "/api/v1/stock/chain?variant=NOPE-1")
    assert (status, body["error"]) == (404, "not_found")
    status, body = get(store, "/api/v1/stock/chain")
    assert status == 422
    status, sync = get(store, "/api/v1/sync/status")
    assert sync["chain"]["answered_at"] and sync["chain"]["failure"] is None
    response = store.client.get("/api/v1/stock/chain?variant=MUG-1")
    assert response.status_code == 401


def test_without_an_uplink_the_answer_is_503(store: Store, catalog: Runtime) -> None:
    status, body = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")
    assert (status, body["error"]) == (503, "cloud_offline"), body
    status, sync = get(store, "/api/v1/sync/status")
    assert sync["chain"]["answered_at"] is None and sync["chain"]["failure"] is None


def test_a_cloud_that_does_not_answer_is_a_503_in_the_wait_and_recorded(
    store: Store, uplink: Uplink
) -> None:
    # Connected, but no responder: the wait runs out.
    status, body = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")
    assert (status, body["error"]) == (503, "cloud_timeout"), body
    status, sync = get(store, "/api/v1/sync/status")
    assert sync["chain"]["failure"] == "cloud_timeout" and sync["chain"]["failure_at"]


def test_a_broker_that_is_gone_is_a_503_at_once(
    store: Store, broker: Broker, uplink: Uplink
) -> None:
    broker.kill()
    wait_for(lambda: not store.rt.link.connected, what="the uplink to notice")
    status, body = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")
    assert (status, body["error"]) == (503, "cloud_offline"), body


class FakeResponder:
    """Answers chain requests with whatever the test says (a cloud with a bug)."""

    def __init__(self, port: int, store: str, answer: bytes) -> None:
        self.answer = answer
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(rpc_request_topic(store, "chain"), qos=1)
        assert subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = message.properties.CorrelationData  # type: ignore[union-attr]
        client.publish(message.properties.ResponseTopic, self.answer, qos=1, properties=props)  # type: ignore[union-attr]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (b"not json", 502, "bad_cloud_reply"),
        (b'{"kind": "stock", "sku": "TEE-M-RED"}', 502, "bad_cloud_reply"),
        (b'{"kind": "stock", "sku": "X", "stores": [{"store": "s02"}]}', 502, "bad_cloud_reply"),
        (b'{"kind": "error", "error": "bad_request", "message": "no"}', 502, "bad_request"),
    ],
)
def test_a_reply_that_is_not_one_is_a_502(
    store: Store, broker: Broker, uplink: Uplink, answer: bytes, status: int, code: str
) -> None:
    fake = FakeResponder(broker.port, "s01", answer)
    try:
        got, body = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")
    finally:
        fake.stop()
    assert (got, body["error"]) == (status, code), body


def test_the_responder_answers_a_bad_request_with_an_error_and_drops_a_misdirected_one(
    broker: Broker, responder: StoreResponder
) -> None:
    heard: list[tuple[str, Any]] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.on_message = lambda c, u, m: heard.append((m.topic, json.loads(m.payload)))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.subscribe([(rpc_reply_topic("s01", "chain"), 1), (rpc_reply_topic("s02", "chain"), 1)])
    try:
        for body, reply_to in (
            (b'{"kind": "stock", "sku": "not a sku"}', rpc_reply_topic("s01", "chain")),
            (b'{"kind": "stock", "sku": "TEE-M-RED"}', rpc_reply_topic("s02", "chain")),
        ):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = reply_to
            props.CorrelationData = b"c1"
            client.publish(rpc_request_topic("s01", "chain"), body, qos=1, properties=props)
        wait_for(lambda: responder.dropped == 1 and heard, what="the responder")
    finally:
        client.disconnect()
        client.loop_stop()
    assert heard == [
        (
            rpc_reply_topic("s01", "chain"),
            {"kind": "error", "error": "bad_request", "message": "not a chain request"},
        )
    ]


def test_a_cloud_whose_database_is_down_is_a_503_and_the_responder_lives_on(
    store: Store, broker: Broker, uplink: Uplink
) -> None:
    """PostgreSQL unreachable: the responder cannot answer, the register hears 503 in the
    wait, and the responder is still there for the next question."""
    dead = f"host=127.0.0.1 port={free_port()} user=postgres dbname=test connect_timeout=1"
    running = StoreResponder(dead, BrokerSettings(port=broker.port), name="down", poll_s=0.2)
    running.start()
    try:
        assert running.wait_subscribed()
        for _ in range(2):
            status, body = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")
            assert (status, body["error"]) == (503, "cloud_timeout"), body
        assert running.answered == 0
        assert all(thread.is_alive() for thread in running._threads)
    finally:
        running.stop()


def test_a_connection_lost_while_asking_is_503_offline_at_once(
    store: Store, broker: Broker, uplink: Uplink
) -> None:
    """The question is out and the broker goes: the wait ends with the connection, as
    `cloud_offline`, rather than running out as `cloud_timeout`."""
    asked = threading.Event()

    class Silent(FakeResponder):
        def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
            asked.set()

    silent = Silent(broker.port, "s01", b"")
    answer: dict[str, Any] = {}

    def ask() -> None:
        answer["got"] = get(store, "/api/v1/stock/chain?variant=TEE-M-RED")

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        assert asked.wait(5)
        broker.kill()
        thread.join(10)
    finally:
        silent.stop()
    status, body = answer["got"]
    assert (status, body["error"]) == (503, "cloud_offline"), body
