"""The shipped broker configuration (provisioning/mosquitto) on a real Mosquitto 2.0: who may
publish and hear what, and the cloud's own check when a broker lets a wrong message through."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from appliance.runtime import Runtime, open_runtime
from appliance.settings import DATABASE_FILE
from appliance.sync.uplink import Uplink, head, read_cursor
from cloud.worker import BrokerSettings, IngestWorker
from protocol.ids import new_id
from protocol.topics import acks_topic, events_topic, status_topic
from tests.appliance.selling.test_stock import Example
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.cloud.batches import batch, offline_till, received
from tests.cloud.shipped_broker import Client, ShippedBroker
from tests.cloud.test_projections import appliance_on_hand, cloud_on_hand
from tests.conftest import FakeWall, Store, make_settings
from tests.faults.invariants import Journal, assert_converged

Conn = psycopg.Connection[Any]
INGEST = "cloud-ingest"
CATALOG = "cloud-catalog"
SHARED_EVENTS = "$share/ingest/tillbox/v1/stores/+/events"
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
TILLBOX = str(Path(sys.executable).parent / "tillbox")


def accepted(code: Any) -> bool:
    """A PUBACK that took the message (0 success, or 16 "no matching subscribers")."""
    return not code.is_failure


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    """One shipped broker for this module, with stores s01 and s02 and the ingest user."""
    shipped = ShippedBroker(tmp_path_factory.mktemp("shipped"))
    for user in ("s01", "s02", INGEST, CATALOG):
        shipped.credentials(user)
    shipped.start()
    yield shipped
    shipped.kill()


@pytest.fixture
def clients(broker: ShippedBroker) -> Iterator[list[Client]]:
    """Clients made by a test, closed after it."""
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def connect(
    broker: ShippedBroker, clients: list[Client], user: str | None, *, tls: bool = True, **kw: Any
) -> Client:
    """A connected client of `user` with its issued password (unless `password` is given)."""
    password = kw.pop("password", None)
    if password is None and user is not None:
        password = broker.password(user)
    client = Client(broker, user, password, tls=tls, **kw)
    clients.append(client)
    client.connect()
    return client


def ingest(broker: ShippedBroker, clients: list[Client], group: str = "ingest") -> Client:
    """The ingest user on the cloud's loopback listener, on the shared subscription."""
    worker = connect(broker, clients, INGEST, tls=False)
    assert worker.connack.value == 0
    codes = worker.subscribe(SHARED_EVENTS.replace("/ingest/", f"/{group}/"))
    assert [code.value for code in codes] == [1]
    return worker


def test_a_store_publishes_its_events_and_status_and_hears_its_acks(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    worker = ingest(broker, clients)
    s01 = connect(broker, clients, "s01")
    assert s01.connack.value == 0
    s01.subscribe(acks_topic("s01"))

    assert accepted(s01.publish(events_topic("s01"), b'{"batch":1}'))
    assert accepted(s01.publish(status_topic("s01"), b'{"online":true}'))
    wait_for(lambda: (events_topic("s01"), b'{"batch":1}') in worker.heard(), what="the batch")

    assert accepted(worker.publish(acks_topic("s01"), b'{"applied_through":1}'))
    wait_for(lambda: s01.heard() == [(acks_topic("s01"), b'{"applied_through":1}')])


def test_a_store_cannot_publish_as_another_store(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    worker = ingest(broker, clients)
    s01 = connect(broker, clients, "s01")
    for topic in (
        events_topic("s02"),
        status_topic("s02"),
        "tillbox/v1/stores/s02/rpc/catalog",
        acks_topic("s01"),  # nor answer itself
        "tillbox/v1/stores/s01/rpc/catalog/reply",
        "tillbox/v1/catalog/head",
        "tillbox/v1/stores/s01/other",
    ):
        assert s01.publish(topic, b'{"forged":true}').value == NOT_AUTHORIZED, topic
    # What a client publishes reaches a subscriber in order: once this arrives, anything
    # refused before it would have arrived too.
    assert accepted(s01.publish(events_topic("s01"), b"marker"))
    wait_for(lambda: worker.heard(), what="the marker")
    assert worker.heard() == [(events_topic("s01"), b"marker")]


def test_a_store_hears_only_its_own_acks_whatever_it_subscribes_to(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    worker = connect(broker, clients, INGEST, tls=False)
    s01 = connect(broker, clients, "s01")
    # Mosquitto 2.0 does not check SUBSCRIBE against acl_file: every filter is granted...
    for topic_filter in (acks_topic("s02"), "tillbox/v1/stores/+/acks", "#"):
        assert [code.value for code in s01.subscribe(topic_filter)] == [1]
    # ...and each message is checked against the subscriber's read rights on delivery.
    s02 = connect(broker, clients, "s02")
    assert accepted(worker.publish(acks_topic("s02"), b'{"applied_through":7}'))
    assert accepted(s02.publish(events_topic("s02"), b"not yours"))
    assert accepted(s02.publish(status_topic("s02"), b'{"online":true}'))
    assert accepted(worker.publish(acks_topic("s01"), b'{"applied_through":1}'))
    wait_for(lambda: s01.heard(), what="s01's own ack")
    assert {topic for topic, _ in s01.heard()} == {acks_topic("s01")}


def test_catalog_requests_and_replies_stay_between_a_store_and_the_responders(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    responder = connect(broker, clients, CATALOG, tls=False)
    responder.subscribe("$share/catalog/tillbox/v1/stores/+/rpc/catalog")
    s01, s02 = connect(broker, clients, "s01"), connect(broker, clients, "s02")
    for store in (s01, s02):
        store.subscribe("tillbox/v1/stores/+/rpc/catalog/reply")
        store.subscribe("tillbox/v1/catalog/#")

    assert accepted(s01.publish("tillbox/v1/stores/s01/rpc/catalog", b'{"since":0}'))
    wait_for(lambda: responder.heard(), what="the request")
    assert accepted(responder.publish("tillbox/v1/stores/s01/rpc/catalog/reply", b"page"))
    assert accepted(responder.publish("tillbox/v1/catalog/head", b'{"version":3}'))
    wait_for(lambda: len(s01.heard()) == 2 and len(s02.heard()) == 1, what="reply and head")
    assert s02.heard() == [("tillbox/v1/catalog/head", b'{"version":3}')]

    # Nobody else may answer a store or move the head; the ingest user may not either.
    worker = connect(broker, clients, INGEST, tls=False)
    for client in (s01, worker):
        for topic in ("tillbox/v1/stores/s02/rpc/catalog/reply", "tillbox/v1/catalog/head"):
            assert client.publish(topic, b"forged").value == NOT_AUTHORIZED, topic
    assert responder.publish(events_topic("s01"), b"forged").value == NOT_AUTHORIZED


def test_wrong_passwords_and_anonymous_clients_are_refused(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    for tls in (True, False):
        for user, password in (
            ("s01", "wrong"),
            ("s02", broker.password("s01")),
            (INGEST, broker.password("s01")),
            ("s99", "anything"),
            (None, ""),  # no username at all
        ):
            client = connect(broker, clients, user, tls=tls, password=password)
            assert client.connack.value == NOT_AUTHORIZED, (user, tls)


def test_a_store_cannot_take_over_another_stores_session(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    """On the stores' listener the client id is the username, whatever the client sends."""
    s01 = connect(broker, clients, "s01", client_id="tillbox-s01-ap")
    for stolen in ("tillbox-s01-ap", "s01"):
        intruder = connect(broker, clients, "s02", client_id=stolen)
        assert intruder.connack.value == 0
    assert s01.client.is_connected()
    assert accepted(s01.publish(status_topic("s01"), b'{"online":true}'))


def test_a_store_in_the_ingest_group_swallows_batches_unless_the_group_is_private(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    """Why the ingest workers' group name is kept private (decisions.md §38): a store that
    subscribes to the workers' shared subscription is dealt its turn of every store's
    batches, and the broker, finding that it may not read them, drops them."""
    s01 = connect(broker, clients, "s01")
    intruder = connect(broker, clients, "s02")
    assert [c.value for c in intruder.subscribe(SHARED_EVENTS)] == [1]
    worker = ingest(broker, clients)
    # Each PUBACK comes after the broker has chosen the message's subscriber.
    for n in range(6):
        assert accepted(s01.publish(events_topic("s01"), b"batch %d" % n))
    wait_for(lambda: len(worker.heard()) >= 3, what="the worker's turns")
    time.sleep(0.2)
    assert len(worker.heard()) == 3 and intruder.heard() == []
    worker.close()
    clients.remove(worker)

    private = ingest(broker, clients, group=f"ingest-{new_id()[-12:]}")
    for n in range(6):
        assert accepted(s01.publish(events_topic("s01"), b"private %d" % n))
    wait_for(lambda: len(private.heard()) == 6, what="all six batches")
    assert intruder.heard() == []


def test_a_batch_of_16_mib_fits_and_a_larger_payload_is_dropped(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    worker = ingest(broker, clients)
    s01 = connect(broker, clients, "s01")
    limit = 16 * 1024 * 1024
    assert accepted(s01.publish(events_topic("s01"), b"x" * limit))
    wait_for(lambda: worker.heard(), what="the 16 MiB batch")
    # One byte more is dropped. (Mosquitto 2.0.11 answers PUBACK 0x95, which MQTT 5 does not
    # allow in a PUBACK: paho drops the connection and sends it again, over and over.)
    s01.client.publish(events_topic("s01"), b"x" * (limit + 1), qos=1)
    wait_for(lambda: s01.disconnects, what="the broker's PUBACK 0x95 and paho's disconnect")
    s01.close()
    clients.remove(s01)
    again = connect(broker, clients, "s01")
    assert accepted(again.publish(events_topic("s01"), b"marker"))
    wait_for(lambda: len(worker.heard()) == 2, what="the marker")
    assert [len(payload) for _, payload in worker.heard()] == [limit, len(b"marker")]


def test_a_wrong_stores_events_are_dead_lettered_when_a_broker_lets_them_through(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    """The ACL is the first check, the cloud's the second: on a broker with no ACL at all,
    s01's sealed events published on s02's topic are refused by the ingest worker."""
    permissive = Broker(tmp_path / "permissive").start()
    worker = IngestWorker(cloud_dsn, BrokerSettings(port=permissive.port), name="acl-less")
    try:
        worker.start()
        assert worker.wait_subscribed()
        mine = offline_till("s01", "s01-r01")
        payload = batch(1, [received(mine, new_id(), 3), received(mine, new_id(), 4)])
        forger = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        forger.connect("127.0.0.1", permissive.port)
        forger.loop_start()
        try:
            forger.publish(events_topic("s02"), payload, qos=1).wait_for_publish(10)
            wait_for(lambda: worker.counters.batches == 1, what="the worker's answer")
        finally:
            forger.disconnect()
            forger.loop_stop()
    finally:
        worker.stop()
        permissive.kill()
    assert pg.execute("SELECT count(*) FROM event").fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM origin").fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM stock_ledger").fetchone() == (0,)
    row = pg.execute("SELECT topic, store, raw FROM dead_letter").fetchone()
    assert row is not None and (row[0], row[1], bytes(row[2])) == (
        events_topic("s02"),
        "s02",
        payload,
    )
    assert pg.execute("SELECT kind, store FROM alert").fetchall() == [("wrong_store", "s02")]
    assert pg.execute("SELECT applied_through FROM store_cursor").fetchall() in ([], [(0,)])


def test_an_appliance_and_an_ingest_worker_with_issued_credentials_sync_over_tls(
    store: Store,
    catalog: Runtime,
    wall: FakeWall,
    pg: Conn,
    cloud_dsn: str,
    broker: ShippedBroker,
) -> None:
    """The whole path through the shipped broker: the appliance as s01 over TLS with its
    generated password file, the worker as cloud-ingest on the loopback listener."""
    Example(store, wall).run("BBCAA")
    assert store.rt.store == "s01"
    rt = open_runtime(
        make_settings(
            store.rt.settings.data_dir,
            mqtt_host="127.0.0.1",
            mqtt_port=broker.tls_port,
            mqtt_tls=True,
            mqtt_tls_ca=broker.ca,
            mqtt_password_file=broker.secrets / "s01.mqtt-password",
            sync_ack_timeout_ms=500,
            sync_ack_timeout_max_ms=1000,
            sync_poll_ms=20,
            sync_batch_max_events=3,
        )
    )
    worker = IngestWorker(
        cloud_dsn,
        BrokerSettings(
            port=broker.port,
            username=INGEST,
            password_file=broker.secrets / f"{INGEST}.mqtt-password",
        ),
        name="issued",
    )
    link = Uplink(rt)
    try:
        worker.start()
        assert worker.wait_subscribed()
        link.start()
        newest = head(rt.db)
        wait_for(lambda: read_cursor(rt.db) == newest, timeout=20, what="the cloud's acks")
        assert cloud_on_hand(pg) == appliance_on_hand(rt)
        assert_converged(pg, Journal("s01", rt.settings.data_dir / DATABASE_FILE))
        wait_for(
            lambda: pg.execute("SELECT online FROM appliance_status").fetchall() == [(True,)],
            what="the appliance's status",
        )
    finally:
        link.stop()
        rt.close()
        worker.stop()
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)


def test_the_ingest_command_on_a_private_group_takes_every_batch(
    broker: ShippedBroker, clients: list[Client], pg: Conn, cloud_dsn: str
) -> None:
    """`tillbox cloud ingest --group`: a store sitting in the default group gets nothing."""
    intruder = connect(broker, clients, "s02")
    intruder.subscribe(SHARED_EVENTS)
    intruder.subscribe("$share/ingest/tillbox/v1/stores/+/status")
    worker = subprocess.Popen(
        [
            TILLBOX,
            "cloud",
            "ingest",
            "--mqtt-port",
            str(broker.port),
            "--mqtt-username",
            INGEST,
            "--mqtt-password-file",
            str(broker.secrets / f"{INGEST}.mqtt-password"),
            "--name",
            "private",
        ],
        env={
            **os.environ,
            "TILLBOX_CLOUD_DSN": cloud_dsn,
            "TILLBOX_CLOUD_INGEST_GROUP": f"ingest-{new_id()[-12:]}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    s01 = connect(broker, clients, "s01")

    def dead_letters() -> list[bytes]:
        return [bytes(raw) for (raw,) in pg.execute("SELECT raw FROM dead_letter ORDER BY id")]

    try:
        # Until the worker has subscribed, the broker has no one in its group to give these to.
        wait_for(
            lambda: s01.publish(events_topic("s01"), b"probe") and dead_letters(),
            what="the worker's subscription",
        )
        junk = [b"not a batch %d" % n for n in range(4)]
        for payload in junk:
            assert accepted(s01.publish(events_topic("s01"), payload))
        wait_for(lambda: set(junk) <= set(dead_letters()), what="all four, dead-lettered")
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0, output
    assert intruder.heard() == []
