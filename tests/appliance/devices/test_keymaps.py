"""Keyboard layouts and the scan decoder (appliance/devices/keymaps.py), fed recorded evdev
event streams (fixtures/*.json, written by fixtures/make_scans.py from its own key tables)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from appliance.devices.keymaps import (
    KEY_ENTER,
    KEY_LEFTALT,
    KEY_LEFTSHIFT,
    KEY_RIGHTALT,
    LAYOUTS,
    MAX_CODE_LENGTH,
    Decoded,
    ScanDecoder,
    get_layout,
)

FIXTURES = Path(__file__).parent / "fixtures"
EV_KEY = 1


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return document


def decode(document: dict[str, Any]) -> list[Decoded]:
    decoder = ScanDecoder(
        get_layout(document["layout"]),
        prefix=document.get("prefix", ""),
        suffix=document.get("suffix", ""),
    )
    out = []
    for _sec, _usec, type_, code, value in document["events"]:
        if type_ != EV_KEY:
            continue
        decoded = decoder.feed(code, value)
        if decoded is not None:
            out.append(decoded)
    return out


def expected(document: dict[str, Any]) -> list[Decoded]:
    return [
        Decoded(code=item, problem=None)
        if isinstance(item, str)
        else Decoded(code=item.get("code", ""), problem=item["problem"])
        for item in document["expect"]
    ]


@pytest.mark.parametrize(
    "name",
    ["us", "uk", "de", "fr", "caps_us", "caps_fr", "fast_us", "repeat_us"],
)
def test_recorded_streams_decode_to_their_codes(name: str) -> None:
    document = load(name)
    assert decode(document) == expected(document)


def test_every_layout_has_a_recording() -> None:
    assert {load(name)["layout"] for name in ("us", "uk", "de", "fr")} == set(LAYOUTS)


def test_prefix_and_suffix_are_taken_off_and_required() -> None:
    first, second = decode(load("prefix_us"))
    assert first == Decoded(code="4006381333931")
    assert second.problem == "missing_prefix"


def test_a_de_scan_read_with_the_us_layout_comes_out_wrong() -> None:
    """Why the layout matters: the same key codes are another string on another layout."""
    document = load("de")
    assert decode({**document, "layout": "us"})[1].code != "Zy-12@de.ZY"


def test_the_fast_recording_is_microseconds_apart() -> None:
    times = [sec * 1_000_000 + usec for sec, usec, *_ in load("fast_us")["events"]]
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert max(gaps) <= 2


def test_a_key_the_layout_cannot_type_makes_the_scan_invalid() -> None:
    decoder = ScanDecoder(get_layout("us"))
    for code in (5, 59, 6):  # 4, F1, 5
        decoder.feed(code, 1)
        decoder.feed(code, 0)
    decoded = decoder.feed(KEY_ENTER, 1)
    assert decoded is not None
    assert decoded.problem == "unknown_key"
    assert decoded.code == "4\ufffd5"  # the place of the key is kept, not silently dropped
    # The next scan starts clean.
    decoder.feed(5, 1)
    assert decoder.feed(KEY_ENTER, 1) == Decoded(code="4")


def test_a_dead_key_is_unknown_too() -> None:
    decoder = ScanDecoder(get_layout("de"))
    decoder.feed(41, 1)  # ^ is a dead key on German keyboards
    decoded = decoder.feed(KEY_ENTER, 1)
    assert decoded is not None and decoded.problem == "unknown_key"


def test_an_over_long_scan_is_capped_and_rejected() -> None:
    decoder = ScanDecoder(get_layout("us"))
    for _ in range(10_000):
        decoder.feed(2, 1)  # "1"
        decoder.feed(2, 0)
    decoded = decoder.feed(KEY_ENTER, 1)
    assert decoded is not None
    assert decoded.problem == "too_long"
    assert len(decoded.code) == MAX_CODE_LENGTH
    for _ in range(MAX_CODE_LENGTH):
        decoder.feed(2, 1)
    assert decoder.feed(KEY_ENTER, 1) == Decoded(code="1" * MAX_CODE_LENGTH)


def test_a_lone_enter_is_no_scan() -> None:
    decoder = ScanDecoder(get_layout("us"))
    assert decoder.feed(KEY_ENTER, 1) is None
    assert decoder.feed(KEY_ENTER, 0) is None


def test_altgr_on_a_layout_without_it_is_unknown_and_alt_keypad_types_ascii() -> None:
    decoder = ScanDecoder(get_layout("us"))
    decoder.feed(KEY_RIGHTALT, 1)
    decoder.feed(16, 1)  # AltGr+Q: nothing on US
    decoder.feed(KEY_RIGHTALT, 0)
    decoded = decoder.feed(KEY_ENTER, 1)
    assert decoded is not None and decoded.problem == "unknown_key"
    # Alt + keypad 6 4 = "@", Alt + keypad 6 5 = "A", on any layout.
    decoder = ScanDecoder(get_layout("fr"))
    for digits in ((77, 75), (77, 76)):
        decoder.feed(KEY_LEFTALT, 1)
        for key in digits:
            decoder.feed(key, 1)
            decoder.feed(key, 0)
        decoder.feed(KEY_LEFTALT, 0)
    assert decoder.feed(KEY_ENTER, 1) == Decoded(code="@A")


def test_shift_is_held_until_released_on_either_side() -> None:
    decoder = ScanDecoder(get_layout("uk"))
    decoder.feed(KEY_LEFTSHIFT, 1)
    decoder.feed(54, 1)  # right Shift too
    decoder.feed(KEY_LEFTSHIFT, 0)
    decoder.feed(3, 1)  # still shifted: " on UK
    decoder.feed(54, 0)
    decoder.feed(3, 1)
    assert decoder.feed(KEY_ENTER, 1) == Decoded(code='"2')


def test_unknown_layout() -> None:
    with pytest.raises(ValueError, match="us, uk, de, fr"):
        get_layout("dvorak")
