"""A printed document (receipt, report, test page) as device-independent blocks.

One layout is rendered three ways from the same blocks (appliance/receipts/render.py): ESC/POS
bytes for a thermal printer, a PNG image (the demo printer, the email receipt), and plain text
(SMS fallback, logs, tests). Widths are in characters of the printer's normal font: 48 on an
80 mm printer (Font A, 576 dots), 32 on a 58 mm one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text (long lines wrap at the paper's width)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    big: bool = False  # double width and height: half as many characters fit


@dataclass(frozen=True, slots=True)
class Columns:
    """A label on the left and an amount on the right, on one line (the label is cut short)."""

    left: str
    right: str
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """A line across the paper."""

    char: str = "-"


@dataclass(frozen=True, slots=True)
class Barcode:
    """A Code 128 barcode with its text under it (the receipt number, scanned for returns)."""

    data: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1


Block = Text | Columns | Rule | Barcode | Feed


@dataclass(frozen=True, slots=True)
class Document:
    """What to print, top to bottom (the drawer is kicked by a job of its own)."""

    blocks: tuple[Block, ...]
    width: int = 48
    title: str = ""

    def lines(self) -> list[str]:
        """The document as plain text lines of at most `width` characters."""
        out: list[str] = []
        for block in self.blocks:
            out.extend(text_lines(block, self.width))
        return out

    def text(self) -> str:
        """The document as plain text."""
        return "\n".join(self.lines()) + "\n"


def wrap(text: str, width: int) -> list[str]:
    """Words wrapped at `width` (a line's indent kept); a longer word is cut into pieces."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.lstrip(" ")
        indent = " " * min(len(paragraph) - len(words), width // 2)
        room = width - len(indent)
        current = ""
        for word in words.split(" "):
            while len(word) > room:
                if current:
                    lines.append(indent + current)
                    current = ""
                lines.append(indent + word[:room])
                word = word[room:]
            candidate = f"{current} {word}" if current else word
            if len(candidate) <= room:
                current = candidate
            else:
                lines.append(indent + current)
                current = word
        lines.append(indent + current if current else "")
    return lines


def columns(left: str, right: str, width: int) -> str:
    """`left` and `right` on one line of `width`, the left cut short if they do not fit."""
    room = width - len(right) - 1
    if room < 1:
        return right[-width:]
    label = left if len(left) <= room else left[: max(0, room - 1)] + "…"
    return label + " " * (width - len(label) - len(right)) + right


def _aligned(line: str, align: Align, width: int) -> str:
    if align is Align.CENTER:
        return line.center(width).rstrip()
    if align is Align.RIGHT:
        return line.rjust(width)
    return line


def text_lines(block: Block, width: int) -> list[str]:
    """One block as plain text lines."""
    if isinstance(block, Text):
        room = width // 2 if block.big else width
        return [_aligned(line, block.align, room) for line in wrap(block.text, room)]
    if isinstance(block, Columns):
        return [columns(block.left, block.right, width)]
    if isinstance(block, Rule):
        return [block.char * width]
    if isinstance(block, Barcode):
        return [f"|| {block.data} ||".center(width).rstrip()]
    return [""] * block.lines


@dataclass
class Builder:
    """Blocks appended in order; `build()` makes the Document."""

    width: int = 48
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Builder:
        self.blocks.extend(blocks)
        return self

    def build(self, *, title: str = "") -> Document:
        return Document(blocks=tuple(self.blocks), width=self.width, title=title)
