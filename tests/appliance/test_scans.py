"""The scan bus (appliance/scans.py): one register's scans reach only its stream, a newer
stream replaces an older one, and a reconnect with Last-Event-ID gets exactly what it missed."""

from __future__ import annotations

import threading
import time

import pytest

from appliance.errors import Unavailable
from appliance.scans import Scan, ScanBus, Stream, StreamEnd


class Monotonic:
    """A monotonic clock moved by hand, for the replay window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _publish(bus: ScanBus, register: str, code: str) -> Scan:
    return bus.publish(register, code, source="test", at_ms=1_795_000_000_000).scan


def _drain(stream: Stream) -> list[Scan | StreamEnd]:
    items: list[Scan | StreamEnd] = []
    while (item := stream.next(0)) is not None:
        items.append(item)
    return items


def test_a_scan_reaches_only_its_registers_stream() -> None:
    bus = ScanBus()
    front, _ = bus.subscribe("s01-r01", None, limit=10)
    back, _ = bus.subscribe("s01-r02", None, limit=10)
    scan = _publish(bus, "s01-r01", "4006381333931")
    assert _drain(front) == [scan]
    assert _drain(back) == []
    published = bus.publish("s01-r03", "96385074", source="test", at_ms=0)
    assert not published.streaming
    assert _drain(front) == [] and _drain(back) == []


def test_a_newer_stream_replaces_the_older_one() -> None:
    bus = ScanBus()
    older, _ = bus.subscribe("s01-r01", None, limit=10)
    newer, _ = bus.subscribe("s01-r01", None, limit=10)
    scan = _publish(bus, "s01-r01", "TB-0001")
    assert _drain(older) == [StreamEnd("superseded")]
    assert _drain(newer) == [scan]
    # The older request ending afterwards must not take the newer stream off the bus.
    bus.unsubscribe(older)
    assert _publish(bus, "s01-r01", "TB-0002") in _drain(newer)
    assert bus.active == 1
    bus.unsubscribe(newer)
    bus.unsubscribe(newer)
    assert bus.active == 0


def test_replay_after_the_last_seen_id_only() -> None:
    bus = ScanBus()
    first = _publish(bus, "s01-r01", "A1")
    second = _publish(bus, "s01-r01", "A2")
    _publish(bus, "s01-r02", "B1")
    third = _publish(bus, "s01-r01", "A3")
    _, replay = bus.subscribe("s01-r01", first.id, limit=10)
    assert replay == [second, third]
    # No Last-Event-ID: a fresh screen gets nothing from before it opened.
    _, replay = bus.subscribe("s01-r01", None, limit=10)
    assert replay == []
    _, replay = bus.subscribe("s01-r01", third.id, limit=10)
    assert replay == []


def test_an_id_from_before_a_restart_replays_everything_buffered() -> None:
    before = ScanBus()
    seen = _publish(before, "s01-r01", "OLD")
    after = ScanBus()
    assert after.boot != before.boot
    fresh = _publish(after, "s01-r01", "NEW")
    _, replay = after.subscribe("s01-r01", seen.id, limit=10)
    assert replay == [fresh]
    _, replay = after.subscribe("s01-r01", "not an id of ours", limit=10)
    assert replay == [fresh]


def test_the_buffer_keeps_the_last_50_within_60_seconds() -> None:
    clock = Monotonic()
    bus = ScanBus(monotonic=clock)
    scans = [_publish(bus, "s01-r01", f"C{n}") for n in range(60)]
    _, replay = bus.subscribe("s01-r01", "elsewhere-0", limit=10)
    assert replay == scans[10:]
    clock.now += 30
    late = _publish(bus, "s01-r01", "LATE")
    clock.now += 31
    _, replay = bus.subscribe("s01-r01", "elsewhere-0", limit=10)
    assert replay == [late]
    clock.now += 30
    _, replay = bus.subscribe("s01-r01", "elsewhere-0", limit=10)
    assert replay == []


def test_streams_are_capped_but_a_register_may_always_reconnect() -> None:
    bus = ScanBus()
    bus.subscribe("s01-r01", None, limit=2)
    bus.subscribe("s01-r02", None, limit=2)
    with pytest.raises(Unavailable) as refused:
        bus.subscribe("s01-r03", None, limit=2)
    assert refused.value.status == 503 and refused.value.code == "too_many_streams"
    assert refused.value.headers() == {"Retry-After": "5"}
    bus.subscribe("s01-r02", None, limit=2)


def test_close_ends_every_stream_and_refuses_new_ones_until_opened() -> None:
    bus = ScanBus()
    stream, _ = bus.subscribe("s01-r01", None, limit=10)
    bus.close()
    assert _drain(stream) == [StreamEnd("shutdown")]
    with pytest.raises(Unavailable) as refused:
        bus.subscribe("s01-r02", None, limit=10)
    assert refused.value.code == "shutting_down"
    bus.open()
    bus.subscribe("s01-r02", None, limit=10)


def test_a_reconnect_during_a_burst_loses_and_repeats_nothing() -> None:
    """Scans published while a register swaps streams arrive exactly once, in order: the
    replay and the new queue are cut under one lock."""
    bus = ScanBus(buffer_scans=5000)
    stream, _ = bus.subscribe("s01-r01", None, limit=10)
    published: list[str] = []

    def burst() -> None:
        for n in range(2000):
            published.append(_publish(bus, "s01-r01", f"S{n}").id)
            if n % 50 == 0:
                time.sleep(0.001)  # let the reader reconnect during the burst, not after it

    writer = threading.Thread(target=burst)
    writer.start()
    received: list[str] = []
    reconnects = 0
    while writer.is_alive():  # read a little, then reconnect from the last id seen
        for _ in range(50):
            item = stream.next(0.01)
            if item is None:
                break
            assert isinstance(item, Scan)
            received.append(item.id)
        stream, replay = bus.subscribe("s01-r01", received[-1] if received else "none-0", limit=10)
        received += [scan.id for scan in replay]
        reconnects += 1
    writer.join()
    while (item := stream.next(0)) is not None:
        assert isinstance(item, Scan)
        received.append(item.id)
    assert received == published
    assert reconnects > 1
