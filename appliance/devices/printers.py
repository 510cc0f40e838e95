"""The store's printers: added, bound to registers, listed and removed (CLI and admin pages)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from appliance.errors import Invalid, NotFound
from appliance.runtime import Runtime

CONNECTIONS = ("network", "usb", "serial", "file", "demo")
_ADDRESS = {
    "network": re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$"),
    "usb": re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$"),
    "serial": re.compile(r"^/dev/[A-Za-z0-9_./-]+$"),
    "file": re.compile(r"^/[A-Za-z0-9_./-]+$"),
    "demo": re.compile(r"^[A-Za-z0-9_./-]+$"),
}
_EXAMPLE = {
    "network": "192.168.1.50:9100",
    "usb": "04b8:0202 (vendor:product, from lsusb)",
    "serial": "/dev/ttyUSB0",
    "file": "/dev/usb/lp0",
    "demo": "prints (a folder, inside the data directory unless absolute)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterRow:
    """A printer as the admin pages and the CLI show it."""

    id: int
    name: str
    connection: str
    address: str
    profile: str
    width: int
    drawer_pin: int
    drawer_on_ms: int
    drawer_off_ms: int
    status: dict[str, Any] | None
    status_ms: int | None
    registers: tuple[str, ...]


def add_printer(
    rt: Runtime,
    *,
    name: str,
    connection: str,
    address: str,
    profile: str = "default",
    width: int = 48,
    drawer_pin: int = 2,
    drawer_on_ms: int = 100,
    drawer_off_ms: int = 100,
) -> int:
    """A new printer's id (Invalid with the reason for a bad setting)."""
    name = name.strip()
    if not name or len(name) > 60:
        raise Invalid(
            "a printer needs a name of 1 to 60 characters",
            code="bad_printer",
            details={"field": "name"},
        )
    if connection not in CONNECTIONS:
        raise Invalid(
            f"connection must be one of {', '.join(CONNECTIONS)}",
            code="bad_printer",
            details={"field": "connection"},
        )
    if not _ADDRESS[connection].match(address):
        raise Invalid(
            f"a {connection} printer's address looks like {_EXAMPLE[connection]}",
            code="bad_printer",
            details={"field": "address"},
        )
    if (
        connection == "network"
        and ":" in address
        and not 1 <= int(address.rsplit(":", 1)[1]) <= 65535
    ):
        raise Invalid("the port must be 1–65535", code="bad_printer", details={"field": "address"})
    if not 24 <= width <= 64:
        raise Invalid(
            "width must be 24–64 characters (48 for 80 mm paper)",
            code="bad_printer",
            details={"field": "width"},
        )
    if drawer_pin not in (2, 5):
        raise Invalid(
            "the drawer is on pin 2 or pin 5", code="bad_printer", details={"field": "drawer_pin"}
        )
    for value in (drawer_on_ms, drawer_off_ms):
        if not 2 <= value <= 510:
            raise Invalid(
                "drawer pulse times are 2–510 ms",
                code="bad_printer",
                details={"field": "drawer_on_ms" if value == drawer_on_ms else "drawer_off_ms"},
            )
    with rt.db.write():
        if rt.db.scalar("SELECT 1 FROM printer WHERE name = ? AND removed_ms IS NULL", (name,)):
            raise Invalid(
                f"there is already a printer called {name!r}",
                code="duplicate_printer",
                details={"field": "name"},
            )
        cursor = rt.db.execute(
            "INSERT INTO printer (name, connection, address, profile, width, drawer_pin,"
            " drawer_on_ms, drawer_off_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                connection,
                address,
                profile,
                width,
                drawer_pin,
                drawer_on_ms,
                drawer_off_ms,
                rt.now_ms(),
            ),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def find_printer(rt: Runtime, key: str | int) -> Any:
    """A printer by id or name (NotFound otherwise)."""
    row = rt.db.one(
        "SELECT * FROM printer WHERE (id = ? OR name = ?) AND removed_ms IS NULL",
        (key if isinstance(key, int) or not str(key).isdigit() else int(key), str(key)),
    )
    if row is None:
        raise NotFound(f"no printer {key}", code="unknown_printer")
    return row


def bind_printer(rt: Runtime, register: str, printer: str | int) -> None:
    """Print `register`'s receipts and kick its drawer on `printer`."""
    row = find_printer(rt, printer)
    with rt.db.write():
        if not rt.db.scalar(
            "SELECT 1 FROM register WHERE id = ? AND revoked_at IS NULL", (register,)
        ):
            raise NotFound(f"no paired register {register}", code="unknown_register")
        rt.db.execute(
            "INSERT INTO register_printer (register, printer) VALUES (?, ?)"
            " ON CONFLICT (register) DO UPDATE SET printer = excluded.printer",
            (register, row["id"]),
        )


def remove_printer(rt: Runtime, printer: str | int) -> None:
    """Take a printer out of use: its bindings go, its queued jobs are cancelled."""
    row = find_printer(rt, printer)
    with rt.db.write():
        rt.db.execute("DELETE FROM register_printer WHERE printer = ?", (row["id"],))
        rt.db.execute(
            "UPDATE print_job SET state = 'cancelled', done_ms = ? WHERE printer = ? AND state = 'queued'",
            (rt.now_ms(), row["id"]),
        )
        rt.db.execute("UPDATE printer SET removed_ms = ? WHERE id = ?", (rt.now_ms(), row["id"]))


def list_printers(rt: Runtime) -> list[PrinterRow]:
    """Every printer in use, with the registers bound to it."""
    bound: dict[int, list[str]] = {}
    for row in rt.db.query("SELECT register, printer FROM register_printer ORDER BY register"):
        bound.setdefault(row["printer"], []).append(row["register"])
    return [
        PrinterRow(
            id=row["id"],
            name=row["name"],
            connection=row["connection"],
            address=row["address"],
            profile=row["profile"],
            width=row["width"],
            drawer_pin=row["drawer_pin"],
            drawer_on_ms=row["drawer_on_ms"],
            drawer_off_ms=row["drawer_off_ms"],
            status=json.loads(row["status"]) if row["status"] else None,
            status_ms=row["status_ms"],
            registers=tuple(bound.get(row["id"], ())),
        )
        for row in rt.db.query("SELECT * FROM printer WHERE removed_ms IS NULL ORDER BY name")
    ]


def printer_summary(rt: Runtime) -> dict[str, Any] | None:
    """The printers' state for the cloud status topic: each in use with its last status and
    what waits; None when the store has no printer."""
    rows = list_printers(rt)
    if not rows:
        return None
    waiting = {
        row["printer"]: row["n"]
        for row in rt.db.query(
            "SELECT printer, count(*) AS n FROM print_job WHERE state = 'queued' GROUP BY printer"
        )
    }
    return {
        "printers": [
            {
                "name": row.name,
                "connection": row.connection,
                "online": None if row.status is None else row.status.get("online"),
                "paper_out": None if row.status is None else row.status.get("paper_out"),
                "cover_open": None if row.status is None else row.status.get("cover_open"),
                "queued": waiting.get(row.id, 0),
            }
            for row in rows
        ],
        "trouble": any(
            row.status is not None
            and (
                row.status.get("online") is False
                or row.status.get("paper_out")
                or row.status.get("cover_open")
            )
            for row in rows
        ),
    }
