"""Render a Document to ESC/POS bytes (python-escpos) or to a PNG image (Pillow).

ESC/POS goes through python-escpos's `Dummy` printer, which records the bytes instead of
sending them; the print queue then sends those bytes to whichever connection the store has
(USB, serial, network, file). The printer's capability profile (python-escpos's profiles:
code pages, barcode support, paper width) is a setting.

The PNG is the same layout drawn on a 576-dot (80 mm at 203 dpi) or 384-dot (58 mm) wide
canvas in a monospaced font, with the barcode drawn from python-barcode's Code 128 encoding:
what the demo printer writes to its folder and what the email receipt carries.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from appliance.receipts.document import (
    Align,
    Barcode,
    Columns,
    Document,
    Feed,
    Rule,
    Text,
    columns,
    wrap,
)

DOTS_PER_CHAR = 12  # Font A: 12 × 24 dots
LINE_DOTS = 30
MARGIN_DOTS = 16
BARCODE_DOTS = 80
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
)


def to_escpos(doc: Document, *, profile: str = "default") -> bytes:
    """The document as ESC/POS bytes: initialise, print, feed and cut."""
    # Imported here: python-escpos loads its capability database (half a second) on import,
    # which would slow every start of the appliance and its CLI.
    from escpos.printer import Dummy

    printer = Dummy(profile=profile)
    printer.hw("INIT")
    for block in doc.blocks:
        if isinstance(block, Text):
            printer.set(
                align=block.align.value,
                bold=block.bold,
                double_width=block.big,
                double_height=block.big,
                normal_textsize=not block.big,
            )
            room = doc.width // 2 if block.big else doc.width
            for line in wrap(block.text, room):
                printer.text(line + "\n")
        elif isinstance(block, Columns):
            printer.set(align="left", bold=block.bold, normal_textsize=True)
            printer.text(columns(block.left, block.right, doc.width) + "\n")
        elif isinstance(block, Rule):
            printer.set(align="left", bold=False, normal_textsize=True)
            printer.text(block.char * doc.width + "\n")
        elif isinstance(block, Barcode):
            printer.set(align="center", bold=False, normal_textsize=True)
            # python-escpos announces its renderer on stdout; a server has no use for it.
            with contextlib.redirect_stdout(io.StringIO()):
                printer.barcode(
                    "{B" + block.data,
                    "CODE128",
                    function_type="B",
                    height=BARCODE_DOTS,
                    width=2,
                    pos="BELOW",
                    align_ct=True,
                )
            printer.text("\n")
        elif isinstance(block, Feed):
            printer.text("\n" * block.lines)
    printer.set(align="left", bold=False, normal_textsize=True)
    printer.cut()
    output: bytes = printer.output
    return output


@cache
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    for folder in _FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    # No DejaVu (a minimal image): Pillow's own scalable font keeps the layout readable.
    return ImageFont.load_default(size)


def _code128_modules(data: str) -> str:
    """The barcode's bars and spaces as '1'/'0' modules (python-barcode's Code 128)."""
    import barcode

    code = barcode.get("code128", data)
    modules: str = code.build()[0]
    return modules


@dataclass(frozen=True, slots=True)
class _Row:
    """One row of the image: text (with its style), a rule or a barcode."""

    kind: str
    text: str = ""
    align: Align = Align.LEFT
    bold: bool = False
    big: bool = False

    @property
    def height(self) -> int:
        if self.kind == "barcode":
            return BARCODE_DOTS + LINE_DOTS + 8
        return LINE_DOTS * (2 if self.big else 1)


def _rows(doc: Document) -> list[_Row]:
    rows: list[_Row] = []
    for block in doc.blocks:
        if isinstance(block, Text):
            room = doc.width // 2 if block.big else doc.width
            rows.extend(
                _Row("text", line, block.align, block.bold, block.big)
                for line in wrap(block.text, room)
            )
        elif isinstance(block, Columns):
            rows.append(_Row("text", columns(block.left, block.right, doc.width), bold=block.bold))
        elif isinstance(block, Rule):
            rows.append(_Row("rule", block.char))
        elif isinstance(block, Barcode):
            rows.append(_Row("barcode", block.data))
        elif isinstance(block, Feed):
            rows.extend(_Row("text") for _ in range(block.lines))
    return rows


def _chars(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, step: int, font: Any) -> None:
    # One character per cell, as on the printer, whatever the font's own advance.
    for n, char in enumerate(text):
        draw.text((x + n * step, y), char, font=font, fill=0)


def to_png(doc: Document) -> bytes:
    """The document as a PNG receipt image."""
    paper = doc.width * DOTS_PER_CHAR
    width = paper + 2 * MARGIN_DOTS
    rows = _rows(doc)
    image = Image.new("L", (width, sum(r.height for r in rows) + 2 * MARGIN_DOTS), 255)
    draw = ImageDraw.Draw(image)
    y = MARGIN_DOTS
    for row in rows:
        if row.kind == "text":
            step = DOTS_PER_CHAR * (2 if row.big else 1)
            used = len(row.text) * step
            x = MARGIN_DOTS
            if row.align is Align.CENTER:
                x += (paper - used) // 2
            elif row.align is Align.RIGHT:
                x += paper - used
            _chars(draw, x, y, row.text, step, _font(40 if row.big else 20, row.bold))
        elif row.kind == "rule":
            if row.text in "-=_":
                middle = y + LINE_DOTS // 2
                draw.line(
                    (MARGIN_DOTS, middle, width - MARGIN_DOTS, middle),
                    fill=0,
                    width=2 if row.text == "=" else 1,
                )
            else:
                _chars(draw, MARGIN_DOTS, y, row.text * doc.width, DOTS_PER_CHAR, _font(20, False))
        elif row.kind == "barcode":
            modules = _code128_modules(row.text)
            module = 2
            x = (width - len(modules) * module) // 2
            for n, bit in enumerate(modules):
                if bit == "1":
                    left = x + n * module
                    draw.rectangle((left, y, left + module - 1, y + BARCODE_DOTS), fill=0)
            label_x = (width - len(row.text) * DOTS_PER_CHAR) // 2
            _chars(draw, label_x, y + BARCODE_DOTS + 8, row.text, DOTS_PER_CHAR, _font(20, False))
        y += row.height
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
