"""Catalog CSV import and export (the format in ARCHITECTURE.md), with row-by-row reports."""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from appliance.catalog.barcodes import Barcode, BarcodeError, parse_barcode
from appliance.catalog.queries import export_rows
from appliance.catalog.records import CSV_COLUMNS, Problem, VariantInput
from appliance.catalog.upsert import Progress, UpsertReport, upsert_variants
from appliance.runtime import Runtime
from protocol.money import Money

COLUMNS = CSV_COLUMNS
REQUIRED: tuple[str, ...] = ("sku", "product", "price")
HEADER_ROW = 1

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,63}$")
# C0 and C1 controls (NEL among them) and the Unicode line and paragraph separators: a name
# with a line break in it would split a receipt line or a label.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# ASCII digits only: `\d` would also take Arabic-Indic and other Unicode digits.
_COUNT = re.compile(r"^[0-9]{1,9}$")
MAX_NAME = 200
_NOTHING: dict[str, Any] = {}
MAX_OPTIONS = 5


def _text(value: str) -> str:
    """Trimmed and in NFC: a file saved on macOS spells `é` as `e` plus a combining accent,
    which would otherwise make a second product or category that looks the same."""
    return unicodedata.normalize("NFC", value).strip()


def _check_name(value: str, column: str, *, required: bool) -> tuple[str | None, str | None]:
    """A trimmed name, or the reason it is not acceptable."""
    value = _text(value)
    if not value:
        return None, (f"{column} is required" if required else None)
    if _CONTROL.search(value):
        return None, f"{column} contains a line break or control character"
    if len(value) > MAX_NAME:
        return None, f"{column} is longer than {MAX_NAME} characters"
    return value, None


def _check_options(value: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """`Size=M;Color=Red` as ordered pairs, or the reason it cannot be read."""
    value = _text(value)
    if not value:
        return (), None
    pairs: list[tuple[str, str]] = []
    for part in value.split(";"):
        name, sep, option = part.partition("=")
        name, option = name.strip(), option.strip()
        if not sep or not name or not option:
            return (), f"{part.strip()!r} is not Name=Value (write options like Size=M;Color=Red)"
        if _CONTROL.search(name + option):
            return (), "options contain a line break or control character"
        if any(name.lower() == seen.lower() for seen, _ in pairs):
            return (), f"option {name} appears twice"
        pairs.append((name, option))
    if len(pairs) > MAX_OPTIONS:
        return (), f"at most {MAX_OPTIONS} options per variant"
    return tuple(pairs), None


def _barcodes(value: str) -> tuple[tuple[Barcode, ...], str | None]:
    """`code|code` validated, or the first reason one is not acceptable."""
    value = value.strip()
    if not value:
        return (), None
    codes: list[Barcode] = []
    for part in value.split("|"):
        try:
            code = parse_barcode(part)
        except BarcodeError as exc:
            return (), str(exc)
        if any(code.key == c.key for c in codes):
            return (), f"barcode {code.display} is listed twice"
        codes.append(code)
    return tuple(codes), None


def _check_count(value: str, column: str, *, minimum: int) -> tuple[int | None, str | None]:
    """An optional whole number at least `minimum`, or why it is not one."""
    value = value.strip()
    if not value:
        return None, None
    if not _COUNT.fullmatch(value) or int(value) < minimum:
        return None, f"{column} must be a whole number of at least {minimum}, not {value!r}"
    return int(value), None


def _check_money(value: str, column: str, currency: str) -> tuple[int | None, str | None]:
    """An optional non-negative amount in minor units, or why it is not one."""
    value = value.strip()
    if not value:
        return None, None
    try:
        amount = Money.parse(value, currency).amount
    except ValueError as exc:
        return None, f"{column} {value!r} is not an amount in {currency}: {exc}"
    if amount < 0:
        return None, f"{column} must not be negative"
    return amount, None


def parse_rows(
    records: Iterable[tuple[int, dict[str, str]]],
    *,
    present: frozenset[str],
    currency: str,
    tax_classes: Sequence[str],
    existing: dict[str, dict[str, Any]],
) -> tuple[list[VariantInput], list[Problem]]:
    """Validate each record on its own; columns absent from the file keep stored values."""
    inputs: list[VariantInput] = []
    problems: list[Problem] = []
    # Names, options, prices and counts repeat across rows (every variant of a product, every
    # product of a category), so each distinct text is checked once per import. The caches die
    # with this call; the checks themselves are pure.
    _clean_name = functools.cache(_check_name)
    _options = functools.cache(_check_options)
    _money = functools.cache(_check_money)
    _count = functools.cache(_check_count)
    has = present.__contains__
    default_tax = tax_classes[0]
    for row, record in records:
        found: list[tuple[str, str]] = []
        sku = record.get("sku", "").strip()
        if not sku:
            found.append(("sku", "sku is required"))
        elif not _SKU.fullmatch(sku):
            found.append(
                ("sku", f"{sku!r} is not a SKU: letters, digits and . _ / + - only, up to 64")
            )
        stored = existing.get(sku.upper(), _NOTHING) if existing else _NOTHING
        product, reason = _clean_name(record.get("product", ""), "product", required=True)
        if reason:
            found.append(("product", reason))
        if has("options"):
            options, reason = _options(record["options"])
            if reason:
                found.append(("options", reason))
        else:
            options = tuple(stored.get("options", {}).items())
        barcodes: tuple[Barcode, ...] = ()
        if has("barcodes"):
            barcodes, reason = _barcodes(record["barcodes"])
            if reason:
                found.append(("barcodes", reason))
        elif stored.get("barcodes"):
            barcodes = tuple(parse_barcode(code) for code in stored["barcodes"].split("|"))
        category: str | None = stored.get("category")
        if has("category"):
            category, reason = _clean_name(record["category"], "category", required=False)
            if reason:
                found.append(("category", reason))
        vendor: str | None = stored.get("vendor")
        if has("vendor"):
            vendor, reason = _clean_name(record["vendor"], "vendor", required=False)
            if reason:
                found.append(("vendor", reason))
        cost: int | None = stored.get("cost")
        if has("cost"):
            cost, reason = _money(record["cost"], "cost", currency)
            if reason:
                found.append(("cost", reason))
        price, reason = _money(record.get("price", ""), "price", currency)
        if reason:
            found.append(("price", reason))
        elif price is None:
            found.append(("price", "price is required"))
        # An empty cell means "none" or "the default", like a missing value on a new row;
        # only a column left out of the file keeps what is stored.
        tax_class = stored.get("tax_class", default_tax)
        if has("tax_class"):
            given = record["tax_class"].strip().lower()
            tax_class = given or default_tax
            if given and given not in tax_classes:
                found.append(
                    ("tax_class", f"tax class {given!r} is not one of {', '.join(tax_classes)}")
                )
        reorder_point: int | None = stored.get("reorder_point")
        if has("reorder_point"):
            reorder_point, reason = _count(record["reorder_point"], "reorder_point", minimum=0)
            if reason:
                found.append(("reorder_point", reason))
        reorder_qty: int | None = stored.get("reorder_qty")
        if has("reorder_qty"):
            reorder_qty, reason = _count(record["reorder_qty"], "reorder_qty", minimum=0)
            if reason:
                found.append(("reorder_qty", reason))
        pack_size: int | None = stored.get("pack_size")
        if has("pack_size"):
            pack_size, reason = _count(record["pack_size"], "pack_size", minimum=1)
            if reason:
                found.append(("pack_size", reason))
        active = bool(stored.get("active", True))
        if has("active"):
            flag = record["active"].strip()
            active = flag != "0"
            if flag not in ("", "0", "1"):
                found.append(("active", f"active must be 1 or 0, not {flag!r}"))
        if found:
            problems.extend(Problem(row=row, column=column, reason=why) for column, why in found)
            continue
        assert product is not None
        assert price is not None
        inputs.append(
            VariantInput(
                row=row,
                sku=sku,
                product=product,
                options=options,
                barcodes=barcodes,
                category=category,
                vendor=vendor,
                cost=cost,
                price=price,
                tax_class=tax_class,
                reorder_point=reorder_point,
                reorder_qty=reorder_qty,
                pack_size=pack_size or 1,
                active=active,
            )
        )
    return inputs, problems


def _decode(data: bytes) -> tuple[str, list[Problem]]:
    """UTF-8 text (BOM dropped); each line with bytes that are not UTF-8 becomes a problem."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    problems = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    row=number,
                    column="",
                    reason=f"line {number} is not UTF-8 (byte 0x{line[exc.start]:02X} at column "
                    f"{exc.start + 1}); save the file as UTF-8",
                )
            )
    return data.decode("utf-8", errors="replace"), problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.row, p.column))


def read_csv(
    rt: Runtime, data: bytes, *, progress: Progress | None = None
) -> tuple[list[VariantInput], list[Problem]]:
    """Read and validate a catalog CSV: the variants it describes and every problem found."""
    inputs, problems, _ = _read(rt, data, progress)
    return inputs, problems


def _read(
    rt: Runtime, data: bytes, progress: Progress | None
) -> tuple[list[VariantInput], list[Problem], bool]:
    """As read_csv, plus whether a problem makes the whole file suspect (encoding, header,
    CSV structure), so that no part of it may be imported even when bad rows are skipped."""

    def stored(skus: set[str]) -> dict[str, dict[str, Any]]:
        return {
            str(item["sku"]).upper(): item
            for item in export_rows(rt.db)
            if str(item["sku"]).upper() in skus
        }

    return parse_csv(
        data,
        currency=rt.settings.currency,
        tax_classes=rt.settings.tax_classes,
        stored=stored,
        progress=progress,
    )


# Given the upper-cased SKUs of a file, their stored rows as export_rows gives them.
StoredRows = Callable[[set[str]], dict[str, dict[str, Any]]]


def parse_csv(
    data: bytes,
    *,
    currency: str,
    tax_classes: Sequence[str],
    stored: StoredRows,
    progress: Progress | None = None,
) -> tuple[list[VariantInput], list[Problem], bool]:
    """Read and validate a catalog CSV wherever the catalog is kept (appliance or cloud):
    the variants, every problem, and whether one makes the whole file suspect. `stored` is
    asked only when the file leaves out columns, whose stored values the rows then keep."""
    text, problems = _decode(data)
    # Bytes that are not UTF-8 mean the file was saved in another encoding: every other
    # accented name in it is then wrong too, even where the bytes happen to decode.
    fatal = bool(problems)
    bad_lines = {p.row for p in problems}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append(Problem(row=HEADER_ROW, column="", reason=f"header row: {exc}"))
        return [], _sorted(problems), True
    if not header:
        problems.append(Problem(row=HEADER_ROW, column="", reason="the file is empty"))
        return [], _sorted(problems), True
    names = [h.strip().lower() for h in header]
    known = ", ".join(COLUMNS)
    for name in dict.fromkeys(names):
        if name not in COLUMNS:
            reason = f"unknown column {name!r}; columns are {known}"
            problems.append(Problem(row=HEADER_ROW, column=name, reason=reason))
        elif names.count(name) > 1:
            reason = f"column {name} appears {names.count(name)} times"
            problems.append(Problem(row=HEADER_ROW, column=name, reason=reason))
    for name in REQUIRED:
        if name not in names:
            reason = f"required column {name} is missing"
            problems.append(Problem(row=HEADER_ROW, column=name, reason=reason))
    if any(p.row == HEADER_ROW for p in problems):
        return [], _sorted(problems), True

    records: list[tuple[int, dict[str, str]]] = []
    row = HEADER_ROW
    try:
        for fields in reader:
            row += 1
            line = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != len(names):
                problems.append(
                    Problem(
                        row=row,
                        column="",
                        reason=f"row has {len(fields)} fields; the header has {len(names)}",
                    )
                )
                continue
            if line in bad_lines:
                continue
            records.append((row, dict(zip(names, fields, strict=True))))
            if progress and row % 5000 == 0:
                progress("reading", row, 0)
    except csv.Error as exc:
        # A broken quote shifts every field after it: nothing from here on can be trusted,
        # and what came before would be a silently truncated import.
        reason = f"the CSV cannot be read from here on: {exc}"
        problems.append(Problem(row=row + 1, column="", reason=reason))
        return [], _sorted(problems), True

    present = frozenset(names)
    existing: dict[str, dict[str, Any]] = {}
    if not present.issuperset(COLUMNS):
        existing = stored({fields.get("sku", "").strip().upper() for _, fields in records})
    inputs, row_problems = parse_rows(
        records,
        present=present,
        currency=currency,
        tax_classes=tax_classes,
        existing=existing,
    )
    problems.extend(row_problems)
    return inputs, _sorted(problems), fatal


def import_csv(
    rt: Runtime,
    data: bytes,
    *,
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> UpsertReport:
    """Import a catalog CSV: all or nothing, unless bad rows are to be skipped."""
    inputs, problems, fatal = _read(rt, data, progress)
    if fatal:
        # A broken header, encoding or quoting makes every row suspect: never import part of it.
        skip_bad_rows = False
    return upsert_variants(
        rt, inputs, earlier_problems=problems, skip_bad_rows=skip_bad_rows, progress=progress
    )


def import_file(
    rt: Runtime, path: Path, *, skip_bad_rows: bool = False, progress: Progress | None = None
) -> UpsertReport:
    """Import a catalog CSV file from disk."""
    return import_csv(rt, path.read_bytes(), skip_bad_rows=skip_bad_rows, progress=progress)


def _decimal(amount: object, currency: str) -> str:
    return "" if amount is None else Money(int(str(amount)), currency).to_decimal_string()


def export_csv(rt: Runtime, out: TextIO) -> int:
    """Write the whole catalog as CSV; returns the number of variants written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    currency = rt.settings.currency
    for item in export_rows(rt.db):
        options: dict[str, str] = item["options"]  # type: ignore[assignment]
        writer.writerow(
            (
                item["sku"],
                item["product"],
                ";".join(f"{name}={value}" for name, value in options.items()),
                item["barcodes"] or "",
                item["category"] or "",
                item["vendor"] or "",
                _decimal(item["cost"], currency),
                _decimal(item["price"], currency),
                item["tax_class"],
                "" if item["reorder_point"] is None else item["reorder_point"],
                "" if item["reorder_qty"] is None else item["reorder_qty"],
                item["pack_size"],
                "1" if item["active"] else "0",
            )
        )
        count += 1
    return count
