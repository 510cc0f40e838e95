"""The uplink (appliance/sync/uplink.py) against real Mosquitto, with a fake cloud that acks,
answers `expected` or stays silent. Each test has its own store id, so its topics are its own."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.app import create_app
from appliance.journal import record
from appliance.runtime import Runtime, open_runtime
from appliance.setup import init_store
from appliance.staff.registers import add_register
from appliance.sync.uplink import Uplink, parse_ack, read_batch, read_cursor, write_cursor
from protocol.canonical import canonical_json
from protocol.topics import acks_topic
from tests.appliance.sync.mqtt_fakes import SHARED_PORT, Broker, FakeCloud, wait_for
from tests.conftest import make_settings

FAST = {
    "mqtt_host": "127.0.0.1",
    "mqtt_tls": False,
    "sync_ack_timeout_ms": 300,
    "sync_ack_timeout_max_ms": 600,
    "sync_poll_ms": 20,
    "sync_heartbeat_ms": 60_000,
    # Sessions on the shared broker end soon after the test does.
    "mqtt_session_expiry_s": 30,
}


def _runtime(tmp_path: Path, **overrides: Any) -> Runtime:
    store = "u" + uuid.uuid4().hex[:12]
    root = tmp_path / store
    init_store(root, store=store, name="Uplink test")
    return open_runtime(make_settings(root, **{**FAST, "mqtt_port": SHARED_PORT, **overrides}))


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = _runtime(tmp_path)
    yield runtime
    runtime.close()


def _fill(rt: Runtime, n: int) -> None:
    """n events of the appliance's own origin, in one transaction."""
    with rt.db.write():
        for i in range(n):
            record(rt, type="cash.moved", body={"n": i}, actor=None)


class Running:
    """Uplinks and fake clouds a test started, stopped at its end whatever happened."""

    def __init__(self) -> None:
        self.stoppers: list[Any] = []

    def uplink(self, rt: Runtime) -> Uplink:
        link = Uplink(rt)
        link.start()
        self.stoppers.append(link.stop)
        return link

    def cloud(self, rt: Runtime, **kwargs: Any) -> FakeCloud:
        cloud = FakeCloud(rt.store, port=rt.settings.mqtt_port, **kwargs).start()
        self.stoppers.append(cloud.stop)
        return cloud


@pytest.fixture
def running() -> Iterator[Running]:
    started = Running()
    yield started
    for stop in reversed(started.stoppers):
        stop()


def test_batches_reach_the_broker_in_order_and_acks_advance_the_cursor(
    rt: Runtime, running: Running
) -> None:
    _fill(rt, 1200)
    cloud = running.cloud(rt)
    running.uplink(rt)
    wait_for(lambda: read_cursor(rt.db) == 1200, what="the cloud cursor at 1200")
    assert cloud.ranges() == [(1, 500), (501, 1000), (1001, 1200)]
    journal = [
        json.loads(row["envelope"])
        for row in rt.db.query("SELECT envelope FROM event ORDER BY store_seq")
    ]
    assert cloud.events == journal
    # Canonical JSON, envelopes as their origin sealed them.
    assert all(raw == canonical_json(json.loads(raw)) for raw in cloud.raw)

    _, token = add_register(rt, "Till")
    client = create_app(rt.settings, runtime=rt).test_client()
    head = int(rt.db.scalar("SELECT max(store_seq) FROM event"))
    wait_for(lambda: read_cursor(rt.db) == head, what="later events applied too")
    status = client.get("/api/v1/sync/status", headers={"Authorization": f"Bearer {token}"})
    body = status.get_json()
    assert body["connected"] is True
    assert body["cloud"] == f"127.0.0.1:{SHARED_PORT}"
    assert body["applied_through"] == head >= 1200
    assert body["last_ack_at"] is not None
    assert body["outbox"]["depth"] == 0
    assert body["outbox"]["oldest_received_at"] is None
    # Every origin's events are all applied, so a register may forget them all.
    assert body["origins"] and all(o["cloud"] == o["held"] for o in body["origins"].values())


def test_new_events_are_sent_as_they_come(rt: Runtime, running: Running) -> None:
    cloud = running.cloud(rt)
    running.uplink(rt)
    for n in (1, 3, 7):
        _fill(rt, n)
    wait_for(lambda: read_cursor(rt.db) == 11, what="all 11 applied")
    assert cloud.applied == 11 and len(cloud.events) == 11


def test_a_batch_stops_at_the_byte_limit(rt: Runtime) -> None:
    _fill(rt, 50)
    first = read_batch(rt.db, 1, max_events=500, max_bytes=4096)
    assert first is not None and 1 < first.count < 50
    assert len(first.payload) <= 4096
    assert json.loads(first.payload)["to"] == first.last
    # One event is always sent, even alone over the limit.
    lone = read_batch(rt.db, 7, max_events=500, max_bytes=10)
    assert lone is not None and (lone.first, lone.last) == (7, 7)
    assert read_batch(rt.db, 51, max_events=500, max_bytes=4096) is None


def test_a_batch_says_whether_the_limits_cut_it_short(rt: Runtime) -> None:
    # Only a batch cut short by the limits is read ahead and sent as read: one that ends at
    # the journal's head would leave out the events that come meanwhile.
    _fill(rt, 50)
    by_bytes = read_batch(rt.db, 1, max_events=500, max_bytes=4096)
    by_count = read_batch(rt.db, 1, max_events=50, max_bytes=1 << 20)
    tail = read_batch(rt.db, 45, max_events=500, max_bytes=1 << 20)
    assert by_bytes is not None and by_bytes.full
    assert by_count is not None and by_count.full and by_count.count == 50
    assert tail is not None and not tail.full and (tail.first, tail.last) == (45, 50)


def test_without_an_ack_the_same_batch_is_sent_again(rt: Runtime, running: Running) -> None:
    _fill(rt, 20)
    cloud = running.cloud(rt, silent=True)
    running.uplink(rt)
    wait_for(lambda: len(cloud.raw) >= 3, what="two resends")
    assert len(set(cloud.raw)) == 1  # the very same bytes each time
    assert read_cursor(rt.db) == 0
    cloud.silent = False
    wait_for(lambda: read_cursor(rt.db) == 20, what="the cursor after the cloud answers")


def test_expected_rewinds_the_uplink(rt: Runtime, running: Running) -> None:
    _fill(rt, 30)
    # The appliance believes the cloud has 1-10; the cloud (restored, say) has nothing.
    write_cursor(rt.db, 10, 0)
    cloud = running.cloud(rt)
    running.uplink(rt)
    wait_for(lambda: read_cursor(rt.db) == 30, what="all 30 applied after the rewind")
    ranges = cloud.ranges()
    assert ranges[0] == (11, 30)  # answered with {"expected": 1}
    assert ranges[1] == (1, 30)
    assert cloud.applied == 30 and len(cloud.events) == 30


def test_a_refused_batch_is_resent_on_the_timeout_not_at_once(
    rt: Runtime, running: Running
) -> None:
    _fill(rt, 10)
    cloud = running.cloud(rt, refuse=True)
    link = running.uplink(rt)
    wait_for(lambda: len(cloud.raw) >= 2, what="the first resend")
    # Answered with the cursor as it stands each time: resent after 300 ms, then 600 ms.
    start = len(cloud.raw)
    wait_for(lambda: len(cloud.raw) > start, what="the next resend")
    assert len(cloud.raw) <= 4, "a refused batch went round in a loop"
    assert read_cursor(rt.db) == 0 and link.client.is_connected()
    cloud.refuse = False
    wait_for(lambda: read_cursor(rt.db) == 10, what="applied once the cloud takes it")


def test_malformed_acks_are_logged_and_ignored(
    rt: Runtime, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(rt, 5)
    cloud = running.cloud(rt, silent=True)
    running.uplink(rt)
    wait_for(lambda: cloud.raw, what="the first batch")
    garbage = [
        b"not json",
        b"[5]",
        b'{"applied_through": "5"}',
        b'{"applied_through": true}',
        b'{"applied_through": -1}',
        b'{"expected": 0}',
        b'{"applied": 5}',
        b'{"applied_through": 5, "expected": 6}',
        b"\xff\xfe",
    ]
    with caplog.at_level(logging.WARNING, logger="appliance.sync.uplink"):
        for payload in garbage:
            cloud.ack(payload)
        cloud.ack({"applied_through": 999})  # beyond the journal: refused too
        cloud.ack({"applied_through": 3})
        wait_for(lambda: read_cursor(rt.db) == 3, what="the good ack after the bad ones")
    malformed = [r for r in caplog.records if "malformed ack" in r.getMessage()]
    assert len(malformed) == len(garbage)
    assert any("journal ends at 5" in r.getMessage() for r in caplog.records)
    # Still working: the rest goes and is acked.
    cloud.silent = False
    wait_for(lambda: read_cursor(rt.db) == 5, what="the rest")


def test_the_cursor_keeps_each_origins_applied_seq_forward_and_back(rt: Runtime) -> None:
    _fill(rt, 30)
    origin = rt.origin

    def cloud_seq() -> int:
        return int(rt.db.scalar("SELECT seq FROM cloud_origin WHERE origin = ?", (origin,)))

    write_cursor(rt.db, 12, 1)
    assert cloud_seq() == 12
    write_cursor(rt.db, 30, 2)
    assert cloud_seq() == 30
    write_cursor(rt.db, 7, 3)  # the cloud went back
    assert cloud_seq() == 7 and read_cursor(rt.db) == 7
    write_cursor(rt.db, 0, 4)
    assert rt.db.scalar("SELECT count(*) FROM cloud_origin") == 0


def test_parse_ack() -> None:
    assert parse_ack(b'{"applied_through": 7}') == ("applied_through", 7)
    assert parse_ack(b'{"expected": 1}') == ("expected", 1)
    assert parse_ack(b'{"applied_through": 0}') == ("applied_through", 0)
    assert parse_ack(b'{"expected": 2.5}') is None


@pytest.mark.slow
def test_a_broker_restart_mid_stream_loses_and_skips_nothing(
    tmp_path: Path, running: Running
) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        rt = _runtime(tmp_path, mqtt_port=broker.port, sync_batch_max_events=50)
        try:
            _fill(rt, 2000)
            cloud = running.cloud(rt)
            running.uplink(rt)
            wait_for(lambda: read_cursor(rt.db) >= 300, what="some batches through")
            # The cloud stops answering first, so the kill surely falls mid-stream.
            cloud.silent = True
            broker.kill()
            wait_for(lambda: not rt.link.connected, what="the uplink to notice")
            stalled = read_cursor(rt.db)
            assert stalled < 2000
            broker.start()
            cloud.silent = False
            wait_for(lambda: read_cursor(rt.db) == 2000, timeout=30, what="the rest")
            assert rt.link.connected
            journal = [
                json.loads(row["envelope"])
                for row in rt.db.query("SELECT envelope FROM event ORDER BY store_seq")
            ]
            assert cloud.events == journal  # every event once, in order
        finally:
            rt.close()
    finally:
        running.stoppers.reverse()
        for stop in running.stoppers:
            stop()
        running.stoppers.clear()
        broker.kill()


def test_the_last_will_says_offline_when_the_link_dies(rt: Runtime, running: Running) -> None:
    _fill(rt, 3)
    cloud = running.cloud(rt)
    link = running.uplink(rt)
    wait_for(lambda: read_cursor(rt.db) == 3, what="the events applied")
    online = wait_for(
        lambda: [s for s in list(cloud.statuses) if s.get("online")], what="online status"
    )
    assert set(online[0]) == {
        "online",
        "version",
        "outbox_depth",
        "oldest_unsynced_age_s",
        "printer",
        "catalog_version",
        "catalog_applied_ms",
    }
    assert online[0]["printer"] is None
    # Nothing pulled from the cloud's catalog yet: version 0, never applied.
    assert (online[0]["catalog_version"], online[0]["catalog_applied_ms"]) == (0, None)
    assert rt.link.connected
    seen = len(cloud.statuses)
    # Cut the connection under paho, as a dead network would: no DISCONNECT is sent.
    sock = link.client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    wait_for(lambda: {"online": False} in cloud.statuses[seen:], what="the Will's offline status")
    # paho reconnects by itself, and says online again.
    wait_for(lambda: any(s.get("online") for s in cloud.statuses[seen:]), timeout=15, what="online")
    wait_for(lambda: rt.link.connected, what="connected again")
    # A clean stop says offline too (the Will is not sent on a clean DISCONNECT).
    seen = len(cloud.statuses)
    link.stop()
    assert not rt.link.connected
    wait_for(lambda: {"online": False} in cloud.statuses[seen:], what="offline on stop")


def test_the_heartbeat_reports_the_outbox(tmp_path: Path, running: Running) -> None:
    rt = _runtime(tmp_path, sync_heartbeat_ms=100)
    try:
        _fill(rt, 4)
        cloud = running.cloud(rt, silent=True)
        running.uplink(rt)
        beats = wait_for(
            lambda: [s for s in list(cloud.statuses) if s.get("online")][2:], what="3 beats"
        )
        assert all(b["outbox_depth"] == 4 and b["oldest_unsynced_age_s"] >= 0 for b in beats)
        cloud.silent = False
        wait_for(
            lambda: any(s.get("outbox_depth") == 0 for s in list(cloud.statuses)),
            what="a beat after the ack",
        )
    finally:
        for stop in reversed(running.stoppers):
            stop()
        running.stoppers.clear()
        rt.close()


def test_tls_to_a_broker_with_a_private_ca(tmp_path: Path, running: Running) -> None:
    broker = Broker(tmp_path / "broker", tls=True).start()
    rt = _runtime(tmp_path, mqtt_port=broker.tls_port, mqtt_tls=True, mqtt_tls_ca=broker.ca)
    try:
        _fill(rt, 3)
        cloud = FakeCloud(rt.store, port=broker.port).start()
        running.stoppers.append(cloud.stop)
        running.uplink(rt)
        wait_for(lambda: read_cursor(rt.db) == 3, what="the batch over TLS")
        assert rt.link.connected
    finally:
        for stop in reversed(running.stoppers):
            stop()
        running.stoppers.clear()
        rt.close()
        broker.kill()


def test_no_cloud_configured_means_no_uplink(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, mqtt_host="")
    try:
        with pytest.raises(ValueError, match="no cloud"):
            Uplink(rt)
    finally:
        rt.close()


def test_acks_topic_is_per_store() -> None:
    assert acks_topic("s01") == "tillbox/v1/stores/s01/acks"
