"""Fault 4: `kill -9` of the appliance between publish and ack, 50 rounds.

The appliance runs as the real `tillbox appliance serve` process with its uplink (MQTT settings
in its data dir's tillbox.toml) to a private Mosquitto and the cloud's ingest worker. Two
registers push sales to it over HTTP while it runs. Each round the process is SIGKILLed: half
the rounds at a random moment, the other half the instant a spy on the broker sees it publish
a batch, before the cloud's ack can come back. It is started again on the same data, the
registers replay what got no answer (as their outbox would) and sell on. After the last round
the appliance drains to the cloud, and the cloud holds exactly its journal.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import requests
from paho.mqtt.enums import CallbackAPIVersion

from appliance.settings import load_settings, write_settings_file
from protocol.topics import events_topic
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import Journal, assert_converged
from tests.faults.test_crash import STORE, Appliance, Push, Till, _open_tills, _post, _setup_store
from tests.faults.trading import ingest_worker, private_broker

Conn = psycopg.Connection[Any]
ROUNDS = 50
SELLERS = 2
# Between the pushes of one register: a busy shop, not a benchmark.
PACE_S = 0.01


class Spy:
    """Watches the store's batches on the broker; armed, it SIGKILLs the appliance the moment
    one is published (the worker has it too, its ack is not back yet)."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self._pid: int | None = None
        self.fired = threading.Event()
        self.killed_after: tuple[int, int] | None = None
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="spy", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda client, *_: client.subscribe(events_topic(STORE), qos=0)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def arm(self, pid: int) -> None:
        with self.lock:
            self._pid, self.killed_after = pid, None
            self.fired.clear()

    def disarm(self) -> None:
        with self.lock:
            self._pid = None

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            if self._pid is None:
                return
            os.kill(self._pid, signal.SIGKILL)
            self._pid = None
        payload = bytes(message.payload)
        # Only the frame's tail is read: `...],"from":a,"to":b}`.
        tail = payload[payload.rindex(b'"from":') :].rstrip(b"}")
        first, last = (int(part.split(b":")[1]) for part in tail.split(b","))
        self.killed_after = (first, last)
        self.fired.set()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sell(till: Till, url: str, catalog: list[tuple[str, int]]) -> None:
    """Replay what got no answer, then sell until the line drops. A refusal is a failure."""
    try:
        with requests.Session() as http:
            outbox = [push for push in till.pushes if push.status is None]
            if outbox:
                try:
                    answer = _post(http, url, till, [p.envelope for p in outbox], "replay")
                except requests.RequestException:
                    return
                for push in outbox:
                    push.status = answer.status_code
                    push.error = None if answer.ok else answer.text
                if not answer.ok:
                    return
            while True:
                envelope = till.sale(catalog)
                push = Push(envelope=envelope, sent=time.monotonic())
                till.pushes.append(push)
                try:
                    answer = _post(http, url, till, [envelope], "live")
                except requests.RequestException:
                    return
                push.status = answer.status_code
                if not answer.ok:
                    push.error = answer.text
                    return
                time.sleep(PACE_S)
    except BaseException as exc:  # reported by the main thread
        till.failure = exc


def test_kill_9_of_the_appliance_between_publish_and_ack_50_rounds(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    rng = random.Random(4)
    data_dir = tmp_path / "store"
    cashiers, catalog = _setup_store(data_dir, tmp_path)
    journal = Journal(STORE, data_dir / "tillbox.sqlite3")
    log = tmp_path / "serve.log"
    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port) as worker,
        requests.Session() as http,
    ):
        assert worker.wait_subscribed()
        write_settings_file(
            load_settings(data_dir, env={}),
            mqtt_host="127.0.0.1",
            mqtt_port=broker.port,
            mqtt_tls=False,
            sync_ack_timeout_ms=300,
            sync_ack_timeout_max_ms=600,
            sync_poll_ms=20,
            sync_batch_max_events=10,
        )
        spy = Spy(broker.port)
        server = Appliance(data_dir, log)
        try:
            server.wait_healthy(http)
            tills = _open_tills(http, server.url, cashiers)[:SELLERS]
            between_publish_and_ack = 0
            for round_ in range(ROUNDS):
                if round_:
                    server = Appliance(data_dir, log)
                    server.wait_healthy(http)
                    # Back, before anyone sells: what was in flight when it died goes again
                    # as it was (the cloud may hold it already and must answer all the same).
                    newest = journal.head()
                    wait_for(
                        lambda newest=newest: journal.cloud_cursor() == newest,
                        timeout=15,
                        what=f"the appliance to catch up after kill {round_}",
                    )
                threads = [
                    threading.Thread(target=sell, args=(till, server.url, catalog))
                    for till in tills
                ]
                for thread in threads:
                    thread.start()
                if round_ % 2:
                    spy.arm(server.process.pid)
                    if not spy.fired.wait(3):
                        spy.disarm()
                else:
                    time.sleep(rng.uniform(0.05, 0.4))  # the moment of the kill, at random
                server.kill()
                server.stop()
                for thread in threads:
                    thread.join(10)
                if spy.killed_after is not None:
                    if journal.cloud_cursor() < spy.killed_after[1]:
                        between_publish_and_ack += 1
                    spy.killed_after = None
                for till in tills:
                    if till.failure is not None:
                        raise till.failure
                    refused = [p.error for p in till.pushes if p.error is not None]
                    assert not refused, refused

            # The last start: the registers' outboxes go in, and the journal drains.
            server = Appliance(data_dir, log)
            server.wait_healthy(http)
            for till in tills:
                outbox = [push for push in till.pushes if push.status is None]
                if outbox:
                    answer = _post(http, server.url, till, [p.envelope for p in outbox], "replay")
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["acked"] == {till.id: till.seq}
            head = journal.head()
            wait_for(
                lambda: journal.cloud_cursor() == head,
                timeout=60,
                what="the appliance's cloud cursor to reach its head",
            )
        finally:
            with contextlib.suppress(Exception):
                spy.stop()
            server.stop()

    # Every sale each register sealed is in the journal; the cloud holds exactly the journal.
    held = journal.events()
    for till in tills:
        seqs = sorted(seq for origin, seq, _ in held.values() if origin == till.id)
        assert seqs == list(range(1, till.seq + 1)), till.id
    assert_converged(pg, journal)
    assert between_publish_and_ack >= ROUNDS // 5, between_publish_and_ack
