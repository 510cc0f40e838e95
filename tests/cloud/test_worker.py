"""`tillbox cloud ingest` end to end: a store's appliance uplink, a private Mosquitto, the
ingest worker on the shared subscription, and the real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from appliance.runtime import Runtime, open_runtime
from appliance.settings import DATABASE_FILE
from appliance.sync.uplink import Uplink, head, read_cursor
from cloud.worker import BrokerSettings, IngestWorker, record_status, store_of
from tests.appliance.selling.test_stock import Example
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.cloud.test_projections import appliance_on_hand, cloud_on_hand
from tests.conftest import FakeWall, Store, make_settings
from tests.faults.invariants import Journal, assert_converged

Conn = psycopg.Connection[Any]
TILLBOX = str(Path(sys.executable).parent / "tillbox")

FAST = {
    "mqtt_host": "127.0.0.1",
    "mqtt_tls": False,
    "sync_ack_timeout_ms": 500,
    "sync_ack_timeout_max_ms": 1000,
    "sync_poll_ms": 20,
    "sync_heartbeat_ms": 200,
    "sync_batch_max_events": 3,
}


def uplinked(store: Store, broker: Broker) -> Runtime:
    """A second runtime on the store's data directory, configured for the broker."""
    return open_runtime(
        make_settings(store.rt.settings.data_dir, **{**FAST, "mqtt_port": broker.port})
    )


def test_the_topic_names_the_store() -> None:
    assert store_of("tillbox/v1/stores/s01/events", "events") == "s01"
    assert store_of("tillbox/v1/stores/s01/status", "events") is None
    assert store_of("tillbox/v1/stores//events", "events") is None
    assert store_of("tillbox/v1/stores/s01/events/x", "events") is None
    assert store_of("other/v1/stores/s01/events", "events") is None


def test_the_cli_worker_ingests_a_stores_journal_and_the_appliance_hears_the_acks(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn, cloud_dsn: str, tmp_path: Path
) -> None:
    Example(store, wall).run("BBCAA")
    broker = Broker(tmp_path / "broker").start()
    worker = subprocess.Popen(
        [TILLBOX, "cloud", "ingest", "--mqtt-port", str(broker.port), "--name", "w1"],
        env={**os.environ, "TILLBOX_CLOUD_DSN": cloud_dsn},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    rt = uplinked(store, broker)
    link = Uplink(rt)
    try:
        link.start()
        newest = head(rt.db)
        assert newest > 6  # several batches of 3
        wait_for(lambda: read_cursor(rt.db) == newest, timeout=30, what="the cloud's ack")
        assert pg.execute("SELECT count(*) FROM event").fetchone() == (newest,)
        assert cloud_on_hand(pg) == appliance_on_hand(rt)
        assert_converged(pg, Journal("s01", rt.settings.data_dir / DATABASE_FILE))
        wait_for(
            lambda: (
                pg.execute("SELECT online FROM appliance_status WHERE store = 's01'").fetchone()
                == (True,)
            ),
            what="the appliance's status",
        )
    finally:
        link.stop()
        rt.close()
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
        broker.kill()
    assert worker.returncode == 0, output
    assert "Traceback" not in output, output
    # The clean stop said offline, and the worker recorded that too (unless it left first).
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)


def test_an_ack_lost_with_a_stopped_worker_is_made_good_by_the_appliances_resend(
    store: Store, catalog: Runtime, wall: FakeWall, pg: Conn, cloud_dsn: str, tmp_path: Path
) -> None:
    """The appliance sends while no worker runs; the broker has no one to give it to. A worker
    that comes later, and a resend, bring the cloud level."""
    Example(store, wall).run("CABBA")
    broker = Broker(tmp_path / "broker").start()
    rt = uplinked(store, broker)
    link = Uplink(rt)
    worker = IngestWorker(cloud_dsn, BrokerSettings(port=broker.port), name="late")
    try:
        link.start()
        wait_for(lambda: rt.link.connected, what="the uplink's connection")
        assert read_cursor(rt.db) == 0
        worker.start()
        assert worker.wait_subscribed()
        newest = head(rt.db)
        wait_for(lambda: read_cursor(rt.db) == newest, timeout=30, what="the cloud's ack")
        assert cloud_on_hand(pg) == appliance_on_hand(rt)
        assert worker.counters.batches >= 1
    finally:
        link.stop()
        rt.close()
        worker.stop()
        broker.kill()


def test_a_status_that_is_not_one_is_dead_lettered_and_a_will_keeps_the_last_heartbeat(
    pg: Conn,
) -> None:
    record_status(pg, "s01", b'{"online":true,"version":"1.2.0","outbox_depth":4}')
    record_status(pg, "s01", b'{"online":false}')
    row = pg.execute(
        "SELECT online, version, outbox_depth, last_online_at IS NOT NULL FROM appliance_status"
    ).fetchone()
    assert row == (False, "1.2.0", 4, True)
    record_status(pg, "s01", b"{not json")
    record_status(pg, "s01", b'{"online":"maybe"}')
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (2,)
    assert pg.execute("SELECT online FROM appliance_status").fetchone() == (False,)
