"""Fault 5: duplicated, reordered and delayed messages between the appliance and the broker,
injected by an MQTT-aware proxy (tests/faults/mqtt_proxy.py): the appliance's batches and
statuses on the way up, the cloud's acks on the way down. The cloud applies each batch once
and the appliance ignores stale acks, so the store converges."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import psycopg

from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import assert_converged
from tests.faults.mqtt_proxy import Chaos, MqttProxy, read_packet
from tests.faults.trading import TradingStore, ingest_worker, private_broker, uplink

Conn = psycopg.Connection[Any]


def test_the_proxy_reads_whole_packets_whatever_the_length_of_their_length() -> None:
    packets = [
        b"\xc0\x00",  # PINGREQ: no body
        b"\x32\x05" + b"abcde",
        b"\x30\xc8\x01" + b"x" * 200,  # 200: two bytes of length
        b"\x3a\x80\x80\x01" + b"y" * 16384,  # 16384: three bytes
        b"\x30\x80\x80\x80\x01" + b"z" * 2_097_152,  # 2 MiB: four bytes
    ]
    stream = io.BytesIO(b"".join(packets) + b"\x30\x05ab")  # and a packet cut short
    assert [read_packet(stream) for _ in packets] == packets
    assert read_packet(stream) is None
    assert read_packet(stream) is None


def test_duplicated_reordered_and_delayed_publishes_both_ways_converge(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    shop = TradingStore(tmp_path / "store")
    head = shop.trade(days=1)
    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port) as worker,
    ):
        assert worker.wait_subscribed()
        proxy = MqttProxy(
            broker.port,
            # Batches held past the ack timeout (0.5 s) are overtaken by their own resends,
            # acks by the re-acks of those.
            up=Chaos(duplicate=0.2, delay=0.1, swap=0.1, delay_s=(0.1, 0.7)),
            down=Chaos(duplicate=0.2, delay=0.1, swap=0.1, delay_s=(0.05, 0.4)),
            # With this seed each direction's first 30 PUBLISHes meet every fault 3 times.
            seed=35,
        ).start()
        try:
            with uplink(shop.uplink_runtime(proxy.port, sync_batch_max_events=5)):
                wait_for(
                    lambda: shop.journal.cloud_cursor() == head,
                    timeout=60,
                    what="the appliance's cloud cursor to reach its head",
                )
        finally:
            proxy.stop()
    stats = dict(proxy.stats)
    for direction in ("up", "down"):
        for fault in ("duplicated", "delayed", "held", "reordered"):
            assert stats.get(f"{direction} {fault}", 0) > 0, stats
    assert_converged(pg, shop.journal)
    assert pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (0,)
