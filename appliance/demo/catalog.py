"""Deterministic, realistic catalog generator for the demo store and for benchmarks."""

from __future__ import annotations

import bisect
import csv
import heapq
import itertools
import operator
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from stdnum.ean import calc_check_digit

from appliance.catalog.records import CSV_COLUMNS

_T = TypeVar("_T")


DEMO_STORE_NAME = "Tillbox Demo — Market Street"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoStaff:
    """A demo staff member; the PIN is a string so a leading zero would survive."""

    name: str
    role: str
    pin: str


DEMO_STAFF: tuple[DemoStaff, ...] = (
    DemoStaff(name="Maya Okafor", role="cashier", pin="4821"),
    DemoStaff(name="Tomás Lindqvist", role="supervisor", pin="7350"),
    DemoStaff(name="Priya Raman", role="manager", pin="9164"),
    # Two more cashiers, so three registers can trade at once in the demo history.
    DemoStaff(name="Lena Kovač", role="cashier", pin="5906"),
    DemoStaff(name="Jonas Weber", role="cashier", pin="3172"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogRow:
    """One sellable variant, every field exactly as it appears in the catalog CSV."""

    sku: str
    product: str
    options: str
    barcodes: str
    category: str
    vendor: str
    cost: str
    price: str
    tax_class: str
    reorder_point: str
    reorder_qty: str
    pack_size: str
    active: str

    def as_dict(self) -> dict[str, str]:
        """Return the row as a column-name → value mapping in CSV column order."""
        return dict(zip(CSV_COLUMNS, _row_values(self), strict=True))


_row_values = operator.attrgetter(*CSV_COLUMNS)


def generate_catalog(
    *, variants: int, seed: int = 7, extra_barcode_share: float = 0.05
) -> Iterator[CatalogRow]:
    """Yield exactly `variants` catalog rows, the same rows for the same seed."""
    if variants < 0:
        raise ValueError(f"variants must be >= 0, got {variants}")
    if not 0.0 <= extra_barcode_share <= 1.0:
        raise ValueError(f"extra_barcode_share must be within [0, 1], got {extra_barcode_share}")
    # Validate eagerly, then hand back a generator, so bad arguments fail at the call site.
    return _Generator(random.Random(seed), extra_barcode_share).rows(variants)


def write_catalog_csv(path: Path | str, rows: Iterable[CatalogRow]) -> int:
    """Write rows as a Tillbox catalog CSV (UTF-8, CRLF, header first); return the row count."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(_row_values(row))
            count += 1
    return count


# --------------------------------------------------------------------------------------
# Vocabulary: what a general-merchandise chain sells, who supplies it, how it varies.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    label: str
    code: str
    factor: float = 1.0


@dataclass(frozen=True, slots=True)
class _Axis:
    name: str
    values: tuple[_Value, ...]


@dataclass(frozen=True, slots=True)
class _AxisUse:
    """How a product line picks values from an axis: a contiguous run, a sample or all."""

    axis: _Axis
    mode: Literal["run", "sample", "all"]
    least: int = 1
    most: int = 99


@dataclass(frozen=True, slots=True, kw_only=True)
class _Line:
    code: str
    names: tuple[tuple[str, ...], ...]
    price: tuple[float, float]
    axes: tuple[_AxisUse, ...] = ()
    endings: tuple[str, ...] = ("99", "99", "95", "49")
    packs: tuple[int, ...] = (1,)
    tax: str | None = None
    vendors: tuple[str, ...] = ()
    weight: int = 2
    featured: tuple[str, ...] = ()
    cost_share: tuple[float, float] = (0.35, 0.65)
    max_products: int | None = None
    branded: bool = True  # a taken name may be retried with the supplier's brand in front
    series: str = "{base} No. {n}"  # last resort once the vocabulary is used up


@dataclass(frozen=True, slots=True)
class _Vendor:
    name: str
    gs1: tuple[str, ...]  # GS1 prefixes of the country the goods are registered in
    upc: bool = True  # also labels some goods with a UPC-A for the North American market
    brand: str = ""  # the name on the goods, when it differs from the supplier's

    @property
    def label(self) -> str:
        return self.brand or self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class _Category:
    name: str
    code: str
    tax: str
    share: int  # percent of the catalog's variants
    vendors: tuple[_Vendor, ...]
    lines: tuple[_Line, ...]


def _axis(name: str, *pairs: tuple[str, str]) -> _Axis:
    return _Axis(name, tuple(_Value(label, code) for label, code in pairs))


def _priced(name: str, *triples: tuple[str, str, float]) -> _Axis:
    return _Axis(name, tuple(_Value(label, code, factor) for label, code, factor in triples))


def _run(axis: _Axis, least: int, most: int) -> _AxisUse:
    return _AxisUse(axis, "run", least, most)


def _sample(axis: _Axis, least: int, most: int) -> _AxisUse:
    return _AxisUse(axis, "sample", least, most)


def _all(axis: _Axis) -> _AxisUse:
    return _AxisUse(axis, "all")


def _gs1(*ranges: tuple[int, int]) -> tuple[str, ...]:
    return tuple(f"{n:03d}" for lo, hi in ranges for n in range(lo, hi + 1))


_DE = _gs1((400, 440))
_FR = _gs1((300, 379))
_GB = _gs1((500, 509))
_IT = _gs1((800, 839))
_ES = _gs1((840, 849))
_NL = _gs1((870, 879))
_SE = _gs1((730, 739))
_DK = _gs1((570, 579))
_NO = _gs1((700, 709))
_PT = ("560",)
_IE = ("539",)
_BE = _gs1((540, 549))
_AT = _gs1((900, 919))
_PL = ("590",)
_CH = _gs1((760, 769))
_CN = _gs1((690, 699))
_TW = ("471",)
_JP = _gs1((450, 459), (490, 499))
_KR = ("880",)
# ISBN-13 is EAN-13 under the Bookland prefix; the registration group follows.
_ISBN_EN = ("9780", "9781")
_ISBN_DE = ("9783",)
_ISBN_FR = ("9782",)

_COLOUR_CODES = {
    "Black": "BLK",
    "White": "WHT",
    "Navy": "NVY",
    "Grey Marl": "GRY",
    "Charcoal": "CHR",
    "Red": "RED",
    "Burgundy": "BUR",
    "Forest Green": "GRN",
    "Olive": "OLV",
    "Sky Blue": "SKY",
    "Sand": "SND",
    "Écru": "ECR",
    "Mustard": "MUS",
    "Rust": "RST",
    "Teal": "TEA",
    "Pink": "PNK",
    "Stone": "STN",
    "Tan": "TAN",
    "Cognac": "COG",
    "Brown": "BRN",
    "Silver": "SLV",
    "Gold": "GLD",
    "Clear": "CLR",
    "Lilac": "LIL",
    "Orange": "ORG",
    "Yellow": "YEL",
    "Terracotta": "TER",
    "Sage": "SAG",
    "Indigo": "IND",
    "Mid Blue Wash": "MBW",
    "Light Wash": "LTW",
    "Washed Black": "WBK",
}


def _colours(*labels: str) -> _Axis:
    return _axis("Color", *((label, _COLOUR_CODES[label]) for label in labels))


_SIZES = _axis(
    "Size", ("XS", "XS"), ("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL"), ("XXL", "XXL")
)
_KIDS_SIZES = _axis(
    "Size",
    ("98/104", "104"),
    ("110/116", "116"),
    ("122/128", "128"),
    ("134/140", "140"),
    ("146/152", "152"),
)
_WAIST = _axis("Waist", *((f"W{w}", f"W{w}") for w in range(28, 39, 2)))
_LENGTH = _axis("Length", ("L30", "L30"), ("L32", "L32"), ("L34", "L34"))
_EU_WOMEN = _axis("Size", *((f"EU {n}", str(n)) for n in range(36, 43)))
_EU_MEN = _axis("Size", *((f"EU {n}", str(n)) for n in range(40, 47)))
_EU_UNISEX = _axis("Size", *((f"EU {n}", str(n)) for n in range(36, 47)))
_EU_KIDS = _axis("Size", *((f"EU {n}", str(n)) for n in range(24, 36)))
_SOCK_SIZES = _axis("Size", ("35–38", "3538"), ("39–42", "3942"), ("43–46", "4346"))
_BELT_SIZES = _axis("Size", ("80 cm", "80"), ("90 cm", "90"), ("100 cm", "100"), ("110 cm", "110"))
_SML = _axis("Size", ("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL"))

_MUG_SIZES = _priced("Size", ("300 ml", "300", 1.0), ("450 ml", "450", 1.2))
_PAN_SIZES = _priced("Size", ("20 cm", "20", 1.0), ("24 cm", "24", 1.2), ("28 cm", "28", 1.45))
_TOWEL_SIZES = _priced(
    "Size", ("Guest 30×50", "G", 0.45), ("Hand 50×100", "H", 1.0), ("Bath 70×140", "B", 1.9)
)
_CANDLE_SCENTS = _axis(
    "Scent",
    ("Crème Brûlée", "CRB"),
    ("Fig & Cedar", "FIG"),
    ("Sea Salt", "SEA"),
    ("Lavender", "LAV"),
    ("Amber & Oud", "AMB"),
    ("Fleur d'Oranger", "FLO"),
    ("Winter Spice", "WSP"),
)
_CANDLE_SIZES = _priced("Size", ("Votive 80 g", "80G", 0.45), ("Classic 200 g", "200G", 1.0))
_PAPER_SIZES = _priced("Size", ("A6", "A6", 0.7), ("A5", "A5", 1.0), ("A4", "A4", 1.35))
_RULING = _axis("Ruling", ("Lined", "LIN"), ("Dotted", "DOT"), ("Squared", "SQR"), ("Plain", "PLN"))
_INK = _axis(
    "Color", ("Black", "BLK"), ("Blue", "BLU"), ("Red", "RED"), ("Green", "GRN"), ("Violet", "VIO")
)
_NIB = _axis("Tip", ("Fine 0.5 mm", "05"), ("Medium 0.7 mm", "07"), ("Bold 1.0 mm", "10"))
_PIECES = _priced("Pieces", ("500", "500", 1.0), ("1000", "1000", 1.3), ("1500", "1500", 1.6))
_PLUSH_SIZES = _priced("Size", ("S 20 cm", "S", 0.6), ("M 35 cm", "M", 1.0), ("L 60 cm", "L", 1.9))
_SCENTS = _axis(
    "Scent",
    ("Lavender", "LAV"),
    ("Sea Salt", "SEA"),
    ("Fig & Cedar", "FIG"),
    ("Citrus Verbena", "CIT"),
    ("Rose", "ROS"),
    ("Coconut", "COC"),
    ("Unscented", "UNS"),
    ("Crème Brûlée", "CRB"),
)
_ML_LARGE = _priced("Size", ("250 ml", "250", 1.0), ("500 ml", "500", 1.7))
_ML_SMALL = _priced("Size", ("30 ml", "30", 0.55), ("50 ml", "50", 0.8), ("100 ml", "100", 1.0))
_LIP_FLAVOURS = _axis(
    "Flavour", ("Vanilla", "VAN"), ("Cherry", "CHE"), ("Mint", "MNT"), ("Honey", "HON")
)
_CABLE_LENGTH = _priced(
    "Length", ("0.5 m", "050", 0.8), ("1 m", "100", 1.0), ("2 m", "200", 1.25), ("3 m", "300", 1.5)
)
_WATTS = _priced(
    "Power",
    ("20 W", "20W", 1.0),
    ("30 W", "30W", 1.3),
    ("65 W", "65W", 2.0),
    ("100 W", "100W", 2.8),
)
_PHONES = _axis(
    "Model",
    ("iPhone 15", "IP15"),
    ("iPhone 15 Pro", "IP15P"),
    ("iPhone 16", "IP16"),
    ("iPhone 16 Pro Max", "IP16PM"),
    ("Galaxy S24", "GS24"),
    ("Galaxy S25", "GS25"),
    ("Galaxy A55", "GA55"),
    ("Pixel 8", "PX8"),
    ("Pixel 9", "PX9"),
    ("Pixel 9 Pro", "PX9P"),
)
_CAPACITY = _priced(
    "Capacity", ("5,000 mAh", "5K", 0.7), ("10,000 mAh", "10K", 1.0), ("20,000 mAh", "20K", 1.5)
)
_DEVICE_COLOURS = _colours("Black", "White", "Silver", "Navy", "Pink", "Sage")
_CHIP_FLAVOURS = _axis(
    "Flavour",
    ("Sea Salt", "SEA"),
    ("Salt & Vinegar", "SAV"),
    ("Cheese & Onion", "CHO"),
    ("Paprika", "PAP"),
    ("Sour Cream & Chive", "SCC"),
    ("Sweet Chilli", "SCH"),
)
_CHIP_PACKS = _priced(
    "Size", ("40 g", "40G", 0.4), ("150 g", "150G", 1.0), ("6 × 25 g", "6X25", 1.3)
)
_CHOC_FLAVOURS = _axis(
    "Flavour",
    ("Milk", "MLK"),
    ("Dark 70%", "D70"),
    ("Dark 85%", "D85"),
    ("Hazelnut", "HAZ"),
    ("Sea Salt Caramel", "SSC"),
    ("Orange", "ORA"),
    ("Almond", "ALM"),
)
_COFFEE_GRIND = _axis("Grind", ("Whole Bean", "WB"), ("Filter", "FIL"), ("Espresso", "ESP"))
_COFFEE_SIZE = _priced("Size", ("250 g", "250G", 1.0), ("1 kg", "1KG", 3.4))
_TEA_FLAVOURS = _axis(
    "Flavour",
    ("English Breakfast", "ENB"),
    ("Earl Grey", "EGR"),
    ("Peppermint", "PEP"),
    ("Chamomile", "CHA"),
    ("Sencha", "SEN"),
    ("Rooibos Vanilla", "RBV"),
)
_GRANOLA_FLAVOURS = _axis(
    "Flavour",
    ("Apple & Hazelnut", "APH"),
    ("Berry", "BER"),
    ("Chocolate", "CHO"),
    ("Honey & Almond", "HAL"),
)
_DRINK_FLAVOURS = _axis(
    "Flavour",
    ("Natural", "NAT"),
    ("Lemon & Lime", "LAL"),
    ("Raspberry", "RAS"),
    ("Grapefruit", "GRF"),
    ("Elderflower", "ELD"),
)
_DRINK_PACKS = _priced("Pack", ("Single 330 ml", "1X330", 1.0), ("6 × 330 ml", "6X330", 5.2))
_YOGA_THICKNESS = _priced("Thickness", ("4 mm", "4MM", 1.0), ("6 mm", "6MM", 1.2))
_BOTTLE_SIZES = _priced("Size", ("500 ml", "500", 1.0), ("750 ml", "750", 1.15), ("1 l", "1L", 1.3))
_WEIGHTS = _priced(
    "Weight",
    ("2 kg", "2KG", 1.0),
    ("4 kg", "4KG", 1.7),
    ("6 kg", "6KG", 2.3),
    ("8 kg", "8KG", 2.9),
    ("10 kg", "10KG", 3.4),
)
_STRENGTH = _axis(
    "Strength", ("Light", "LT"), ("Medium", "MD"), ("Heavy", "HV"), ("Extra Heavy", "XH")
)
_POT_SIZES = _priced(
    "Size", ("12 cm", "12", 0.55), ("17 cm", "17", 1.0), ("24 cm", "24", 1.7), ("32 cm", "32", 2.6)
)
_SOIL_SIZES = _priced("Size", ("10 l", "10L", 0.6), ("20 l", "20L", 1.0), ("40 l", "40L", 1.7))
_HOSE_LENGTH = _priced("Length", ("15 m", "15M", 1.0), ("25 m", "25M", 1.45), ("50 m", "50M", 2.4))
_GLOVE_SIZES = _axis("Size", ("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL"))
_PET_SIZES = _priced("Size", ("S", "S", 1.0), ("M", "M", 1.15), ("L", "L", 1.3), ("XL", "XL", 1.5))
_BED_SIZES = _priced("Size", ("S 50 cm", "S", 1.0), ("M 70 cm", "M", 1.4), ("L 90 cm", "L", 1.9))
_CAT_FLAVOURS = _axis(
    "Flavour",
    ("Chicken", "CHK"),
    ("Salmon", "SAL"),
    ("Beef", "BEF"),
    ("Tuna & Prawn", "TUP"),
    ("Turkey", "TUR"),
    ("Duck", "DCK"),
)
_CAT_PACKS = _priced("Pack", ("Single 85 g", "1X85", 1.0), ("12 × 85 g", "12X85", 10.5))
_LITTER_SIZES = _priced("Size", ("5 l", "5L", 1.0), ("10 l", "10L", 1.75), ("20 l", "20L", 3.1))
_TREAT_FLAVOURS = _axis(
    "Flavour", ("Chicken", "CHK"), ("Lamb", "LMB"), ("Peanut Butter", "PNB"), ("Liver", "LIV")
)
_GIFT_AMOUNTS = _priced(
    "Amount",
    ("€10", "10", 10.0),
    ("€15", "15", 15.0),
    ("€25", "25", 25.0),
    ("€50", "50", 50.0),
    ("€100", "100", 100.0),
)
_POSA_AMOUNTS = _priced("Amount", ("€15", "15", 15.0), ("€25", "25", 25.0), ("€50", "50", 50.0))

_APPAREL_COLOURS = _colours(
    "Black",
    "White",
    "Navy",
    "Grey Marl",
    "Charcoal",
    "Burgundy",
    "Forest Green",
    "Olive",
    "Sky Blue",
    "Sand",
    "Écru",
    "Mustard",
    "Rust",
)
_DENIM_WASHES = _colours("Indigo", "Mid Blue Wash", "Light Wash", "Washed Black")
_KIDS_COLOURS = _colours("Navy", "Red", "Sky Blue", "Yellow", "Pink", "Forest Green", "Lilac")
_SHOE_COLOURS = _colours("Black", "White", "Navy", "Stone", "Tan", "Cognac", "Brown", "Olive")
_LEATHER_COLOURS = _colours("Black", "Brown", "Tan", "Cognac", "Navy", "Burgundy")
_HOME_COLOURS = _colours("White", "Stone", "Sage", "Terracotta", "Charcoal", "Mustard", "Teal")
_BRIGHT_COLOURS = _colours("Black", "Red", "Teal", "Orange", "Lilac", "Sky Blue", "Forest Green")
_PET_COLOURS = _colours("Black", "Red", "Navy", "Orange", "Pink", "Teal", "Olive")

_APPAREL_VENDORS = (
    _Vendor("Harbor & Pine", _GB),
    _Vendor("Northwind Apparel", _DE, brand="Northwind"),
    _Vendor("Lumo Basics", _SE, brand="Lumo"),
    _Vendor("Stitchworks Lda", _PT, brand="Stitchworks"),
    _Vendor("Oakline Denim", _IT, brand="Oakline"),
    _Vendor("Little Sprout Kids", _NL, brand="Little Sprout"),
)
_KIDS_APPAREL = ("Little Sprout Kids", "Lumo Basics")
_ADULT_APPAREL = ("Harbor & Pine", "Northwind Apparel", "Lumo Basics", "Stitchworks Lda")

_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        name="Apparel",
        code="APP",
        tax="standard",
        share=16,
        vendors=_APPAREL_VENDORS,
        lines=(
            _Line(
                code="TEE",
                names=(
                    ("Classic", "Essential", "Relaxed", "Slim Fit", "Heavyweight", "Vintage Wash"),
                    ("Organic Cotton", "Cotton", "Bamboo", "Slub", "Supima Cotton"),
                    ("Crew Tee", "V-Neck Tee", "Pocket Tee", "Longline Tee", "Raglan Tee"),
                ),
                axes=(_run(_SIZES, 4, 6), _sample(_APPAREL_COLOURS, 2, 5)),
                price=(12, 29),
                vendors=_ADULT_APPAREL,
                weight=4,
            ),
            _Line(
                code="HOD",
                names=(
                    ("Everyday", "Heavyweight", "Oversized", "Brushed", "Loopback"),
                    ("Fleece", "Cotton", "Organic Cotton", "Recycled"),
                    ("Hoodie", "Zip Hoodie", "Pullover Hoodie", "Crew Sweatshirt"),
                ),
                axes=(_run(_SIZES, 4, 6), _sample(_APPAREL_COLOURS, 2, 4)),
                price=(35, 75),
                vendors=_ADULT_APPAREL,
                weight=3,
            ),
            _Line(
                code="JNS",
                names=(
                    ("Straight", "Slim", "Tapered", "Relaxed", "Bootcut", "Wide Leg"),
                    ("Stretch", "Selvedge", "Rigid", "Comfort", ""),
                    ("Jeans", "Denim Jeans", "5-Pocket Jeans"),
                ),
                axes=(_run(_WAIST, 4, 6), _run(_LENGTH, 2, 3), _sample(_DENIM_WASHES, 1, 2)),
                price=(49, 119),
                endings=("99", "95", "whole"),
                vendors=("Oakline Denim", "Northwind Apparel"),
                weight=3,
            ),
            _Line(
                code="SHR",
                names=(
                    ("Oxford", "Linen", "Flannel", "Chambray", "Poplin", "Corduroy"),
                    ("Button-Down Shirt", "Overshirt", "Camp Collar Shirt", "Shirt"),
                ),
                axes=(_run(_SIZES, 4, 5), _sample(_APPAREL_COLOURS, 2, 4)),
                price=(29, 69),
                vendors=_ADULT_APPAREL,
            ),
            _Line(
                code="KNT",
                names=(
                    ("Merino", "Lambswool", "Cashmere Blend", "Cotton", "Fair Isle"),
                    ("Crew Jumper", "Cardigan", "Roll Neck", "Knit Vest"),
                ),
                axes=(_run(_SIZES, 4, 5), _sample(_APPAREL_COLOURS, 2, 4)),
                price=(45, 129),
                endings=("99", "95", "whole"),
                vendors=_ADULT_APPAREL,
            ),
            _Line(
                code="KID",
                names=(
                    ("Kids'",),
                    ("Organic Cotton", "Striped", "Dino Print", "Rainbow", "Rocket Print"),
                    ("Tee", "Hoodie", "Joggers", "Pyjamas", "Dungarees"),
                ),
                axes=(_run(_KIDS_SIZES, 3, 5), _sample(_KIDS_COLOURS, 1, 3)),
                price=(9, 29),
                tax="reduced",
                vendors=_KIDS_APPAREL,
                weight=3,
            ),
        ),
    ),
    _Category(
        name="Footwear",
        code="FTW",
        tax="standard",
        share=9,
        vendors=(
            _Vendor("Trailhead Footwear", _DE, brand="Trailhead"),
            _Vendor("Strada Calzature", _IT, brand="Strada"),
            _Vendor("Nordkapp Shoes", _NO, brand="Nordkapp"),
            _Vendor("Pacer Athletic", _GB, brand="Pacer"),
            _Vendor("Tiny Toes", _ES),
        ),
        lines=(
            _Line(
                code="RUN",
                names=(
                    ("Trail Runner", "Road Runner", "Tempo", "Cloud Walker", "Stride"),
                    ("GTX", "Lite", "2", "Pro", "Knit", "Max"),
                ),
                axes=(_run(_EU_UNISEX, 8, 11), _sample(_SHOE_COLOURS, 1, 3)),
                price=(69, 159),
                endings=("99", "95", "whole"),
                vendors=("Trailhead Footwear", "Pacer Athletic", "Nordkapp Shoes"),
                weight=3,
            ),
            _Line(
                code="WMN",
                names=(
                    ("Leather", "Suede", "Canvas", "Knit"),
                    ("Ballet Flat", "Ankle Boot", "Loafer", "Mule", "Court Shoe", "Espadrille"),
                ),
                axes=(_run(_EU_WOMEN, 6, 7), _sample(_SHOE_COLOURS, 1, 3)),
                price=(45, 139),
                vendors=("Strada Calzature", "Nordkapp Shoes", "Trailhead Footwear"),
            ),
            _Line(
                code="MEN",
                names=(
                    ("Leather", "Suede", "Waxed", "Nubuck"),
                    ("Derby Shoe", "Chelsea Boot", "Brogue", "Chukka Boot", "Boat Shoe"),
                ),
                axes=(_run(_EU_MEN, 6, 7), _sample(_SHOE_COLOURS, 1, 2)),
                price=(69, 169),
                endings=("99", "95", "whole"),
                vendors=("Strada Calzature", "Nordkapp Shoes"),
            ),
            _Line(
                code="SNK",
                names=(
                    ("Court Classic", "Canvas Low-Top", "Canvas High-Top", "Retro Runner"),
                    ("", "Vegan", "Leather", "Recycled"),
                ),
                axes=(_run(_EU_UNISEX, 8, 11), _sample(_SHOE_COLOURS, 1, 3)),
                price=(39, 109),
                vendors=("Pacer Athletic", "Trailhead Footwear"),
            ),
            _Line(
                code="KID",
                names=(
                    ("Kids'",),
                    ("Light-Up", "Velcro", "Waterproof", "Canvas"),
                    ("Trainers", "Wellies", "Sandals", "Boots"),
                ),
                axes=(_run(_EU_KIDS, 6, 10), _sample(_KIDS_COLOURS, 1, 2)),
                price=(19, 49),
                tax="reduced",
                vendors=("Tiny Toes",),
            ),
        ),
    ),
    _Category(
        name="Accessories",
        code="ACC",
        tax="standard",
        share=7,
        vendors=(
            _Vendor("Atelier Mirabel", _FR),
            _Vendor("Carryall Co.", _GB, brand="Carryall"),
            _Vendor("Hollis Leather", _IT, brand="Hollis"),
            _Vendor("Sunward Eyewear", _ES, brand="Sunward"),
            _Vendor("Knit & Purl", _IE),
        ),
        lines=(
            _Line(
                code="BAG",
                names=(
                    ("Roll-Top", "Canvas", "Recycled Nylon", "Waxed Cotton", "Everyday"),
                    ("Backpack", "Tote Bag", "Crossbody Bag", "Weekender", "Belt Bag"),
                ),
                axes=(_sample(_LEATHER_COLOURS, 1, 4),),
                price=(25, 95),
                vendors=("Carryall Co.", "Atelier Mirabel"),
                weight=3,
            ),
            _Line(
                code="KBG",
                names=(
                    ("Kids'",),
                    ("Dino", "Unicorn", "Rocket", "Shark", "Ladybird", "Tiger"),
                    ("Backpack", "Lunch Bag", "Rain Hat", "Pencil Case", "Sun Hat"),
                ),
                axes=(_sample(_KIDS_COLOURS, 1, 2),),
                price=(8, 29),
                tax="reduced",
                vendors=("Carryall Co.",),
                featured=('Kids\' "Dino" Backpack',),
            ),
            _Line(
                code="BLT",
                names=(("Leather", "Suede", "Woven", "Reversible"), ("Belt", "Dress Belt")),
                axes=(_run(_BELT_SIZES, 3, 4), _sample(_LEATHER_COLOURS, 1, 3)),
                price=(25, 69),
                vendors=("Hollis Leather",),
            ),
            _Line(
                code="WAL",
                names=(
                    ("Leather", "Slim", "RFID", "Vegetable-Tanned"),
                    ("Bifold Wallet", "Card Holder", "Zip Purse", "Coin Purse"),
                ),
                axes=(_sample(_LEATHER_COLOURS, 1, 4),),
                price=(15, 59),
                vendors=("Hollis Leather", "Atelier Mirabel"),
            ),
            _Line(
                code="SCF",
                names=(
                    ("Chunky Knit", "Merino", "Check", "Silk Blend", "Ribbed"),
                    ("Scarf", "Beanie", "Gloves", "Snood"),
                ),
                axes=(_sample(_APPAREL_COLOURS, 2, 5),),
                price=(12, 45),
                vendors=("Knit & Purl", "Atelier Mirabel"),
                weight=3,
            ),
            _Line(
                code="SUN",
                names=(
                    ("Polarised", "Classic", "Retro", "Sport"),
                    ("Aviator Sunglasses", "Round Sunglasses", "Wayfarer Sunglasses"),
                ),
                axes=(_sample(_colours("Black", "Tan", "Gold", "Silver", "Clear"), 1, 3),),
                price=(19, 89),
                vendors=("Sunward Eyewear",),
            ),
            _Line(
                code="SCK",
                names=(
                    ("Bamboo", "Cotton Rich", "Wool Blend", "Patterned", "Trainer"),
                    ("Socks 3-Pack", "Socks 5-Pack", "Ankle Socks 3-Pack"),
                ),
                axes=(_all(_SOCK_SIZES), _sample(_APPAREL_COLOURS, 1, 3)),
                price=(8, 19),
                packs=(1, 6),
                vendors=("Knit & Purl",),
            ),
        ),
    ),
    _Category(
        name="Home & Kitchen",
        code="HOM",
        tax="standard",
        share=10,
        vendors=(
            _Vendor("Kessel & Co.", _DE, brand="Kessel"),
            _Vendor("Maison Dorée", _FR),
            _Vendor("Fjord Living", _DK),
            _Vendor("Casa Olivo", _ES),
            _Vendor("Hearth Candle Works", _GB, brand="Hearth"),
        ),
        lines=(
            _Line(
                code="KIT",
                names=(
                    ("Acacia Wood", "Stainless Steel", "Ceramic", "Beech", "Marble"),
                    ("Pepper Mill", "Utensil Set", "Chopping Board", "Oil Bottle", "Salad Bowl"),
                ),
                price=(9, 49),
                packs=(1, 4, 6),
                vendors=("Kessel & Co.", "Casa Olivo", "Fjord Living"),
                featured=("Salt, Pepper & Herb Grinder",),
            ),
            _Line(
                code="CDL",
                names=(
                    ("Soy Wax", "Hand-Poured", "Scented", "Three-Wick"),
                    ("Candle", "Tin Candle", "Jar Candle"),
                ),
                axes=(_sample(_CANDLE_SCENTS, 2, 5), _all(_CANDLE_SIZES)),
                price=(12, 32),
                packs=(1, 6),
                vendors=("Hearth Candle Works", "Maison Dorée"),
                featured=("Crème Brûlée Candle",),
            ),
            _Line(
                code="MUG",
                names=(
                    ("Stoneware", "Speckled", "Enamel", "Hand-Glazed", "Porcelain"),
                    ("Mug", "Latte Mug", "Espresso Cup", "Tumbler"),
                ),
                axes=(_all(_MUG_SIZES), _sample(_HOME_COLOURS, 2, 5)),
                price=(6, 16),
                packs=(4, 6),
                vendors=("Fjord Living", "Maison Dorée", "Casa Olivo"),
                weight=3,
            ),
            _Line(
                code="PAN",
                names=(
                    ("Cast Iron", "Non-Stick", "Tri-Ply", "Carbon Steel", "Ceramic"),
                    ("Frying Pan", "Sauté Pan", "Saucepan", "Wok", "Casserole"),
                ),
                axes=(
                    _run(_PAN_SIZES, 2, 3),
                    _sample(_colours("Black", "Silver", "Teal", "Red"), 1, 2),
                ),
                price=(24, 89),
                vendors=("Kessel & Co.", "Maison Dorée"),
            ),
            _Line(
                code="TWL",
                names=(
                    ("Organic Cotton", "Waffle", "Turkish Cotton", "Linen"),
                    ("Towel", "Tea Towel", "Bath Towel"),
                ),
                axes=(_all(_TOWEL_SIZES), _sample(_HOME_COLOURS, 2, 4)),
                price=(9, 25),
                packs=(1, 2, 4),
                vendors=("Fjord Living", "Casa Olivo"),
            ),
            _Line(
                code="STO",
                names=(
                    ("Glass", "Bamboo-Lid", "Airtight", "Stackable"),
                    ("Storage Jar", "Food Container Set", "Bread Bin", "Spice Rack"),
                ),
                price=(6, 39),
                packs=(1, 6, 12),
                vendors=("Kessel & Co.", "Fjord Living"),
            ),
        ),
    ),
    _Category(
        name="Stationery",
        code="STA",
        tax="standard",
        share=6,
        vendors=(
            _Vendor("Papeterie Lumière", _FR, brand="Lumière"),
            _Vendor("Inkwell & Quill", _GB),
            _Vendor("Nordic Paper Co.", _SE, brand="Nordic Paper"),
            _Vendor("Schreibwerk", _DE),
            _Vendor("Kōgei Stationery", _JP, brand="Kōgei"),
        ),
        lines=(
            _Line(
                code="NBK",
                names=(
                    ("Hardcover", "Softcover", "Linen-Bound", "Recycled", "Spiral"),
                    ("Notebook", "Journal", "Sketchbook", "Bullet Journal"),
                ),
                axes=(_run(_PAPER_SIZES, 1, 2), _sample(_RULING, 1, 3)),
                price=(4, 24),
                packs=(6, 12),
                weight=3,
            ),
            _Line(
                code="PEN",
                names=(
                    (
                        "Gel",
                        "Rollerball",
                        "Fineliner",
                        "Ballpoint",
                        "Brush",
                        "Fountain",
                        "Felt-Tip",
                    ),
                    ("Pen", "Pen, 3-Pack"),
                ),
                axes=(_sample(_INK, 2, 5), _sample(_NIB, 1, 2)),
                price=(1.5, 6),
                endings=("9", "49", "99"),
                packs=(12, 24),
                weight=3,
            ),
            _Line(
                code="SET",
                names=(
                    ("Watercolour", "Coloured Pencil", "Brush Pen", "Highlighter", "Calligraphy"),
                    ("Set of 12", "Set of 24", "Starter Set", "Tin of 36"),
                ),
                price=(6, 39),
                packs=(1, 6),
            ),
            _Line(
                code="PLN",
                names=(
                    ("2026", "Undated", "Academic", "Weekly", "Daily"),
                    ("Planner", "Desk Diary", "Wall Calendar"),
                ),
                axes=(_sample(_HOME_COLOURS, 1, 3),),
                price=(9, 29),
                packs=(1, 6),
            ),
            _Line(
                code="PAP",
                names=(
                    ("Kraft", "Pastel", "Neon", "Recycled"),
                    ("Sticky Notes", "Envelopes C6, 50 pcs", "Greeting Cards, 10 pcs", "Gift Wrap"),
                ),
                price=(2, 12),
                endings=("9", "49", "99"),
                packs=(12, 24),
            ),
        ),
    ),
    _Category(
        name="Toys & Games",
        code="TOY",
        tax="standard",
        share=6,
        vendors=(
            _Vendor("Brightblock Toys", _DK, brand="Brightblock"),
            _Vendor("Meeple Mountain Games", _DE, brand="Meeple Mountain"),
            _Vendor("Woodland Wonders", _PL),
            _Vendor("Pocket Puzzles", _NL),
            _Vendor("Sternchen Spielwaren", _DE, brand="Sternchen"),
        ),
        lines=(
            _Line(
                code="GAM",
                names=(
                    ("Harbour", "Dragon", "Castle", "Space", "Jungle", "Pirate", "Orchard"),
                    ("Traders", "Quest", "Race", "Builders", "Rescue", "Heist"),
                    ("Board Game", "Card Game", "Dice Game", "Family Game"),
                ),
                price=(12, 59),
                packs=(1, 4, 6),
                vendors=("Meeple Mountain Games", "Sternchen Spielwaren"),
                weight=3,
            ),
            _Line(
                code="PUZ",
                names=(
                    (
                        "Alpine Village",
                        "Lighthouse",
                        "Botanical Garden",
                        "Night Market",
                        "Harbour at Dusk",
                        "Vintage Travel Posters",
                        "Wildflower Meadow",
                        "Library Cats",
                        "Venice Canals",
                        "Northern Lights",
                        "Spice Market",
                        "Cosy Bookshop",
                    ),
                    ("Jigsaw Puzzle", "Panorama Puzzle"),
                ),
                axes=(_sample(_PIECES, 1, 3),),
                price=(12, 24),
                packs=(1, 6),
                vendors=("Pocket Puzzles", "Meeple Mountain Games"),
            ),
            _Line(
                code="PLU",
                names=(
                    ("Cuddly", "Floppy", "Sleepy", "Huggable"),
                    ("Bear", "Bunny", "Fox", "Otter", "Dinosaur", "Sloth", "Penguin"),
                ),
                axes=(_run(_PLUSH_SIZES, 1, 3),),
                price=(12, 25),
                packs=(1, 6),
                vendors=("Sternchen Spielwaren", "Woodland Wonders"),
                weight=3,
            ),
            _Line(
                code="BLD",
                names=(
                    ("Starter", "Deluxe", "Creative", "Classic"),
                    ("Building Bricks", "Marble Run", "Magnetic Tiles", "Wooden Train"),
                    ("Set", "Bucket", "Box"),
                ),
                price=(19, 99),
                vendors=("Brightblock Toys", "Woodland Wonders"),
            ),
            _Line(
                code="OUT",
                names=(
                    ("Rainbow", "Giant", "Glow-in-the-Dark", "Classic", "Stunt"),
                    ("Bubble Wand", "Kite", "Sand Toy Set", "Skipping Rope", "Chalk Set"),
                ),
                axes=(_sample(_BRIGHT_COLOURS, 1, 3),),
                price=(3, 15),
                endings=("9", "49", "99"),
                packs=(6, 12),
                vendors=("Woodland Wonders", "Brightblock Toys"),
            ),
        ),
    ),
    _Category(
        name="Beauty & Personal Care",
        code="BEA",
        tax="standard",
        share=7,
        vendors=(
            _Vendor("Botanica Naturals", _FR, brand="Botanica"),
            _Vendor("Sea & Sage", _GB),
            _Vendor("Pure Grove", _NL),
            _Vendor("Lindholm Skin", _SE, brand="Lindholm"),
            _Vendor("Aromas del Sur", _ES),
        ),
        lines=(
            _Line(
                code="SHW",
                names=(
                    ("Nourishing", "Revitalising", "Gentle", "Moisturising"),
                    ("Shower Gel", "Body Wash", "Shampoo", "Conditioner", "Body Lotion"),
                ),
                axes=(_sample(_SCENTS, 2, 5), _all(_ML_LARGE)),
                price=(3, 12),
                endings=("9", "49", "99", "95"),
                packs=(6, 12),
                weight=4,
            ),
            _Line(
                code="HND",
                names=(
                    ("Shea Butter", "Intensive", "Botanical", "Repair"),
                    ("Hand Cream", "Foot Balm", "Face Cream", "Night Cream", "Serum"),
                ),
                axes=(_sample(_SCENTS, 1, 3), _run(_ML_SMALL, 1, 2)),
                price=(5, 29),
                packs=(6, 12),
            ),
            _Line(
                code="LIP",
                names=(
                    ("Tinted", "Organic", "SPF 15", "Beeswax", "Overnight", "Vegan"),
                    ("Lip Balm", "Lip Oil", "Lip Scrub"),
                ),
                axes=(_sample(_LIP_FLAVOURS, 2, 4),),
                price=(2, 6),
                endings=("9", "49", "99"),
                packs=(12, 24),
            ),
            _Line(
                code="SOP",
                names=(
                    ("Olive Oil", "Goat Milk", "Charcoal", "Oatmeal", "Marseille"),
                    ("Bar Soap", "Soap Bar 100 g", "Hand Soap"),
                ),
                price=(2.5, 8),
                endings=("9", "49", "99"),
                packs=(6, 12, 24),
                featured=("Savon de Marseille, Olive & Lavande",),
            ),
            _Line(
                code="DEO",
                names=(
                    ("Natural", "Aluminium-Free", "Refillable", "48h", "Sensitive", "Sport"),
                    ("Deodorant", "Roll-On", "Deodorant Stick", "Body Spray"),
                ),
                axes=(_sample(_SCENTS, 2, 4),),
                price=(4, 14),
                packs=(6, 12),
            ),
        ),
    ),
    _Category(
        name="Electronics Accessories",
        code="ELC",
        tax="standard",
        share=8,
        vendors=(
            _Vendor("Voltra", _CN),
            _Vendor("Cablecraft", _TW),
            _Vendor("Ampere Labs", _DE),
            _Vendor("Shellguard", _CN),
            _Vendor("Soundpeak Audio", _KR, brand="Soundpeak"),
        ),
        lines=(
            _Line(
                code="CBL",
                names=(
                    ("Braided", "Fast-Charge", "Flat", "Right-Angle", ""),
                    (
                        "USB-C to USB-C Cable",
                        "USB-C to Lightning Cable",
                        "USB-A to USB-C Cable",
                        "HDMI 2.1 Cable",
                        "DisplayPort Cable",
                    ),
                ),
                axes=(_run(_CABLE_LENGTH, 2, 4), _sample(_DEVICE_COLOURS, 1, 2)),
                price=(7, 24),
                packs=(1, 5, 10),
                vendors=("Cablecraft", "Voltra", "Ampere Labs"),
                featured=("USB-C to USB-C Cable 2 m",),
                weight=3,
            ),
            _Line(
                code="CHG",
                names=(
                    ("GaN", "Compact", "Dual-Port", "Travel", "Foldable", "Three-Port"),
                    ("Wall Charger", "USB-C Charger", "Car Charger", "Charging Station"),
                ),
                axes=(_run(_WATTS, 2, 4),),
                price=(15, 29),
                packs=(1, 5),
                vendors=("Voltra", "Ampere Labs"),
            ),
            _Line(
                code="CAS",
                names=(
                    ("Clear", "Silicone", "Leather", "Rugged", "MagSafe-Compatible", "Slim"),
                    ("Phone Case", "Shockproof Case", "Wallet Case"),
                ),
                axes=(_sample(_PHONES, 4, 8), _sample(_DEVICE_COLOURS, 1, 3)),
                price=(12, 39),
                packs=(1, 5),
                vendors=("Shellguard",),
                weight=3,
            ),
            _Line(
                code="PWR",
                names=(
                    ("Slim", "Rugged", "Wireless", "MagSafe-Compatible", "Solar", "Fast-Charge"),
                    ("Power Bank", "Power Bank with Cable"),
                ),
                axes=(_run(_CAPACITY, 1, 3), _sample(_DEVICE_COLOURS, 1, 2)),
                price=(19, 39),
                vendors=("Voltra", "Ampere Labs"),
            ),
            _Line(
                code="AUD",
                names=(
                    ("Wireless", "Noise-Cancelling", "Sport", "Over-Ear"),
                    ("Earbuds", "Headphones", "Bluetooth Speaker"),
                ),
                axes=(_sample(_DEVICE_COLOURS, 1, 4),),
                price=(19, 129),
                endings=("99", "95", "whole"),
                vendors=("Soundpeak Audio",),
            ),
        ),
    ),
    _Category(
        name="Grocery & Snacks",
        code="GRO",
        tax="reduced",
        share=10,
        vendors=(
            _Vendor("Müller & Söhne Feinkost", _DE, brand="Müller & Söhne"),
            _Vendor("Crunchfield Snacks", _GB, brand="Crunchfield"),
            _Vendor("Cacao Verde", _BE),
            _Vendor("Tostadores del Norte", _ES),
            _Vendor("Alpine Tea House", _AT, brand="Alpine"),
            _Vendor("Bubbly Springs", _FR),
        ),
        lines=(
            _Line(
                code="CHP",
                names=(
                    ("Hand-Cooked", "Lightly Salted", "Ridge-Cut", "Baked"),
                    ("Kettle Chips", "Potato Crisps", "Tortilla Chips", "Lentil Crisps"),
                ),
                axes=(_sample(_CHIP_FLAVOURS, 2, 5), _sample(_CHIP_PACKS, 1, 2)),
                price=(1.5, 3),
                endings=("9", "49", "99"),
                packs=(12, 24),
                vendors=("Crunchfield Snacks", "Müller & Söhne Feinkost"),
                weight=3,
            ),
            _Line(
                code="CHO",
                names=(
                    ("Fairtrade", "Single-Origin", "Organic", "Swiss-Style"),
                    ("Chocolate Bar 100 g", "Chocolate Buttons", "Truffles 150 g"),
                ),
                axes=(_sample(_CHOC_FLAVOURS, 2, 5),),
                price=(1.5, 6),
                endings=("9", "49", "99"),
                packs=(12, 24),
                vendors=("Cacao Verde",),
                weight=3,
            ),
            _Line(
                code="COF",
                names=(
                    ("Café Crème", "Colombia Huila", "Ethiopia Yirgacheffe", "House Blend"),
                    ("Coffee", "Espresso Beans", "Decaf Coffee"),
                ),
                axes=(_sample(_COFFEE_GRIND, 1, 3), _all(_COFFEE_SIZE)),
                price=(5, 11),
                endings=("9", "49", "99"),
                packs=(6, 12),
                vendors=("Tostadores del Norte",),
                featured=("Café Crème Espresso Beans",),
            ),
            _Line(
                code="TEA",
                names=(
                    ("Organic", "Loose-Leaf", "Premium", "Alpine Herb", "Cold Brew", "Fairtrade"),
                    ("Tea, 20 Bags", "Tea Tin 100 g", "Tea, 50 Bags", "Pyramid Tea Bags"),
                ),
                axes=(_sample(_TEA_FLAVOURS, 2, 5),),
                price=(2.5, 9),
                endings=("9", "49", "99"),
                packs=(6, 12),
                vendors=("Alpine Tea House",),
            ),
            _Line(
                code="GRA",
                names=(
                    ("Crunchy", "Toasted", "Bircher", "Protein"),
                    ("Granola 500 g", "Müsli 750 g", "Oat Clusters 400 g"),
                ),
                axes=(_sample(_GRANOLA_FLAVOURS, 1, 3),),
                price=(2.5, 6),
                endings=("9", "49", "99"),
                packs=(6, 8),
                vendors=("Müller & Söhne Feinkost",),
                featured=("Bircher Müsli, Apple & Hazelnut",),
            ),
            _Line(
                code="DRK",
                names=(
                    ("Sparkling", "Still", "Lightly Sparkling", "Alpine", "Mineral"),
                    ("Spring Water", "Seltzer", "Water", "Lemonade", "Soda"),
                ),
                axes=(_sample(_DRINK_FLAVOURS, 2, 4), _all(_DRINK_PACKS)),
                price=(0.6, 1.6),
                endings=("9",),
                packs=(24,),
                # Soft drinks and water take the standard rate in most EU countries.
                tax="standard",
                vendors=("Bubbly Springs",),
            ),
        ),
    ),
    _Category(
        name="Sports & Outdoors",
        code="SPO",
        tax="standard",
        share=6,
        vendors=(
            _Vendor("Summit Gear", _DE, brand="Summit"),
            _Vendor("Flowline Yoga", _NL),
            _Vendor("Ironclad Fitness", _PL, brand="Ironclad"),
            _Vendor("Courtside Sports", _GB, brand="Courtside"),
            _Vendor("Fjellvenn Outdoor", _NO, brand="Fjellvenn"),
        ),
        lines=(
            _Line(
                code="YOG",
                names=(("Eco", "Non-Slip", "Travel", "Cork"), ("Yoga Mat", "Exercise Mat")),
                axes=(_all(_YOGA_THICKNESS), _sample(_BRIGHT_COLOURS, 2, 4)),
                price=(19, 59),
                vendors=("Flowline Yoga",),
            ),
            _Line(
                code="BTL",
                names=(
                    ("Insulated", "Stainless Steel", "Collapsible", "Sports"),
                    ("Water Bottle", "Flask", "Tumbler"),
                ),
                axes=(_run(_BOTTLE_SIZES, 1, 3), _sample(_BRIGHT_COLOURS, 2, 5)),
                price=(9, 35),
                packs=(1, 6),
                vendors=("Summit Gear", "Fjellvenn Outdoor"),
                weight=3,
            ),
            _Line(
                code="WGT",
                names=(("Neoprene", "Hex", "Cast Iron"), ("Dumbbell", "Kettlebell")),
                axes=(_run(_WEIGHTS, 3, 5),),
                price=(9, 19),
                endings=("99", "whole"),
                packs=(1, 2),
                vendors=("Ironclad Fitness",),
            ),
            _Line(
                code="BND",
                names=(("Fabric", "Latex", "Loop"), ("Resistance Band", "Pull-Up Band")),
                axes=(_all(_STRENGTH),),
                price=(6, 19),
                packs=(6, 12),
                vendors=("Ironclad Fitness", "Flowline Yoga"),
            ),
            _Line(
                code="CMP",
                names=(
                    ("Ultralight", "Rechargeable", "Waterproof", "Trekking"),
                    ("Head Torch", "Camping Mug", "Trekking Poles", "Dry Bag 20 l", "Sit Mat"),
                ),
                price=(8, 59),
                vendors=("Fjellvenn Outdoor", "Summit Gear"),
            ),
            _Line(
                code="BAL",
                names=(
                    ("Match", "Training", "Championship", "Beach"),
                    ("Football", "Tennis Balls, 4-Pack", "Volleyball", "Padel Balls, 3-Pack"),
                ),
                price=(5, 39),
                packs=(1, 6),
                vendors=("Courtside Sports",),
            ),
        ),
    ),
    _Category(
        name="Garden",
        code="GAR",
        tax="standard",
        share=4,
        vendors=(
            _Vendor("Greenthumb Garden Co.", _NL, brand="Greenthumb"),
            _Vendor("Terracotta & Twig", _IT),
            _Vendor("Gartenfreund", _DE),
            _Vendor("Seed Savers Guild", _GB, brand="Seed Savers"),
        ),
        lines=(
            _Line(
                code="SED",
                names=(
                    ("Heirloom", "Organic", "Dwarf", "Giant"),
                    ("Tomato", "Sunflower", "Basil", "Sweet Pea", "Courgette", "Wildflower"),
                    ("Seeds",),
                ),
                price=(1.5, 4),
                endings=("9", "49", "99"),
                packs=(10, 20),
                # Seeds and plants are taxed at the reduced rate.
                tax="reduced",
                vendors=("Seed Savers Guild", "Greenthumb Garden Co."),
                weight=3,
            ),
            _Line(
                code="POT",
                names=(
                    ("Terracotta", "Glazed", "Recycled Plastic", "Fibre Clay"),
                    ("Plant Pot", "Planter", "Window Box"),
                ),
                axes=(_run(_POT_SIZES, 2, 4), _sample(_HOME_COLOURS, 1, 3)),
                price=(4, 19),
                packs=(1, 4, 6),
                vendors=("Terracotta & Twig", "Greenthumb Garden Co."),
                weight=3,
            ),
            _Line(
                code="SOL",
                names=(
                    ("Peat-Free", "Organic", "Seed & Cutting", "Multi-Purpose"),
                    ("Compost", "Potting Soil"),
                ),
                axes=(_run(_SOIL_SIZES, 2, 3),),
                price=(4, 9),
                endings=("9", "49", "99"),
                packs=(1,),
                vendors=("Gartenfreund", "Greenthumb Garden Co."),
            ),
            _Line(
                code="GLV",
                names=(
                    ("Leather", "Nitrile", "Thorn-Proof", "Bamboo", "Waterproof", "Heavy-Duty"),
                    ("Garden Gloves", "Gauntlets", "Planting Gloves"),
                ),
                axes=(_all(_GLOVE_SIZES),),
                price=(5, 19),
                packs=(6, 12),
                vendors=("Gartenfreund",),
            ),
            _Line(
                code="HOS",
                names=(
                    ("Expandable", "Reinforced", "Anti-Kink", "Flat", "Lightweight"),
                    ("Garden Hose", "Hose Set with Spray Gun", "Soaker Hose"),
                ),
                axes=(_run(_HOSE_LENGTH, 1, 3),),
                price=(19, 39),
                vendors=("Gartenfreund",),
            ),
            _Line(
                code="TLS",
                names=(
                    ("Stainless Steel", "Ash-Handled", "Carbon Steel", "Ergonomic"),
                    ("Trowel", "Secateurs", "Hand Fork", "Border Spade", "Hedge Shears"),
                ),
                price=(9, 49),
                vendors=("Gartenfreund", "Terracotta & Twig"),
            ),
        ),
    ),
    _Category(
        name="Pet Supplies",
        code="PET",
        tax="standard",
        share=6,
        vendors=(
            _Vendor("Pawsome Pet Co.", _GB, brand="Pawsome"),
            _Vendor("Whisker & Wag", _DE),
            _Vendor("Nordic Paws", _DK),
            _Vendor("Canis Naturals", _FR, brand="Canis"),
            _Vendor("Happy Hound", _NL),
        ),
        lines=(
            _Line(
                code="COL",
                names=(
                    ("Padded", "Reflective", "Leather", "Waterproof"),
                    ("Dog Collar", "Dog Lead", "Dog Harness"),
                ),
                axes=(_run(_PET_SIZES, 3, 4), _sample(_PET_COLOURS, 1, 4)),
                price=(9, 29),
                vendors=("Pawsome Pet Co.", "Happy Hound", "Nordic Paws"),
                weight=3,
            ),
            _Line(
                code="BED",
                names=(("Orthopaedic", "Donut", "Cosy", "Waterproof"), ("Dog Bed", "Cat Bed")),
                axes=(_run(_BED_SIZES, 2, 3), _sample(_colours("Charcoal", "Sand", "Sage"), 1, 2)),
                price=(19, 49),
                vendors=("Nordic Paws", "Whisker & Wag"),
            ),
            _Line(
                code="CAT",
                names=(
                    ("Grain-Free", "Senior", "Kitten", "Indoor"),
                    ("Cat Food in Jelly", "Cat Food in Gravy", "Pâté for Cats"),
                ),
                axes=(_sample(_CAT_FLAVOURS, 2, 5), _all(_CAT_PACKS)),
                price=(0.6, 1.2),
                endings=("9",),
                packs=(12, 24),
                tax="reduced",
                vendors=("Whisker & Wag", "Canis Naturals"),
                weight=3,
            ),
            _Line(
                code="TRT",
                names=(
                    ("Natural", "Dental", "Training", "Grain-Free"),
                    ("Dog Treats", "Dog Chews", "Puppy Biscuits"),
                ),
                axes=(_sample(_TREAT_FLAVOURS, 1, 3),),
                price=(2.5, 8),
                endings=("9", "49", "99"),
                packs=(6, 12),
                tax="reduced",
                vendors=("Canis Naturals", "Happy Hound"),
            ),
            _Line(
                code="LIT",
                names=(
                    ("Clumping", "Wood Pellet", "Silica", "Tofu", "Unscented", "Lavender"),
                    ("Cat Litter", "Litter Pellets"),
                ),
                axes=(_run(_LITTER_SIZES, 1, 3),),
                price=(4, 9),
                endings=("9", "49", "99"),
                vendors=("Whisker & Wag", "Pawsome Pet Co."),
            ),
            _Line(
                code="TOY",
                names=(
                    ("Squeaky", "Rope", "Catnip", "Interactive", "Rubber"),
                    ("Ball", "Tug Toy", "Mouse", "Feather Wand", "Puzzle Feeder"),
                ),
                price=(3, 19),
                packs=(6, 12),
                vendors=("Happy Hound", "Pawsome Pet Co."),
            ),
        ),
    ),
    _Category(
        name="Books",
        code="BOK",
        tax="reduced",
        share=5,
        vendors=(
            _Vendor("Harbour Lights Press", _ISBN_EN, upc=False),
            _Vendor("Lindenbaum Verlag", _ISBN_DE, upc=False),
            _Vendor("Éditions du Phare", _ISBN_FR, upc=False),
            _Vendor("Little Lantern Books", _ISBN_EN, upc=False),
            _Vendor("Greenleaf Cookery", _ISBN_EN, upc=False),
        ),
        lines=(
            _Line(
                code="FIC",
                names=(
                    ("The",),
                    (
                        "Quiet",
                        "Salt",
                        "Winter",
                        "Lost",
                        "Glass",
                        "Paper",
                        "Last",
                        "Hidden",
                        "Silent",
                        "Burning",
                        "Drowned",
                        "Northern",
                        "Painted",
                        "Borrowed",
                        "Midnight",
                        "Amber",
                        "Forgotten",
                        "Second",
                        "Wild",
                        "Narrow",
                    ),
                    (
                        "Harbour",
                        "Orchard",
                        "Lighthouse",
                        "Garden",
                        "Library",
                        "River",
                        "Road",
                        "House",
                        "Island",
                        "Summer",
                        "Letters",
                        "Shore",
                        "Station",
                        "Hours",
                        "Daughter",
                        "Ferryman",
                        "Archive",
                        "Valley",
                        "Tide",
                        "Winter",
                    ),
                ),
                price=(9, 24),
                endings=("99", "95", "whole"),
                vendors=("Harbour Lights Press", "Lindenbaum Verlag", "Éditions du Phare"),
                featured=('"The Lost Lighthouse" — A Novel',),
                branded=False,
                series="{base}, Book {n}",
                weight=4,
            ),
            _Line(
                code="LIT",
                names=(
                    (
                        "Salt",
                        "Ash",
                        "Honey",
                        "Iron",
                        "Silver",
                        "Smoke",
                        "Bread",
                        "Ink",
                        "Stone",
                        "Snow",
                        "Lemons",
                        "Bones",
                        "Thunder",
                        "Velvet",
                        "Rust",
                        "Moss",
                    ),
                    ("and",),
                    (
                        "Silver",
                        "Ashes",
                        "Roses",
                        "Rain",
                        "Salt",
                        "Wine",
                        "Feathers",
                        "Glass",
                        "Thorns",
                        "Embers",
                        "Pearls",
                        "Wolves",
                        "Clay",
                        "Lace",
                        "Copper",
                        "Tides",
                    ),
                ),
                price=(9, 24),
                endings=("99", "95", "whole"),
                vendors=("Harbour Lights Press", "Éditions du Phare"),
                branded=False,
                series="{base}, Book {n}",
                weight=3,
            ),
            _Line(
                code="CRM",
                names=(
                    ("Murder at the", "Death in the", "Silence at the", "A Body in the"),
                    (
                        "Vicarage",
                        "Boathouse",
                        "Glasshouse",
                        "Old Mill",
                        "Grand Hotel",
                        "Night Train",
                        "Bell Tower",
                        "Vineyard",
                        "Fjord",
                        "Lido",
                        "Observatory",
                    ),
                ),
                price=(9, 16),
                endings=("99", "95"),
                vendors=("Harbour Lights Press", "Lindenbaum Verlag"),
                branded=False,
                series="{base}, Book {n}",
                weight=2,
            ),
            _Line(
                code="CKB",
                names=(
                    ("Simple", "Sunday", "Plant-Based", "Mediterranean", "One-Pot", "Nordic"),
                    ("Suppers", "Baking", "Kitchen", "Feasts", "Bowls", "Breakfasts", "Soups"),
                    ("Cookbook",),
                ),
                price=(19, 35),
                endings=("99", "whole"),
                vendors=("Greenleaf Cookery",),
                featured=("Bread, Butter & Honey: Home Baking",),
                branded=False,
                series="{base}, Volume {n}",
            ),
            _Line(
                code="KID",
                names=(
                    ("The Little", "The Brave", "The Sleepy", "The Curious", "The Busy"),
                    ("Dragon", "Fox", "Tractor", "Owl", "Submarine", "Hedgehog", "Penguin"),
                    ("Picture Book", "Board Book", "Sticker Book", "Bedtime Stories"),
                ),
                price=(5, 15),
                endings=("99", "95", "49"),
                vendors=("Little Lantern Books", "Lindenbaum Verlag"),
                branded=False,
                series="{base} {n}",
                weight=2,
            ),
            _Line(
                code="NON",
                names=(
                    (
                        "A Short History of",
                        "The Field Guide to",
                        "The Art of",
                        "In Praise of",
                        "The Secret Life of",
                        "Notes on",
                    ),
                    (
                        "Bees",
                        "Mountains",
                        "Bread",
                        "Clouds",
                        "Maps",
                        "Tea",
                        "Knots",
                        "Rivers",
                        "Trees",
                        "Islands",
                        "Salt",
                        "Bridges",
                        "Moths",
                        "Libraries",
                    ),
                ),
                price=(12, 30),
                endings=("99", "95", "whole"),
                vendors=("Harbour Lights Press", "Éditions du Phare"),
                branded=False,
                series="{base}, Volume {n}",
            ),
        ),
    ),
    _Category(
        name="Gift Cards",
        code="GFT",
        tax="zero",
        share=1,
        vendors=(
            _Vendor("Tillbox Gift Services", _DE),
            _Vendor("GiftHub Europe", _IE),
        ),
        lines=(
            _Line(
                code="STR",
                names=(
                    ("Gift Card —",),
                    ("Classic", "Birthday", "Thank You", "Congratulations", "Seasonal", "Baby"),
                ),
                axes=(_all(_GIFT_AMOUNTS),),
                price=(1, 1),
                endings=("whole",),
                # Plastic, printing and activation: the face value is a liability, not a cost.
                cost_share=(0.01, 0.03),
                vendors=("Tillbox Gift Services",),
                branded=False,
                max_products=6,
                weight=3,
            ),
            _Line(
                code="POS",
                names=(
                    ("Music Streaming", "Game Store", "App Store", "Cinema", "Food Delivery"),
                    ("Gift Card",),
                ),
                axes=(_all(_POSA_AMOUNTS),),
                price=(1, 1),
                endings=("whole",),
                # Third-party cards: the store keeps only a commission on the face value.
                cost_share=(0.93, 0.97),
                vendors=("GiftHub Europe",),
                branded=False,
                max_products=5,
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------
# Generation.
# --------------------------------------------------------------------------------------

_EAN_PREFIX_LEN = 7  # company prefix of a GS1 EAN-13 leaving a 5-digit item reference
_UPC_PREFIX_LEN = 6  # number-system digit + 5-digit UPC company prefix
_ITEM_REFS = 100_000


# The GS1 mod-10 check digit is linear in the digits, so the digit stdnum computes for a whole
# body equals the sum (mod 10) of the digits it computes for its zero-padded parts. A stdnum
# call costs about 6 µs, a second per benchmark catalog; the parts are computed once instead.
_REF_LOW_CHECK = tuple(int(calc_check_digit(f"{n:03d}")) for n in range(1000))
_REF_HIGH_CHECK = tuple(int(calc_check_digit(f"{n:02d}000")) for n in range(100))


class _CodeBlock:
    """A GS1 company prefix and the next free 5-digit item reference under it."""

    __slots__ = ("next_ref", "prefix", "prefix_check")

    def __init__(self, prefix: str, first_ref: int) -> None:
        self.prefix = prefix
        self.next_ref = first_ref
        self.prefix_check = int(calc_check_digit(prefix + "00000"))

    def room(self) -> int:
        return _ITEM_REFS - self.next_ref

    def take(self, count: int) -> list[str]:
        first = self.next_ref
        self.next_ref = first + count
        prefix, check, low, high = self.prefix, self.prefix_check, _REF_LOW_CHECK, _REF_HIGH_CHECK
        return [
            f"{prefix}{ref:05d}{(check + low[ref % 1000] + high[ref // 1000]) % 10}"
            for ref in range(first, first + count)
        ]


class _VendorCodes:
    """The barcode blocks one vendor draws from: current EAN-13, older EAN-13 and UPC-A."""

    __slots__ = ("current", "legacy", "upc")

    def __init__(
        self, current: list[_CodeBlock], legacy: _CodeBlock, upc: _CodeBlock | None
    ) -> None:
        self.current = current
        self.legacy = legacy
        self.upc = upc


class _LineState:
    """A product line as one catalog run sees it: suppliers, names still free, products made."""

    __slots__ = ("category", "deck", "line", "made", "names", "refills", "tax", "vendors")

    def __init__(self, category: _Category, line: _Line, rng: random.Random) -> None:
        by_name = {vendor.name: vendor for vendor in category.vendors}
        self.category = category
        self.line = line
        self.vendors = tuple(by_name[n] for n in line.vendors) if line.vendors else category.vendors
        self.tax = line.tax or category.tax
        self.made = 0
        self.names = [" ".join(filter(None, parts)) for parts in itertools.product(*line.names)]
        # Names are dealt from a shuffled deck, so they only repeat once the vocabulary is
        # used up; featured names sit on top so every catalog shows them first.
        deck: list[tuple[_Vendor | None, str]] = [(None, name) for name in self.names]
        rng.shuffle(deck)
        deck.extend((None, name) for name in reversed(line.featured))
        self.deck = deck
        self.refills = 0

    def is_full(self) -> bool:
        return self.line.max_products is not None and self.made >= self.line.max_products

    def deal(self, rng: random.Random) -> tuple[_Vendor, str]:
        """Return the supplier and name of this line's next product."""
        if not self.deck:
            self._refill(rng)
        vendor, name = self.deck.pop()
        return vendor or _one(self.vendors, rng.random), name

    def _refill(self, rng: random.Random) -> None:
        # Large benchmark catalogs outgrow the vocabulary: first the supplier's brand goes in
        # front of the name, then a series number goes after it.
        self.refills += 1
        if self.line.branded and self.refills == 1:
            self.deck = [(v, f"{v.label} {name}") for v in self.vendors for name in self.names]
        else:
            number = self.refills if self.line.branded else self.refills + 1
            series = self.line.series
            self.deck = [(None, series.format(base=name, n=number)) for name in self.names]
        rng.shuffle(self.deck)


class _CategoryState:
    """The lines of one category still taking new products, and how often it was visited."""

    __slots__ = ("lines", "open", "share", "visits", "weights")

    def __init__(self, category: _Category, rng: random.Random) -> None:
        self.share = category.share
        self.lines = [_LineState(category, line, rng) for line in category.lines]
        self.visits = 0
        self.open: list[_LineState] = []
        self.weights: list[int] = []
        self.refresh()

    def refresh(self) -> None:
        self.open = [state for state in self.lines if not state.is_full()]
        self.weights = list(itertools.accumulate(state.line.weight for state in self.open))


class _Generator:
    """Holds the random stream and every uniqueness ledger for one catalog."""

    def __init__(self, rng: random.Random, extra_barcode_share: float) -> None:
        self.rng = rng
        self.rand = rng.random
        self.extra_share = extra_barcode_share
        self.used_prefixes: set[str] = set()
        self.vendor_codes: dict[str, _VendorCodes] = {}
        self.used_names: set[str] = set()
        self.internal_next = rng.randrange(100, 900)

    def rows(self, variants: int) -> Iterator[CatalogRow]:
        """Yield rows product by product until exactly `variants` rows have been produced."""
        categories = [_CategoryState(cat, self.rng) for cat in _CATEGORIES]
        # A smooth weighted rotation over rows made so far keeps every category at its share of
        # the catalog at any size; ties go to the earlier category, so the first products cover
        # all of them.
        rotation = [(0.0, index) for index in range(len(categories))]
        remaining = variants
        while remaining > 0 and rotation:
            load, index = heapq.heappop(rotation)
            product = self._next_product(categories[index])
            if product is None:
                continue  # every line of the category is capped: it drops out of the rotation
            # The whole matrix is drawn even when truncated, so a smaller catalog is always a
            # prefix of a larger one with the same seed.
            batch = self._variants(*product)[:remaining]
            yield from batch
            remaining -= len(batch)
            heapq.heappush(rotation, (load + len(batch) / categories[index].share, index))

    # -- products --------------------------------------------------------------------

    def _next_product(self, category: _CategoryState) -> tuple[_LineState, _Vendor, str] | None:
        """Choose a line, supplier and name for a category's next product; None if all capped."""
        rand = self.rand
        while category.open:
            visit = category.visits
            category.visits = visit + 1
            # Each line of a category once, in order, before lines are drawn by weight.
            if visit < len(category.lines):
                state = category.lines[visit]
                if state.is_full():
                    continue
            else:
                weights = category.weights
                state = category.open[bisect.bisect(weights, rand() * weights[-1])]
            vendor, name = state.deal(self.rng)
            if name in self.used_names:
                continue  # another line's vocabulary made the same name first
            self.used_names.add(name)
            state.made += 1
            if state.is_full():
                category.refresh()
            return state, vendor, name
        return None

    # -- variants --------------------------------------------------------------------

    def _variants(self, state: _LineState, vendor: _Vendor, name: str) -> list[CatalogRow]:
        rand = self.rand
        cat, line = state.category, state.line

        # (sku, options text, price factor) for every combination, built axis by axis.
        matrix: list[tuple[str, str, float]] = [
            (f"{cat.code}-{line.code}-{state.made:04d}", "", 1.0)
        ]
        for use in line.axes:
            axis = use.axis.name
            picked = [(f"-{v.code}", f"{axis}={v.label}", v.factor) for v in self._pick(use)]
            matrix = [
                (sku + v_sku, f"{opts};{v_opt}" if opts else v_opt, factor * v_factor)
                for sku, opts, factor in matrix
                for v_sku, v_opt, v_factor in picked
            ]

        low_price, high_price = line.price
        base_cents = (low_price + (high_price - low_price) * rand()) * 100
        ending = _one(line.endings, rand)
        share_lo, share_hi = line.cost_share
        cost_share = share_lo + (share_hi - share_lo) * rand()
        pack = _one(line.packs, rand)
        pack_text = str(pack)
        discontinued = rand() < 0.012
        codes = self._vendor_codes(vendor)
        primaries = self._block_for(codes, len(matrix)).take(len(matrix))
        extra_share = self.extra_share
        category, vendor_name, tax = cat.name, vendor.name, state.tax

        # Variants at the same price share one cost: a supplier prices a tee, not its colours.
        shelf: dict[float, tuple[str, str, int, int]] = {}
        for _, _, factor in matrix:
            if factor not in shelf:
                price = _retail_cents(base_cents * factor, ending)
                cost = min(max(1, round(price * cost_share)), price - 1)
                low, high = _reorder_band(price)
                shelf[factor] = (_money(cost), _money(price), low, high - low + 1)

        rows: list[CatalogRow] = []
        for (sku, options, factor), barcodes in zip(matrix, primaries, strict=True):
            # A few variants carry no code at all: goods the supplier ships unlabelled.
            if rand() < 0.004:
                barcodes = ""
            if rand() < extra_share:
                extra = self._extra_code(codes)
                barcodes = f"{barcodes}|{extra}" if barcodes else extra
            if rand() < 0.01:
                internal = f"TB-{self.internal_next:06d}"
                self.internal_next += 1
                barcodes = f"{barcodes}|{internal}" if barcodes else internal
            cost_text, price_text, low, spread = shelf[factor]
            reorder_point = low + int(rand() * spread)
            cases = -(-reorder_point * (2 + int(rand() * 3)) // pack)  # whole cases, rounded up
            row = CatalogRow(
                sku=sku,
                product=name,
                options=options,
                barcodes=barcodes,
                category=category,
                vendor=vendor_name,
                cost=cost_text,
                price=price_text,
                tax_class=tax,
                reorder_point=str(reorder_point),
                reorder_qty=str(cases * pack),
                pack_size=pack_text,
                active="0" if discontinued or rand() < 0.008 else "1",
            )
            rows.append(row)
        return rows

    def _pick(self, use: _AxisUse) -> Sequence[_Value]:
        values = use.axis.values
        if use.mode == "all":
            return values
        rand = self.rand
        least, most = min(use.least, len(values)), min(use.most, len(values))
        k = least + int(rand() * (most - least + 1))
        if use.mode == "run":
            start = int(rand() * (len(values) - k + 1))
            return values[start : start + k]
        # A partial Fisher-Yates shuffle picks k values; sorting keeps the axis order.
        order = list(range(len(values)))
        for i in range(k):
            j = i + int(rand() * (len(order) - i))
            order[i], order[j] = order[j], order[i]
        return [values[i] for i in sorted(order[:k])]

    # -- barcodes --------------------------------------------------------------------

    def _mint(self, countries: tuple[str, ...], length: int) -> str:
        """Return a company prefix of `length` digits that no vendor in this catalog uses."""
        while True:
            country = _one(countries, self.rand)
            digits = length - len(country)
            prefix = country + f"{self.rng.randrange(10**digits):0{digits}d}"
            if prefix not in self.used_prefixes:
                self.used_prefixes.add(prefix)
                return prefix

    def _upc_prefix(self) -> str:
        # UPC-A number systems 0, 1, 6, 7 and 8 are for ordinary trade items; 0 is most common.
        return self._mint(("0", "0", "0", "1", "6", "7", "8"), _UPC_PREFIX_LEN)

    def _new_block(self, prefix: str) -> _CodeBlock:
        return _CodeBlock(prefix, self.rng.randrange(0, _ITEM_REFS // 2))

    def _vendor_codes(self, vendor: _Vendor) -> _VendorCodes:
        codes = self.vendor_codes.get(vendor.name)
        if codes is None:
            current = [
                self._new_block(self._mint(vendor.gs1, _EAN_PREFIX_LEN))
                for _ in range(self.rng.randint(2, 3))
            ]
            legacy = self._new_block(self._mint(vendor.gs1, _EAN_PREFIX_LEN))
            upc = self._new_block(self._upc_prefix()) if vendor.upc else None
            codes = _VendorCodes(current, legacy, upc)
            self.vendor_codes[vendor.name] = codes
        return codes

    def _block_for(self, codes: _VendorCodes, count: int) -> _CodeBlock:
        """Pick the prefix a new product's codes come from, starting a new one when full."""
        block = _one(codes.current, self.rand)
        block.next_ref += int(self.rand() * 12)  # references retired between product launches
        if block.room() < count:
            codes.current.remove(block)
            block = _CodeBlock(self._mint((block.prefix[:3],), _EAN_PREFIX_LEN), 0)
            codes.current.append(block)
        return block

    def _extra_code(self, codes: _VendorCodes) -> str:
        """A second code: the item's older EAN-13, or the UPC-A printed for North America."""
        if codes.upc is not None and self.rand() < 0.5:
            if codes.upc.room() < 1:
                codes.upc = self._new_block(self._upc_prefix())
            return codes.upc.take(1)[0]
        if codes.legacy.room() < 1:
            country = codes.legacy.prefix[:3]
            codes.legacy = self._new_block(self._mint((country,), _EAN_PREFIX_LEN))
        return codes.legacy.take(1)[0]


def _one(items: Sequence[_T], rand: Callable[[], float]) -> _T:
    return items[int(rand() * len(items))]


def _retail_cents(raw: float, ending: str) -> int:
    """Round a raw price in cents to a shelf price with the given ending."""
    if ending == "whole":
        return max(1, round(raw / 100)) * 100
    if ending == "99":
        return max(1, round((raw + 1) / 100)) * 100 - 1
    if ending == "95":
        return max(1, round((raw + 5) / 100)) * 100 - 5
    if ending == "49":  # nearest of x.49 and x.99
        return max(1, round((raw + 1) / 50)) * 50 - 1
    if ending == "9":  # x.x9 for cheap everyday goods
        return max(1, round((raw + 1) / 10)) * 10 - 1
    raise ValueError(f"unknown price ending {ending!r}")


def _reorder_band(price_cents: int) -> tuple[int, int]:
    """Cheap everyday goods sell in volume and are reordered earlier than expensive ones."""
    if price_cents < 500:
        return 12, 48
    if price_cents < 2000:
        return 6, 24
    if price_cents < 6000:
        return 3, 10
    return 1, 4


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
