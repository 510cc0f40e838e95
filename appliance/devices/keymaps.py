"""Keyboard layouts for scanners that type: Linux key codes to characters, and the decoder
that turns a scanner's key events into one code per Enter.

A USB or Bluetooth scanner in keyboard mode does not send characters: it sends the key codes
a keyboard of the layout it was set up for would need to type them. The appliance reads the
raw codes (evdev, the numbers in linux/input-event-codes.h), so it must map them back with
that same layout, or a German scanner's "Z" arrives as "Y". Layouts here follow xkb's:
Caps Lock changes letters only (so French digits still need Shift) and Shift cancels it;
AltGr gives the characters a barcode can need (German "@" is AltGr+Q). Dead keys are not
mapped: a key that does not type one character makes the scan invalid rather than silently
losing a character.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# linux/input-event-codes.h
KEY_ESC = 1
KEY_TAB = 15
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_LEFTALT = 56
KEY_SPACE = 57
KEY_CAPSLOCK = 58
KEY_NUMLOCK = 69
KEY_KPENTER = 96
KEY_RIGHTCTRL = 97
KEY_RIGHTALT = 100
KEY_LEFTMETA = 125
KEY_RIGHTMETA = 126

# The main block by physical position, as key codes: the rows under Esc, row by row. Each
# layout below lists its characters in this order.
_ROW_NUMBERS = (41, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)  # GRAVE 1..0 MINUS EQUAL
_ROW_TOP = (16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27)  # Q..P LEFTBRACE RIGHTBRACE
_ROW_HOME = (30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 43)  # A..L SEMICOLON APOSTROPHE BACKSLASH
_ROW_BOTTOM = (86, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53)  # 102ND Z..M COMMA DOT SLASH
_ROWS = (_ROW_NUMBERS, _ROW_TOP, _ROW_HOME, _ROW_BOTTOM)

# The keypad types the same on every layout (scanners emulating a keypad send these; the
# appliance assumes Num Lock on, as scanners do).
_KEYPAD = {
    71: "7",
    72: "8",
    73: "9",
    74: "-",
    75: "4",
    76: "5",
    77: "6",
    78: "+",
    79: "1",
    80: "2",
    81: "3",
    82: "0",
    83: ".",
    55: "*",
    98: "/",
}
_KEYPAD_DIGITS = {code: char for code, char in _KEYPAD.items() if char.isdigit()}

# Characters per row, unshifted then shifted; a space stands for "types nothing" (a dead key
# or an unused level), since no row types a space itself.
_LAYOUT_ROWS: dict[str, tuple[tuple[str, str], ...]] = {
    "us": (
        ("`1234567890-=", "~!@#$%^&*()_+"),
        ("qwertyuiop[]", "QWERTYUIOP{}"),
        ("asdfghjkl;'\\", 'ASDFGHJKL:"|'),
        ("<zxcvbnm,./", ">ZXCVBNM<>?"),
    ),
    "uk": (
        ("`1234567890-=", '¬!"£$%^&*()_+'),
        ("qwertyuiop[]", "QWERTYUIOP{}"),
        ("asdfghjkl;'#", "ASDFGHJKL:@~"),
        ("\\zxcvbnm,./", "|ZXCVBNM<>?"),
    ),
    "de": (
        (" 1234567890ß ", '°!"§$%&/()=? '),
        ("qwertzuiopü+", "QWERTZUIOPÜ*"),
        ("asdfghjklöä#", "ASDFGHJKLÖÄ'"),
        ("<yxcvbnm,.-", ">YXCVBNM;:_"),
    ),
    "fr": (
        ("²&é\"'(-è_çà)=", " 1234567890°+"),
        ("azertyuiop $", "AZERTYUIOP £"),
        ("qsdfghjklmù*", "QSDFGHJKLM%µ"),
        ("<wxcvbn,;:!", ">WXCVBN?./§"),
    ),
}
# Third level (AltGr), only where a barcode may need the character.
_ALTGR: dict[str, dict[int, str]] = {
    "us": {},
    "uk": {5: "€"},
    "de": {16: "@", 18: "€", 8: "{", 9: "[", 10: "]", 11: "}", 12: "\\", 27: "~", 86: "|"},
    "fr": {
        4: "#",
        5: "{",
        6: "[",
        7: "|",
        9: "\\",
        10: "^",
        11: "@",
        12: "]",
        13: "}",
        18: "€",
    },
}

LAYOUTS = ("us", "uk", "de", "fr")


@dataclass(frozen=True, slots=True)
class Layout:
    """One keyboard layout: what each key types plain, with Shift and with AltGr."""

    name: str
    plain: MappingProxyType[int, str]
    shifted: MappingProxyType[int, str]
    altgr: MappingProxyType[int, str]

    def char(self, code: int, *, shift: bool, caps: bool, altgr: bool) -> str | None:
        """The character `code` types in this state, or None when it types none."""
        if altgr:
            return self.altgr.get(code)
        plain = self.plain.get(code)
        if plain is None:
            return None
        upper = self.shifted.get(code)
        # xkb's ALPHABETIC keys: Caps Lock inverts Shift on letters with a case pair only.
        if caps and upper is not None and plain.isalpha() and upper == plain.upper():
            shift = not shift
        return upper if shift else plain


def _build(name: str) -> Layout:
    plain: dict[int, str] = {KEY_SPACE: " ", KEY_TAB: "\t", **_KEYPAD}
    shifted: dict[int, str] = {KEY_SPACE: " ", **_KEYPAD}
    for codes, (lower, upper) in zip(_ROWS, _LAYOUT_ROWS[name], strict=True):
        for code, low, up in zip(codes, lower, upper, strict=True):
            if low != " ":
                plain[code] = low
            if up != " ":
                shifted[code] = up
    return Layout(
        name=name,
        plain=MappingProxyType(plain),
        shifted=MappingProxyType(shifted),
        altgr=MappingProxyType(dict(_ALTGR[name])),
    )


_BUILT = {name: _build(name) for name in LAYOUTS}


def get_layout(name: str) -> Layout:
    """A layout by name (us, uk, de, fr); ValueError for any other."""
    try:
        return _BUILT[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown keyboard layout {name!r}: use one of {', '.join(LAYOUTS)}"
        ) from None


MAX_CODE_LENGTH = 128

Problem = Literal["unknown_key", "too_long", "missing_prefix", "missing_suffix"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """What one scan typed up to Enter: its code (prefix and suffix taken off), or why not."""

    code: str
    problem: Problem | None = None


_MODIFIERS = {
    KEY_LEFTSHIFT,
    KEY_RIGHTSHIFT,
    KEY_LEFTCTRL,
    KEY_RIGHTCTRL,
    KEY_LEFTALT,
    KEY_RIGHTALT,
    KEY_LEFTMETA,
    KEY_RIGHTMETA,
}


class ScanDecoder:
    """Key events in, one `Decoded` per Enter out. One per device; not thread-safe.

    Feed it every EV_KEY event as (code, value): 1 down, 0 up, 2 auto-repeat (ignored: a
    scanner that holds a key too long must not type it twice). Characters are taken on key
    down. Left Alt held with keypad digits types the character of that decimal number (the
    "Alt mode" some scanners offer to be independent of the layout).
    """

    def __init__(
        self,
        layout: Layout,
        *,
        prefix: str = "",
        suffix: str = "",
        max_length: int = MAX_CODE_LENGTH,
    ) -> None:
        self.max_length = max_length
        self.configure(layout, prefix=prefix, suffix=suffix)
        self._down: set[int] = set()
        # Caps Lock is the scanner's own state and outlives a scan, as a keyboard's does.
        self.caps = False
        self._chars: list[str] = []
        self._problem: Problem | None = None
        self._alt_digits = ""

    def configure(self, layout: Layout, *, prefix: str = "", suffix: str = "") -> None:
        """Read the next scans with this layout, prefix and suffix (keys held stay held)."""
        self.layout = layout
        self.prefix = prefix
        self.suffix = suffix
        self._limit = self.max_length + len(prefix) + len(suffix)

    @property
    def pending(self) -> bool:
        """Whether a scan has started and not yet ended with Enter."""
        return bool(self._chars) or self._problem is not None

    def reset(self) -> None:
        """Forget a half-typed scan (the device went away mid-scan); keeps Caps Lock."""
        self._chars = []
        self._problem = None
        self._alt_digits = ""
        self._down.clear()

    def feed(self, code: int, value: int) -> Decoded | None:
        """Take one key event; a `Decoded` when it ended a scan, else None."""
        if value == 2:
            return None
        if value == 0:
            self._down.discard(code)
            if code == KEY_LEFTALT and self._alt_digits:
                number, self._alt_digits = int(self._alt_digits), ""
                self._type(chr(number) if 32 <= number < 127 else None)
            return None
        if value != 1:
            return None
        if code in _MODIFIERS:
            self._down.add(code)
            return None
        if code == KEY_CAPSLOCK:
            self.caps = not self.caps
            return None
        if code == KEY_NUMLOCK:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            return self._end()
        down = self._down
        if KEY_LEFTALT in down and code in _KEYPAD_DIGITS:
            self._alt_digits = (self._alt_digits + _KEYPAD_DIGITS[code])[-3:]
            return None
        if down & {KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_LEFTMETA, KEY_RIGHTMETA}:
            self._type(None)
            return None
        char = self.layout.char(
            code,
            shift=bool(down & {KEY_LEFTSHIFT, KEY_RIGHTSHIFT}),
            caps=self.caps,
            altgr=KEY_RIGHTALT in down,
        )
        self._type(char)
        return None

    def _type(self, char: str | None) -> None:
        if self._problem == "too_long":
            return
        if char is None:
            self._problem = "unknown_key"
            # Keep the place of the key that typed nothing, for the log.
            char = "\ufffd"
        if len(self._chars) >= self._limit:
            # Bounded: a scanner stuck sending without Enter cannot grow this without end.
            self._problem = "too_long"
            return
        self._chars.append(char)

    def _end(self) -> Decoded | None:
        text, problem = "".join(self._chars), self._problem
        self._chars, self._problem, self._alt_digits = [], None, ""
        if not text and problem is None:
            return None  # a lone Enter (a trigger pulled at nothing, some scanners' wake-up)
        if problem is None and self.prefix:
            if not text.startswith(self.prefix):
                problem = "missing_prefix"
            else:
                text = text[len(self.prefix) :]
        if problem is None and self.suffix:
            if not text.endswith(self.suffix):
                problem = "missing_suffix"
            else:
                text = text[: -len(self.suffix)]
        if problem is None and len(text) > self.max_length:
            problem = "too_long"
        return Decoded(code=text[: self.max_length], problem=problem)
