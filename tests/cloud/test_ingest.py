"""cloud.ingest against the real PostgreSQL: once-only batches, gaps, poison, identity, chains."""

from __future__ import annotations

import threading
import time
from typing import Any

import msgspec
import psycopg

from cloud.ingest import MAX_PAYLOAD_BYTES, _literal, ingest_batch
from cloud.migrate import connect
from protocol.envelope import envelope_dict
from protocol.ids import new_id
from tests.cloud.batches import batch, offline_till, received

Conn = psycopg.Connection[Any]


def count(pg: Conn, sql: str, *args: Any) -> int:
    row = pg.execute(sql.encode(), args).fetchone()
    assert row is not None
    return int(row[0])


def cursor(pg: Conn, store: str = "s01") -> int | None:
    row = pg.execute(
        "SELECT applied_through FROM store_cursor WHERE store = %s", (store,)
    ).fetchone()
    return None if row is None else int(row[0])


def alerts(pg: Conn) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (kind, store, details)
        for kind, store, details in pg.execute("SELECT kind, store, details FROM alert ORDER BY id")
    ]


def test_a_batch_applies_once_and_a_repeat_gets_the_same_ack(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    payload = batch(1, [received(till, variant, 4), received(till, variant, 3)])

    assert ingest_batch(pg, "s01", payload) == {"applied_through": 2}
    assert ingest_batch(pg, "s01", payload) == {"applied_through": 2}

    assert count(pg, "SELECT count(*) FROM event") == 2
    assert count(pg, "SELECT count(*) FROM stock_ledger") == 2
    assert count(pg, "SELECT qty FROM on_hand WHERE store = 's01' AND variant = %s", variant) == 7
    assert pg.execute("SELECT id, store, last_seq FROM origin").fetchall() == [
        ("s01-r01", "s01", 2)
    ]
    assert cursor(pg) == 2
    assert alerts(pg) == []
    stored = pg.execute("SELECT envelope FROM event WHERE seq = 1").fetchone()
    assert (
        stored is not None
        and stored[0]["hash"] == msgspec.json.decode(payload)["events"][0]["hash"]
    )


def test_a_batch_overlapping_what_is_applied_adds_only_the_new_events(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    events = [received(till, variant, 1) for _ in range(4)]
    assert ingest_batch(pg, "s01", batch(1, events[:2])) == {"applied_through": 2}
    # A resend that crossed the ack: 1..4 after 1..2 was applied.
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 4}
    assert count(pg, "SELECT count(*) FROM event") == 4
    assert count(pg, "SELECT qty FROM on_hand WHERE variant = %s", variant) == 4


def test_a_gap_is_answered_with_the_store_seq_expected(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    events = [received(till, variant, 1) for _ in range(5)]
    assert ingest_batch(pg, "s01", batch(1, events[:2])) == {"applied_through": 2}
    assert ingest_batch(pg, "s01", batch(4, events[3:])) == {"expected": 3}
    assert count(pg, "SELECT count(*) FROM event") == 2
    assert cursor(pg) == 2
    # A first batch that does not start at 1 is a gap too.
    other = offline_till("s02", "s02-r01")
    assert ingest_batch(pg, "s02", batch(3, [received(other, variant, 1)])) == {"expected": 1}


def test_a_poison_payload_is_kept_byte_for_byte_and_alerted_and_the_cursor_stays(
    pg: Conn,
) -> None:
    till = offline_till()
    assert ingest_batch(pg, "s01", batch(1, [received(till, new_id(), 1)])) == {
        "applied_through": 1
    }
    junk = b'{"from": 2, "to": 2, "events": [\xff\xfe not json'
    assert ingest_batch(pg, "s01", junk) == {"applied_through": 1}

    rows = pg.execute("SELECT topic, store, raw, reason FROM dead_letter").fetchall()
    assert len(rows) == 1
    topic, store, raw, reason = rows[0]
    assert (topic, store, bytes(raw)) == ("tillbox/v1/stores/s01/events", "s01", junk)
    assert reason.startswith("not JSON")
    assert [(kind, s) for kind, s, _ in alerts(pg)] == [("poison", "s01")]
    assert cursor(pg) == 1
    assert count(pg, "SELECT count(*) FROM event") == 1


def test_well_formed_json_that_is_not_a_valid_batch_is_poison_too(pg: Conn) -> None:
    till = offline_till()
    good = received(till, new_id(), 1)
    broken_body = envelope_dict(good) | {"body": {"lines": []}}
    cases = [
        b"[]",
        b'{"from": 1, "to": 2, "events": []}',
        batch(1, [good]).replace(b'"to":1', b'"to":2'),
        batch(1, [good]).replace(b'"type":"stock.received"', b'"type":"stock.stolen"'),
        msgspec.json.encode({"from": 1, "to": 1, "events": [broken_body]}),
        b" " * (MAX_PAYLOAD_BYTES + 1),
    ]
    for payload in cases:
        assert ingest_batch(pg, "s01", payload) == {"applied_through": 0}
    assert count(pg, "SELECT count(*) FROM dead_letter") == len(cases)
    assert count(pg, "SELECT count(*) FROM alert WHERE kind = 'poison'") == len(cases)
    assert count(pg, "SELECT count(*) FROM event") == 0
    # The good event itself still lands afterwards: nothing stalled.
    assert ingest_batch(pg, "s01", batch(1, [good])) == {"applied_through": 1}


def test_another_stores_events_are_refused_and_nothing_is_written(pg: Conn) -> None:
    mine = offline_till("s01", "s01-r01")
    theirs = offline_till("s02", "s02-r01")
    assert ingest_batch(pg, "s01", batch(1, [received(mine, new_id(), 1)])) == {
        "applied_through": 1
    }
    payload = batch(2, [received(theirs, new_id(), 5)])

    assert ingest_batch(pg, "s01", payload) == {"applied_through": 1}

    assert count(pg, "SELECT count(*) FROM event") == 1
    assert pg.execute("SELECT id FROM origin ORDER BY id").fetchall() == [("s01-r01",)]
    assert count(pg, "SELECT count(*) FROM store WHERE id = 's02'") == 0
    raw = pg.execute("SELECT raw FROM dead_letter").fetchone()
    assert raw is not None and bytes(raw[0]) == payload
    assert [(kind, store) for kind, store, _ in alerts(pg)] == [("wrong_store", "s01")]


def test_an_origin_of_another_store_inside_an_envelope_is_refused(pg: Conn) -> None:
    theirs = offline_till("s02", "s02-r01")
    env = envelope_dict(received(theirs, new_id(), 1)) | {"store": "s01"}
    payload = msgspec.json.encode({"from": 1, "to": 1, "events": [env]})
    assert ingest_batch(pg, "s01", payload) == {"applied_through": 0}
    assert count(pg, "SELECT count(*) FROM origin") == 0
    assert count(pg, "SELECT count(*) FROM dead_letter") == 1
    assert [kind for kind, _, _ in alerts(pg)] == ["poison"]


def test_new_origins_of_the_store_are_registered(pg: Conn) -> None:
    one, two = offline_till("s01", "s01-r01"), offline_till("s01", "s01-r02")
    appliance = offline_till("s01", "s01-ap")
    variant = new_id()
    events = [received(one, variant, 1), received(two, variant, 1), received(appliance, variant, 1)]
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 3}
    assert pg.execute("SELECT id, last_seq FROM origin ORDER BY id").fetchall() == [
        ("s01-ap", 1),
        ("s01-r01", 1),
        ("s01-r02", 1),
    ]


def test_a_broken_chain_raises_an_alert_and_keeps_the_events(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    first = received(till, variant, 1)
    second = received(till, variant, 2)
    # Another register claiming to be s01-r01 carries on from a different seq 1.
    impostor = offline_till()
    impostor.seq, impostor.prev = 1, "0" * 64
    forged = received(impostor, variant, 5)
    assert forged.seq == 2 and forged.prev != first.hash
    assert ingest_batch(pg, "s01", batch(1, [first, forged])) == {"applied_through": 2}
    # And an origin that jumps from seq 2 to seq 4 (3 never reached the cloud).
    received(till, variant, 1)
    jumped = received(till, variant, 1)
    assert ingest_batch(pg, "s01", batch(3, [jumped])) == {"applied_through": 3}

    assert count(pg, "SELECT count(*) FROM event") == 3
    assert [(kind, details["seq"]) for kind, _, details in alerts(pg)] == [
        ("chain_broken", 2),
        ("chain_broken", 4),
    ]
    assert second.seq == 2  # the genuine seq 2 is the one the cloud never saw


def test_an_event_that_does_not_match_its_hash_is_refused_and_the_genuine_one_lands(
    pg: Conn,
) -> None:
    """A copy of the next events with one edited after sealing, sent ahead of the appliance:
    kept, it would hold the genuine event's store_seq and the resend would skip it."""
    till = offline_till()
    variant = new_id()
    genuine = [received(till, variant, 2), received(till, variant, 3)]
    edited = envelope_dict(genuine[1])
    edited["body"]["lines"][0]["qty"] = 30
    tampered = msgspec.json.encode(
        {"from": 1, "to": 2, "events": [envelope_dict(genuine[0]), edited]}
    )
    assert ingest_batch(pg, "s01", tampered) == {"applied_through": 0}
    assert count(pg, "SELECT count(*) FROM event") == 0
    assert pg.execute("SELECT raw FROM dead_letter").fetchall() == [(tampered,)]
    assert [(kind, details["reason"]) for kind, _, details in alerts(pg)] == [
        ("chain_broken", f"event {genuine[1].id} does not match its hash")
    ]
    assert ingest_batch(pg, "s01", batch(1, genuine)) == {"applied_through": 2}
    assert count(pg, "SELECT sum(qty) FROM on_hand") == 5


def test_a_500_event_batch_goes_through_copy_and_is_quick(pg: Conn) -> None:
    till = offline_till()
    variants = [new_id() for _ in range(50)]
    events = [received(till, variants[i % 50], 1 + i % 3) for i in range(500)]
    payload = batch(1, events)
    assert len(payload) < 256 * 1024
    started = time.perf_counter()
    assert ingest_batch(pg, "s01", payload) == {"applied_through": 500}
    elapsed = time.perf_counter() - started

    assert count(pg, "SELECT count(*) FROM event") == 500
    assert count(pg, "SELECT count(*) FROM stock_ledger") == 500
    assert count(pg, "SELECT sum(qty) FROM on_hand") == sum(1 + i % 3 for i in range(500))
    assert elapsed < 2.0, elapsed


def test_a_small_batch_whose_events_are_held_already_goes_the_careful_way(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    events = [received(till, variant, 2) for _ in range(3)]
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 3}
    # The pipelined INSERT meets the held events, the batch goes again carefully, and the
    # connection is left as it was (the next batch applies).
    pg.execute("UPDATE store_cursor SET applied_through = 0")
    pg.execute("UPDATE origin SET last_seq = 0, last_hash = NULL")
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 3}
    assert count(pg, "SELECT count(*) FROM event") == 3
    assert count(pg, "SELECT sum(qty) FROM on_hand") == 6
    assert alerts(pg) == []
    assert ingest_batch(pg, "s01", batch(4, [received(till, variant, 1)])) == {"applied_through": 4}
    assert count(pg, "SELECT sum(qty) FROM on_hand") == 7
    assert pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_a_large_batch_whose_events_are_held_already_goes_the_careful_way(pg: Conn) -> None:
    till = offline_till()
    variants = [new_id() for _ in range(50)]
    events = [received(till, variants[i % 50], 1) for i in range(300)]
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 300}
    # A cloud restored from an older backup of its cursor: the straight COPY meets the held
    # events, and the batch is applied again without them, nothing counted twice.
    pg.execute("UPDATE store_cursor SET applied_through = 0")
    pg.execute("UPDATE origin SET last_seq = 0, last_hash = NULL")
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 300}
    assert count(pg, "SELECT count(*) FROM event") == 300
    assert count(pg, "SELECT count(*) FROM stock_ledger") == 300
    assert count(pg, "SELECT sum(qty) FROM on_hand") == 300
    assert alerts(pg) == []
    # Other events at the same store_seq: kept out, and each one alerted.
    pg.execute("UPDATE store_cursor SET applied_through = 0")
    others = [received(offline_till(origin="s01-r02"), variants[0], 1) for _ in range(150)]
    assert ingest_batch(pg, "s01", batch(1, others)) == {"applied_through": 150}
    assert count(pg, "SELECT count(*) FROM event") == 300
    assert [kind for kind, _, _ in alerts(pg)] == ["event_conflict"] * 150
    # The staging table is emptied at commit.
    assert count(pg, "SELECT count(*) FROM event_in") == 0


def test_two_workers_given_the_same_batch_apply_it_once(cloud_dsn: str) -> None:
    """The shared subscription can hand a resent batch to a second worker while the first is
    still applying it: the cursor lock makes the second wait, then re-ack."""
    till = offline_till()
    variant = new_id()
    payload = batch(1, [received(till, variant, 1) for _ in range(150)])
    acks: list[dict[str, int]] = []

    def worker() -> None:
        with connect(cloud_dsn) as conn:
            acks.append(ingest_batch(conn, "s01", payload))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert acks == [{"applied_through": 150}] * 2
    with connect(cloud_dsn) as conn:
        assert count(conn, "SELECT count(*) FROM event") == 150
        assert count(conn, "SELECT count(*) FROM stock_ledger") == 150
        assert count(conn, "SELECT qty FROM on_hand WHERE variant = %s", variant) == 150


def test_array_literals_carry_any_value_exactly(pg: Conn) -> None:
    values: list[Any] = [
        "null",
        "NULL",
        "a,b",
        "{x}",
        '"q"',
        "back\\slash",
        " lead",
        "trail ",
        "",
        "Größe 38",
        "tab\there",
        "01a216d0-9dbb-7104-bd71-0f0d0efc1700",
        "s01-r01",
        '{"json": "with \\"quotes\\" and \\\\"}',
        None,
        0,
        -12,
        2**53,
    ]
    row = pg.execute(
        "SELECT %s::text[]", (_literal([tuple(values), tuple(reversed(values))]),)
    ).fetchone()
    assert row is not None
    expected = [None if v is None else str(v) for v in values]
    assert row[0] == [expected, list(reversed(expected))]
