"""Fault 10: the appliance's disk is lost after a day of selling. Restore from the cloud, and
the registers' outboxes fill the gap; nothing that any device still held is lost.

The appliance is the real `tillbox appliance serve` process with its uplink to a private
Mosquitto, the cloud's ingest worker and its catalog responder (which answers directory
uploads and restores too). Four registers sell over HTTP. Part of the day reaches the cloud;
then the ingest worker stops, the registers sell on (the appliance holds those sales, the
cloud does not), and the appliance is SIGKILLed and its data directory deleted. A new one is
built with `tillbox appliance restore --from-cloud`; a batch of the dead appliance that was
still on its way arrives after that and is refused (it would take store_seq numbers the new
appliance uses); the registers, whose device tokens still
work, ask it where their chains stand and push again what they still hold (as the register
app's outbox does). The cloud ends up holding every event any register made, once, and the
restored appliance's journal and on-hand are the cloud's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import requests
from paho.mqtt.enums import CallbackAPIVersion

from appliance.db import Database
from appliance.settings import load_settings, write_settings_file
from appliance.sync.uplink import read_batch
from cloud.catalog import import_csv
from cloud.store_rpc import StoreResponder
from cloud.worker import BrokerSettings
from protocol.envelope import envelope_dict
from protocol.topics import events_topic
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import Journal, assert_converged
from tests.faults.test_crash import (
    CASHIER_PINS,
    CATALOG,
    STORE,
    TILLBOX,
    TIMEOUT,
    Appliance,
    Till,
    _env,
    _open_tills,
    _post,
    _setup_store,
)
from tests.faults.trading import ingest_worker, private_broker

Conn = psycopg.Connection[Any]
SYNCED_SALES = 12
UNSYNCED_SALES = 9


def _uplink_settings(data_dir: Path, port: int) -> None:
    write_settings_file(
        load_settings(data_dir, env={}),
        store=STORE,
        mqtt_host="127.0.0.1",
        mqtt_port=port,
        mqtt_tls=False,
        sync_ack_timeout_ms=300,
        sync_ack_timeout_max_ms=600,
        sync_poll_ms=20,
        sync_heartbeat_ms=500,
        sync_batch_max_events=25,
    )


def _sell(http: requests.Session, url: str, tills: list[Till], catalog: Any, n: int) -> None:
    """Each register sells `n` sales live; the appliance acknowledges every one."""
    for _ in range(n):
        for till in tills:
            envelope = till.sale(catalog)
            answer = _post(http, url, till, [envelope], "live")
            assert answer.status_code == 200, answer.text
            assert answer.json()["acked"] == {till.id: envelope.seq}
            till.held.append(envelope)


def _publish(port: int, topic: str, payload: bytes) -> None:
    """One QoS 1 message, as an appliance publishes its batches."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _status(http: requests.Session, url: str, till: Till) -> dict[str, Any]:
    answer = http.get(
        url + "/api/v1/sync/status",
        headers={"Authorization": f"Bearer {till.device}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


def test_disk_lost_restore_from_cloud_and_registers_fill_the_gap(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    data_dir = tmp_path / "store"
    cashiers, catalog = _setup_store(data_dir, tmp_path)
    # The cloud is the catalog's master: the store's SKUs are in it.
    assert import_csv(pg, CATALOG.encode()).applied
    journal = Journal(STORE, data_dir / "tillbox.sqlite3")
    log = tmp_path / "serve.log"
    with (
        private_broker(tmp_path / "broker") as broker,
        requests.Session() as http,
    ):
        responder = StoreResponder(cloud_dsn, BrokerSettings(port=broker.port), name="t").start()
        try:
            assert responder.wait_subscribed()
            _uplink_settings(data_dir, broker.port)
            server = Appliance(data_dir, log)
            try:
                server.wait_healthy(http)
                tills = _open_tills(http, server.url, cashiers)
                for till in tills:
                    till.held = []
                with ingest_worker(cloud_dsn, broker.port) as worker:
                    assert worker.wait_subscribed()
                    # Part of the day reaches the cloud, with the directory and variant ids.
                    _sell(http, server.url, tills, catalog, SYNCED_SALES)
                    synced = journal.head()
                    wait_for(lambda: journal.cloud_cursor() == synced, timeout=30, what="synced")
                    wait_for(
                        lambda: (
                            pg.execute(
                                "SELECT (SELECT count(*) FROM store_register WHERE store = %s),"
                                " (SELECT count(*) FROM store_variant WHERE store = %s)",
                                (STORE, STORE),
                            ).fetchone()
                            == (len(tills), len(catalog))
                        ),
                        timeout=30,
                        what="the directory and variant ids in the cloud",
                    )
                # The rest of the day does not: the appliance holds it, the cloud never sees it.
                _sell(http, server.url, tills, catalog, UNSYNCED_SALES)
                assert journal.head() == synced + len(tills) * UNSYNCED_SALES
                assert journal.cloud_cursor() == synced
            finally:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(10)
                server.log.close()
            # The batch the dead appliance would have sent next, as it would have sent it: one
            # still on its way when the restore begins (below) must not be applied after it.
            old = Database(data_dir / "tillbox.sqlite3")
            try:
                late = read_batch(old, synced + 1, max_events=25, max_bytes=256 * 1024)
            finally:
                old.close()
            assert late is not None and late.count == 25
            # The disk is lost.
            shutil.rmtree(data_dir)

            # The new Pi is provisioned as for a new store (init and a first manager), with its
            # broker settings, and restored from the cloud over that empty store.
            fresh = tmp_path / "replacement"
            subprocess.run(
                [TILLBOX, "appliance", "init", "--store", STORE, "--data", str(fresh)],
                check=True,
                capture_output=True,
                timeout=60,
                env=_env(),
            )
            subprocess.run(
                [
                    TILLBOX,
                    "appliance",
                    "staff",
                    "add",
                    "--data",
                    str(fresh),
                    "--name",
                    "Provisioned",
                    "--role",
                    "manager",
                    "--pin",
                    "8642",
                ],
                check=True,
                capture_output=True,
                timeout=60,
                env=_env(),
            )
            _uplink_settings(fresh, broker.port)
            with ingest_worker(cloud_dsn, broker.port) as worker:
                assert worker.wait_subscribed()
                done = subprocess.run(
                    [
                        TILLBOX,
                        "appliance",
                        "restore",
                        "--from-cloud",
                        "--store",
                        STORE,
                        "--data",
                        str(fresh),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=120,
                    env=_env(),
                )
                assert done.returncode == 0, (done.stdout, done.stderr)
                assert f"as appliance {STORE}-ap2 (generation 2)" in done.stdout, done.stdout
                for till in tills:
                    assert f"{till.id}: the cloud has seq 1–{SYNCED_SALES + 1}" in done.stdout

                restored = Journal(STORE, fresh / "tillbox.sqlite3")
                assert restored.head() == synced and restored.cloud_cursor() == synced
                # The provisioned store was set aside whole; the cloud's staff replaced its own.
                assert [p.name for p in (fresh / "backups").glob("*-before-restore.sqlite3")]
                names = {row[0] for row in restored.rows("SELECT name FROM staff")}
                assert "Provisioned" not in names and "Mona" in names
                # The dead appliance's late batch arrives now: refused, with an alert.
                _publish(broker.port, events_topic(STORE), late.payload)
                wait_for(
                    lambda: (
                        pg.execute(
                            "SELECT count(*) FROM alert WHERE kind = 'replaced_appliance'"
                        ).fetchone()
                        == (1,)
                    ),
                    timeout=15,
                    what="the late batch refused",
                )
                assert pg.execute(
                    "SELECT applied_through FROM store_cursor WHERE store = %s", (STORE,)
                ).fetchone() == (synced,)
                server = Appliance(fresh, log)
                try:
                    server.wait_healthy(http)
                    # Rebuilt from the events: a synced sale is there for a return.
                    receipt = tills[0].held[0].body["receipt"]
                    found = http.get(
                        f"{server.url}/api/v1/receipts/{receipt}",
                        headers={"Authorization": f"Bearer {tills[0].device}"},
                        timeout=TIMEOUT,
                    )
                    assert found.status_code == 200, found.text
                    assert found.json()["receipt"] == receipt
                    before = _status(http, server.url, tills[0])
                    assert before["restore"]["generation"] == 2
                    assert before["restore"]["applied_through"] == synced
                    # Each register's device token still works; it asks where its chain stands,
                    # and pushes again what it holds beyond that (replayed, with the token).
                    for till in tills:
                        status = _status(http, server.url, till)
                        held = status["origins"][till.id]["held"]
                        assert held == SYNCED_SALES + 1  # its shift.opened and synced sales
                        missing = [e for e in till.held if e.seq > held]
                        assert len(missing) == UNSYNCED_SALES
                        answer = http.post(
                            server.url + "/api/v1/events",
                            json={"events": [envelope_dict(e) for e in missing], "mode": "replay"},
                            headers={"Authorization": f"Bearer {till.device}"},
                            timeout=TIMEOUT,
                        )
                        assert answer.status_code == 200, answer.text
                        assert answer.json()["acked"] == {till.id: till.seq}
                    after = _status(http, server.url, tills[0])["restore"]
                    assert after["recovered"] == len(tills) * UNSYNCED_SALES
                    assert all(after["origins"][t.id]["recovered"] == UNSYNCED_SALES for t in tills)
                    # Cashiers log in again with their PINs (restored as hashes) and sell on.
                    for till, cashier, pin in zip(tills, cashiers, CASHIER_PINS, strict=False):
                        login = http.post(
                            server.url + "/api/v1/sessions",
                            json={"staff": cashier, "pin": pin},
                            headers={"Authorization": f"Bearer {till.device}"},
                            timeout=TIMEOUT,
                        )
                        assert login.status_code == 201, login.text
                        till.token = login.json()["token"]
                    _sell(http, server.url, tills, catalog, 2)
                    head = restored.head()
                    after_restore = restored.rows(
                        "SELECT count(*) FROM event WHERE store_seq > ? AND origin LIKE ?",
                        (synced, f"{STORE}-r%"),
                    )[0][0]
                    assert after_restore == len(tills) * (UNSYNCED_SALES + 2)
                    wait_for(lambda: restored.cloud_cursor() == head, timeout=30, what="drained")
                finally:
                    server.process.send_signal(signal.SIGTERM)
                    server.process.wait(15)
                    server.log.close()
        finally:
            responder.stop()
    assert_converged(pg, restored)
    # Nothing any register made was lost: every event it sealed is in the cloud, once.
    made = {e.id for till in tills for e in till.held}
    in_cloud = {
        str(row[0])
        for row in pg.execute("SELECT id FROM event WHERE store = %s", (STORE,)).fetchall()
    }
    assert made <= in_cloud
    assert pg.execute(
        "SELECT generation FROM store_directory WHERE store = %s", (STORE,)
    ).fetchone() == (2,)
