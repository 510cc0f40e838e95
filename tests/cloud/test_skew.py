"""cloud.skew: which register clocks a batch shows wrong, and the `clock_skew` alert."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from cloud.ingest import decode_batch, ingest_batch
from cloud.skew import SKEW_MS, skewed
from protocol.hlc import HLC, Clock
from protocol.ids import new_id
from tests.cloud.batches import batch, offline_till, received

Conn = psycopg.Connection[Any]
HOUR_MS = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_stamp_ahead_of_the_clouds_clock_or_far_from_its_at_is_skew_and_late_is_not() -> None:
    now = now_ms()
    fast, slow, fine = (
        offline_till(origin="s01-r01"),
        offline_till(origin="s01-r02"),
        offline_till(origin="s01-r03"),
    )
    fast.wall.ms, slow.wall.ms, fine.wall.ms = now + 2 * HOUR_MS, now - 2 * HOUR_MS, now
    # A register whose wall clock was set back an hour: its HLC holds on, its `at` does not.
    reset = offline_till(origin="s01-r04")
    reset.wall.ms = now - HOUR_MS
    reset.clock = Clock("s01-r04", wall=reset.wall, last=HLC(now, 0, "s01-r04"))
    variant = new_id()
    events = [received(till, variant, 1) for till in (fast, slow, fine, reset, fast)]
    found = skewed(decode_batch("s01", batch(1, events)).items, now)

    assert set(found) == {"s01-r01", "s01-r04"}
    ahead = found["s01-r01"]
    assert ahead["events"] == 2 and ahead["event"] == events[0].id
    assert 2 * HOUR_MS <= ahead["ahead_ms"] <= 2 * HOUR_MS + 3000
    assert ahead["hlc_minus_at_ms"] == 0
    assert found["s01-r04"]["events"] == 1
    assert found["s01-r04"]["hlc_minus_at_ms"] >= HOUR_MS - 1000


def test_within_the_hlcs_five_minutes_is_not_skew() -> None:
    now = now_ms()
    till = offline_till()
    till.wall.ms = now + SKEW_MS - 10_000
    events = [received(till, new_id(), 1)]
    assert skewed(decode_batch("s01", batch(1, events)).items, now) == {}


def test_ingest_raises_one_clock_skew_alert_per_origin_per_batch_and_none_on_a_resend(
    pg: Conn,
) -> None:
    now = now_ms()
    fast, fine = offline_till(origin="s01-r01"), offline_till(origin="s01-r02")
    fast.wall.ms, fine.wall.ms = now + 2 * HOUR_MS, now - 3 * HOUR_MS
    variant = new_id()
    first = batch(1, [received(till, variant, 1) for till in (fast, fine, fast, fast)])
    second = batch(5, [received(till, variant, 1) for till in (fine, fast)])

    assert ingest_batch(pg, "s01", first) == {"applied_through": 4}
    assert ingest_batch(pg, "s01", first) == {"applied_through": 4}
    assert ingest_batch(pg, "s01", second) == {"applied_through": 6}

    raised = pg.execute("SELECT kind, store, details FROM alert ORDER BY id").fetchall()
    assert [(kind, store, d["origin"], d["events"]) for kind, store, d in raised] == [
        ("clock_skew", "s01", "s01-r01", 3),
        ("clock_skew", "s01", "s01-r01", 1),
    ]
    assert all(2 * HOUR_MS - 60_000 < d["ahead_ms"] < 2 * HOUR_MS + 60_000 for *_, d in raised)
    # The events are kept as they came: a wrong clock is for HQ to know, not a reason to refuse.
    assert pg.execute("SELECT count(*) FROM event").fetchone() == (6,)
