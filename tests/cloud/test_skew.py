"""cloud.skew: which register clocks a batch shows wrong, and the `clock_skew` alert."""

from __future__ import annotations

import time

from cloud.ingest import decode_batch
from cloud.skew import SKEW_MS, skewed
from protocol.hlc import HLC, Clock
from protocol.ids import new_id
from tests.cloud.batches import batch, offline_till, received

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
