"""Fault 7: poison messages on a store's events topic, published by an attacker with access to
the broker between the appliance's good batches: not JSON, JSON that is not a batch, an
envelope that does not decode, a payload over cloud.ingest's 16 MiB limit, another store's
events, and a batch whose event no longer matches its hash (tampered after it was sealed).
Every good event lands exactly once, the queue never stalls, and each poison is kept in
`dead_letter` with its exact bytes and raises an alert of its kind."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from cloud.ingest import MAX_PAYLOAD_BYTES
from protocol.canonical import canonical_json
from protocol.envelope import decode_envelope, envelope_dict, format_at, seal, verify_hash
from protocol.hlc import Clock
from protocol.ids import new_id
from protocol.topics import events_topic
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.faults.invariants import Journal, assert_converged
from tests.faults.trading import STORE, TradingStore, ingest_worker, private_broker, uplink

Conn = psycopg.Connection[Any]
TOPIC = events_topic(STORE)


class Attacker:
    """A raw paho client with the right to publish on the store's topics."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="attacker", protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, payload: bytes) -> None:
        info = self.client.publish(TOPIC, payload, qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def batch_of(events: list[dict[str, Any]], first: int) -> bytes:
    """A batch exactly as the uplink frames one."""
    parts = b",".join(canonical_json(event) for event in events)
    return b'{"events":[' + parts + b'],"from":%d,"to":%d}' % (first, first + len(events) - 1)


def journal_events(journal: Journal, first: int, last: int) -> list[dict[str, Any]]:
    """The journal's envelopes of store_seq first..last, as stored."""
    conn = sqlite3.connect(f"file:{journal.path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT envelope FROM event WHERE store_seq BETWEEN ? AND ? ORDER BY store_seq",
            (first, last),
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(row[0]) for row in rows]


def tampered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with the first sale's first line's quantity raised, its hash left alone:
    a broken hash chain, as if someone edited a sale after it was sealed."""
    changed = json.loads(json.dumps(events))
    sale = next(e for e in changed if e["type"] == "sale.completed")
    sale["body"]["lines"][0]["qty"] += 5
    return changed


def another_stores_batch() -> bytes:
    """A well-formed, correctly sealed event of store s02, for s01's topic."""
    origin = "s02-r01"
    envelope = seal(
        id=new_id(),
        type="shift.opened",
        store="s02",
        origin=origin,
        seq=1,
        hlc=str(Clock(origin).now()),
        at=format_at(1_795_000_000_000),
        actor=None,
        override=None,
        body={"shift": new_id(), "float": {"counts": {"100": 1}, "total": 100}},
        prev=None,
    )
    return batch_of([envelope_dict(envelope)], 1)


def assert_dead_lettered(pg: Conn, poisons: list[tuple[bytes, str]]) -> None:
    """Each poison is one dead letter with its exact bytes, and one alert of its kind."""
    letters = pg.execute("SELECT raw, topic, store, reason FROM dead_letter ORDER BY id").fetchall()
    alerts = pg.execute(
        "SELECT kind, store, details->>'reason', details->>'topic' FROM alert ORDER BY id"
    ).fetchall()
    assert sorted(bytes(raw) for raw, *_ in letters) == sorted(p for p, _ in poisons)
    for payload, kind in poisons:
        ((_, topic, store, reason),) = [row for row in letters if bytes(row[0]) == payload]
        assert (topic, store) == (TOPIC, STORE)
        assert (kind, STORE, reason, TOPIC) in alerts, (kind, reason, alerts)
    assert sorted(kind for kind, *_ in alerts) == sorted(kind for _, kind in poisons)


def assert_as_sealed(pg: Conn) -> None:
    """What the cloud holds is what was sealed: every event matches its hash."""
    for (envelope,) in pg.execute("SELECT envelope FROM event"):
        assert verify_hash(decode_envelope(envelope)), envelope["id"]


def test_poison_between_good_batches_is_dead_lettered_and_alerted_and_the_rest_lands(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    shop = TradingStore(tmp_path / "store")
    head = shop.trade(days=3)
    poisons: list[tuple[bytes, str]] = []  # (payload, alert kind)
    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port) as worker,
    ):
        assert worker.wait_subscribed()
        attacker = Attacker(broker.port)
        try:
            with uplink(shop.uplink_runtime(broker.port, sync_batch_max_events=10)):
                wait_for(lambda: shop.journal.cloud_cursor() >= 10, what="a first ack")
                for payload in (
                    b'{"from":1,"to":1,"events":[{"id":"01',
                    b'{"applied_through":3}',
                    b'{"events":[{"id":"nope","v":1}],"from":1,"to":1}',
                ):
                    attacker.publish(payload)
                    poisons.append((payload, "poison"))
                wait_for(
                    lambda: shop.journal.cloud_cursor() >= head // 2,
                    timeout=30,
                    what="half of the journal in the cloud",
                )
                huge = b'{"events":[],"from":1,"to":1,"pad":"' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
                for payload, kind in ((huge, "poison"), (another_stores_batch(), "wrong_store")):
                    attacker.publish(payload)
                    poisons.append((payload, kind))
                wait_for(
                    lambda: shop.journal.cloud_cursor() == head,
                    timeout=60,
                    what="everything in the cloud",
                )
                # The queue did not stall behind the poison: every message was handled.
                wait_for(
                    lambda: (
                        pg.execute("SELECT count(*) FROM dead_letter").fetchone() == (len(poisons),)
                    ),
                    what="every poison in dead_letter",
                )
        finally:
            attacker.stop()
        assert worker.counters.errors == 0
    assert_converged(pg, shop.journal)
    assert_as_sealed(pg)
    assert_dead_lettered(pg, poisons)


def test_a_tampered_copy_of_the_next_events_does_not_take_the_genuine_ones_place(
    tmp_path: Path, pg: Conn, cloud_dsn: str
) -> None:
    """The attacker sends the store's next events before its appliance does, one sale edited
    after it was sealed (its hash no longer matches), just where the cloud's cursor is."""
    shop = TradingStore(tmp_path / "store")
    first_head = shop.trade(days=1)
    with (
        private_broker(tmp_path / "broker") as broker,
        ingest_worker(cloud_dsn, broker.port) as worker,
    ):
        assert worker.wait_subscribed()
        with uplink(shop.uplink_runtime(broker.port)):
            wait_for(
                lambda: shop.journal.cloud_cursor() == first_head,
                timeout=30,
                what="the first day in the cloud",
            )
        head = shop.trade(days=1)  # sold while the uplink is away
        events = journal_events(shop.journal, first_head + 1, first_head + 10)
        broken = batch_of(tampered(events), first_head + 1)
        attacker = Attacker(broker.port)
        try:
            handled = worker.counters.batches
            attacker.publish(broken)
            wait_for(lambda: worker.counters.batches > handled, what="the tampered batch")
        finally:
            attacker.stop()
        with uplink(shop.uplink_runtime(broker.port)):
            wait_for(
                lambda: shop.journal.cloud_cursor() == head,
                timeout=30,
                what="everything in the cloud",
            )
    assert_converged(pg, shop.journal)
    assert_as_sealed(pg)
    assert_dead_lettered(pg, [(broken, "chain_broken")])
