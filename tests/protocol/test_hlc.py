"""Tests for protocol.hlc: the hybrid logical clock."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.hlc import HLC, MAX_COUNTER, MAX_WALL_MS, Clock, Observation

NODE = "s01-r02"
nodes = st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)
hlcs = st.builds(HLC, st.integers(0, MAX_WALL_MS), st.integers(0, MAX_COUNTER), nodes)


class FakeWall:
    """A physical clock the test sets by hand, including jumps backwards."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_hlcs_compare_as_tuples_not_strings() -> None:
    nine, ten = HLC(9, 0, "a"), HLC(10, 0, "a")
    assert str(nine) > str(ten)  # as text "9..." sorts after "10..."
    assert nine < ten
    assert HLC(10, 9, "a") < HLC(10, 10, "a")
    assert HLC(10, 1, "b") > HLC(10, 1, "a")
    assert sorted([ten, nine]) == [nine, ten]


@given(hlcs, hlcs)
def test_order_is_the_order_of_key_tuples(a: HLC, b: HLC) -> None:
    assert a.key() == (a.wall_ms, a.counter, a.node)
    assert (a < b) == (a.key() < b.key())
    assert (a == b) == (a.key() == b.key())
    assert (a <= b) == (a.key() <= b.key())


@given(hlcs)
def test_parse_and_str_round_trip(stamp: HLC) -> None:
    text = str(stamp)
    assert text == f"{stamp.wall_ms}.{stamp.counter}.{stamp.node}"
    assert HLC.parse(text) == stamp
    assert str(HLC.parse(text)) == text


def test_parse_example_with_dashes_in_the_node() -> None:
    assert HLC.parse("1764081234567.3.s01-r02") == HLC(1764081234567, 3, "s01-r02")
    assert HLC.parse("0.0.x") == HLC(0, 0, "x")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2",
        "1.2.",
        ".1.a",
        "1..a",
        "+1.0.a",
        "-1.0.a",
        "1.-1.a",
        "1.+1.a",
        "01.0.a",
        "1.00.a",
        "1.65536.a",
        "9007199254740992.0.a",  # 2**53
        "1.0.A",
        "1.0.a.b",
        "1.0.a b",
        "1.0.a_b",
        "1.0." + "a" * 41,
        "1.0.a\n",
        " 1.0.a",
        "1e3.0.a",
        "1.5.0.a",
        "\u0661.0.a",  # ARABIC-INDIC DIGIT ONE
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an HLC|HLC (wall_ms|counter) must be an int"):
        HLC.parse(text)


@pytest.mark.parametrize("value", [None, 5, b"1.0.a"])
def test_parse_rejects_non_strings_with_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        HLC.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wall", "counter", "node"),
    [
        (-1, 0, "a"),
        (MAX_WALL_MS + 1, 0, "a"),
        (0, -1, "a"),
        (0, MAX_COUNTER + 1, "a"),
        (True, 0, "a"),
        (0, False, "a"),
        (1.0, 0, "a"),
        (0, 0, ""),
        (0, 0, "a.b"),
        (0, 0, "A"),
    ],
)
def test_constructor_rejects_stamps_that_could_not_round_trip(
    wall: object, counter: object, node: object
) -> None:
    with pytest.raises(ValueError, match=r"HLC (wall_ms|counter|node) must"):
        HLC(wall, counter, node)  # type: ignore[arg-type]


def test_now_uses_physical_time_and_counts_within_a_millisecond() -> None:
    wall = FakeWall(1000)
    clock = Clock(NODE, wall=wall)
    assert clock.last is None
    assert clock.now() == HLC(1000, 0, NODE)
    assert clock.now() == HLC(1000, 1, NODE)
    wall.ms = 1005
    assert clock.now() == HLC(1005, 0, NODE)
    assert clock.last == HLC(1005, 0, NODE)


def test_now_never_goes_back_when_the_physical_clock_jumps_back() -> None:
    wall = FakeWall(1000)
    clock = Clock(NODE, wall=wall)
    clock.now()
    wall.ms = 10
    assert clock.now() == HLC(1000, 1, NODE)
    assert clock.now() == HLC(1000, 2, NODE)


def test_resumes_after_last_even_from_another_node() -> None:
    clock = Clock("s01-ap", wall=FakeWall(5), last=HLC(2000, 7, "s01-r02"))
    assert clock.last == HLC(2000, 7, "s01-r02")
    stamp = clock.now()
    assert stamp == HLC(2000, 8, "s01-ap")
    assert stamp > HLC(2000, 7, "s01-r02")


def test_counter_overflow_borrows_the_next_millisecond() -> None:
    clock = Clock(NODE, wall=FakeWall(5), last=HLC(100, MAX_COUNTER, NODE))
    assert clock.now() == HLC(101, 0, NODE)


def test_default_wall_is_the_system_clock() -> None:
    stamp = Clock(NODE).now()
    assert stamp.wall_ms > 1_700_000_000_000  # after November 2023


def test_observe_follows_a_remote_that_is_slightly_ahead() -> None:
    clock = Clock(NODE, wall=FakeWall(1000))
    seen = clock.observe(HLC(1500, 4, "s01-ap"))
    assert seen == Observation(hlc=HLC(1500, 5, NODE), clamped=False)
    assert clock.now() == HLC(1500, 6, NODE)


def test_observe_of_a_remote_behind_ticks_the_local_clock() -> None:
    clock = Clock(NODE, wall=FakeWall(1000))
    clock.now()
    seen = clock.observe(HLC(10, 99, "s01-ap"))
    assert seen == Observation(hlc=HLC(1000, 1, NODE), clamped=False)


def test_observe_with_equal_walls_takes_the_larger_counter() -> None:
    clock = Clock(NODE, wall=FakeWall(10), last=HLC(1000, 2, NODE))
    assert clock.observe(HLC(1000, 7, "s01-ap")).hlc == HLC(1000, 8, NODE)
    clock = Clock(NODE, wall=FakeWall(10), last=HLC(1000, 9, NODE))
    assert clock.observe(HLC(1000, 7, "s01-ap")).hlc == HLC(1000, 10, NODE)


def test_observe_clamps_a_remote_too_far_ahead() -> None:
    clock = Clock(NODE, wall=FakeWall(1000), max_ahead_ms=300_000)
    at_limit = clock.observe(HLC(301_000, 0, "s01-ap"))
    assert at_limit == Observation(hlc=HLC(301_000, 1, NODE), clamped=False)

    clock = Clock(NODE, wall=FakeWall(1000), max_ahead_ms=300_000)
    seen = clock.observe(HLC(301_001, 0, "s01-ap"))
    assert seen.clamped
    assert seen.hlc.wall_ms == 301_000
    far = clock.observe(HLC(10**12, 0, "s01-ap"))
    assert far.clamped
    assert far.hlc.wall_ms == 301_000
    assert far.hlc > seen.hlc


def test_clock_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="clock node"):
        Clock("S01 R02")
    with pytest.raises(ValueError, match="max_ahead_ms"):
        Clock(NODE, max_ahead_ms=-1)


@st.composite
def clock_scripts(draw: st.DrawFn) -> list[tuple[str, int]]:
    steps = st.one_of(
        st.tuples(st.just("now"), st.just(0)),
        st.tuples(st.just("jump"), st.integers(-50_000, 50_000)),
        st.tuples(st.just("observe"), st.integers(-1_000_000, 1_000_000)),
        st.tuples(st.just("observe_far"), st.integers(300_001, 10**9)),
    )
    return draw(st.lists(steps, min_size=1, max_size=60))


@given(
    start=st.integers(1_000_000, 2_000_000_000_000),
    max_ahead=st.integers(0, 400_000),
    script=clock_scripts(),
    remote_counters=st.lists(st.integers(0, 50), min_size=60, max_size=60),
)
def test_clock_never_goes_backwards(
    start: int, max_ahead: int, script: list[tuple[str, int]], remote_counters: list[int]
) -> None:
    wall = FakeWall(start)
    clock = Clock(NODE, wall=wall, max_ahead_ms=max_ahead)
    previous: HLC | None = None
    for step, ((action, offset), counter) in enumerate(zip(script, remote_counters, strict=False)):
        if action == "jump":
            wall.ms = max(0, wall.ms + offset)
            continue
        ceiling = max(previous.wall_ms if previous else 0, wall.ms + max_ahead)
        if action == "now":
            stamp = clock.now()
        else:
            remote_wall = max(0, wall.ms + (offset if action == "observe" else max_ahead + offset))
            remote = HLC(remote_wall, counter, "s01-ap")
            seen = clock.observe(remote)
            stamp = seen.hlc
            assert seen.clamped == (remote_wall > wall.ms + max_ahead), step
            if not seen.clamped:
                assert stamp > remote
        assert stamp.wall_ms <= ceiling
        assert stamp.node == NODE
        assert stamp.wall_ms >= wall.ms
        if previous is not None:
            assert stamp > previous, step
        assert clock.last == stamp
        previous = stamp


def test_clock_is_thread_safe() -> None:
    clock = Clock(NODE, wall=FakeWall(1000))
    stamps: list[HLC] = []
    lock = threading.Lock()

    def stamp_many() -> None:
        mine = [clock.now() for _ in range(2000)]
        with lock:
            stamps.extend(mine)

    threads = [threading.Thread(target=stamp_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(stamps)) == 8000
    assert max(stamps) == clock.last
