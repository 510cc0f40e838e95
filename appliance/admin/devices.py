"""The devices page: scanners, printers, drawer test, Bluetooth, and demo mode's prints and
virtual scanner. Thin: each form calls the same domain functions as the CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Response, request, send_from_directory

from appliance.admin.changes import change, submit
from appliance.admin.core import admin, admin_route, audit, done, form_text, page, rt
from appliance.devices import print_queue, printers, scanners
from appliance.devices.keymaps import LAYOUTS
from appliance.errors import ApiError, Invalid, NotFound
from appliance.runtime import Runtime
from appliance.staff.registers import Register, list_registers
from protocol.permissions import Role
from webui.forms import Fields, FormInvalid, Forms, choice, from_domain

# The devices page changes what prints where and opens drawers: managers only.
DEVICES_ROLE = Role.MANAGER
# What the demo printer writes (appliance/devices/printer.py, DemoPrinter): nothing else in
# its folder is served, and no name with a path in it.
DEMO_FILE = re.compile(r"^[0-9]{6}-[a-z0-9-]{1,40}\.(png|txt)$")
DEMO_PRINTS_SHOWN = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPrint:
    """One receipt the demo printer wrote: its image and text, newest first."""

    printer: int
    png: str
    txt: str | None


def _paired(runtime: Runtime) -> list[Register]:
    return [r for r in list_registers(runtime) if r.revoked_at is None]


def demo_folder(runtime: Runtime, row: printers.PrinterRow) -> Path:
    """Where a demo printer writes (its address, inside the data directory unless absolute)."""
    folder = Path(row.address)
    return folder if folder.is_absolute() else runtime.settings.data_dir / folder


def demo_prints(runtime: Runtime, rows: list[printers.PrinterRow]) -> list[DemoPrint]:
    """The latest receipts of every demo printer."""
    found: list[tuple[str, DemoPrint]] = []
    for row in rows:
        if row.connection != "demo":
            continue
        folder = demo_folder(runtime, row)
        if not folder.is_dir():
            continue
        for png in folder.glob("[0-9]*.png"):
            if not DEMO_FILE.fullmatch(png.name):
                continue
            txt = png.with_suffix(".txt")
            found.append(
                (
                    png.name,
                    DemoPrint(
                        printer=row.id, png=png.name, txt=txt.name if txt.is_file() else None
                    ),
                )
            )
    found.sort(key=lambda item: item[0], reverse=True)
    return [item for _, item in found[:DEMO_PRINTS_SHOWN]]


def _bluetooth() -> tuple[list[scanners.BluetoothDevice], str | None]:
    try:
        return scanners.bluetooth_devices(), None
    except Invalid as exc:
        return [], exc.message


def _show(forms: Forms | None = None, status: int = 200, **extra: object) -> Response:
    runtime = rt()
    rows = printers.list_printers(runtime)
    demo = any(row.connection == "demo" for row in rows)
    registers = _paired(runtime)
    bound = {register for row in rows for register in row.registers}
    devices, bluetooth_problem = _bluetooth()
    return page(
        "admin/devices.html",
        status=status,
        forms=forms or Forms(),
        scanners=scanners.list_scanners(runtime),
        printers=rows,
        registers=registers,
        registers_with_printer=[r for r in registers if r.id in bound],
        layouts=LAYOUTS,
        connections=printers.CONNECTIONS,
        jobs=print_queue.recent_jobs(runtime),
        bluetooth=devices,
        bluetooth_problem=bluetooth_problem,
        demo=demo or runtime.settings.fake_scanner,
        demo_prints=demo_prints(runtime, rows),
        **extra,
    )


@admin_route("/devices", role=DEVICES_ROLE)
def devices() -> Response:
    """Scanners, printers, drawers and Bluetooth devices."""
    return _show()


def _register_field(form: str, name: str = "register") -> str:
    registers = {r.id: r for r in _paired(rt())}
    return choice(form, name, registers, label="register")


# ---- scanners ------------------------------------------------------------------------------


@admin_route("/devices/scanners/<int:scanner_id>", role=DEVICES_ROLE, methods=("POST",))
def scanner_save(scanner_id: int) -> Response:
    """Bind a scanner to a register (or unbind it) and set its layout, prefix and suffix."""
    form = f"scanner-{scanner_id}"

    def act() -> Response:
        runtime = rt()
        scanner = scanners.find_scanner(runtime, scanner_id)
        register = (request.form.get("register") or "").strip()
        if register:
            register = _register_field(form)
        layout = choice(form, "layout", LAYOUTS, label="layout")
        # Prefix and suffix are kept as typed (a space can be one); \t stands for Tab.
        prefix = (request.form.get("prefix") or "").replace("\\t", "\t")
        suffix = (request.form.get("suffix") or "").replace("\\t", "\t")
        with change(form, {"unknown_register": "register"}):
            if register:
                scanners.bind_scanner(runtime, scanner.id, register)
            else:
                scanners.unbind_scanner(runtime, scanner.id)
            scanners.configure_scanner(
                runtime, scanner.id, layout=layout, prefix=prefix, suffix=suffix
            )
            audit(
                "scanner_save",
                f"scanner:{scanner.id}",
                {
                    "register": register or None,
                    "layout": layout,
                    "prefix": prefix,
                    "suffix": suffix,
                },
            )
        where = f"scans for {register}" if register else "is not bound: its scans are dropped"
        return done("admin.devices", f"Scanner {scanner.name} saved: {where}")

    return submit(_show, act)


# ---- printers ------------------------------------------------------------------------------


@admin_route("/devices/printers", role=DEVICES_ROLE, methods=("POST",))
def printer_add() -> Response:
    """Add a network, USB, serial, file or demo printer."""
    form = "printer-add"

    def act() -> Response:
        runtime = rt()
        fields = Fields(form)
        connection = fields.choice("connection", printers.CONNECTIONS, label="connection")
        width = fields.number("width", label="Width", default=runtime.settings.printer_width)
        pin = fields.number("drawer_pin", label="Drawer pin", default=2)
        on_ms = fields.number("drawer_on_ms", label="Pulse on", default=100)
        off_ms = fields.number("drawer_off_ms", label="Pulse off", default=100)
        name = form_text("name", max_length=200)
        address = form_text("address", max_length=300)
        if not name:
            fields.errors["name"] = "give the printer a name, e.g. Front counter"
        if not address:
            fields.errors["address"] = "say where the printer is (see the examples below)"
        fields.check()
        with change(form):
            printer = printers.add_printer(
                runtime,
                name=name,
                connection=connection,
                address=address,
                profile=runtime.settings.printer_profile,
                width=width,
                drawer_pin=pin,
                drawer_on_ms=on_ms,
                drawer_off_ms=off_ms,
            )
            audit(
                "printer_add",
                f"printer:{printer}",
                {"name": name, "connection": connection, "address": address, "width": width},
            )
        return done("admin.devices", f"Printer {name} added: bind it to a register")

    return submit(_show, act)


def _printer(printer_id: int) -> printers.PrinterRow:
    for row in printers.list_printers(rt()):
        if row.id == printer_id:
            return row
    raise NotFound(f"no printer {printer_id}", code="unknown_printer")


@admin_route("/devices/printers/<int:printer_id>/bind", role=DEVICES_ROLE, methods=("POST",))
def printer_bind(printer_id: int) -> Response:
    """Print a register's receipts (and kick its drawer) on this printer."""
    form = f"printer-{printer_id}"

    def act() -> Response:
        row = _printer(printer_id)
        register = _register_field(form)
        with change(form, {"unknown_register": "register"}) as runtime:
            printers.bind_printer(runtime, register, row.id)
            audit("printer_bind", f"printer:{row.id}", {"register": register})
        return done("admin.devices", f"{register} now prints on {row.name}")

    return submit(_show, act)


@admin_route("/devices/printers/<int:printer_id>/remove", role=DEVICES_ROLE, methods=("POST",))
def printer_remove(printer_id: int) -> Response:
    """Take a printer out of use: its bindings go, its queued jobs are cancelled."""
    runtime = rt()
    row = _printer(printer_id)
    with runtime.db.write():
        printers.remove_printer(runtime, row.id)
        audit("printer_remove", f"printer:{row.id}", {"name": row.name})
    return done("admin.devices", f"Printer {row.name} removed")


@admin_route("/devices/printers/<int:printer_id>/test", role=DEVICES_ROLE, methods=("POST",))
def printer_test(printer_id: int) -> Response:
    """Queue the test page on this printer; the print worker prints it in a moment."""
    runtime = rt()
    row = _printer(printer_id)
    with runtime.db.write():
        job = print_queue.enqueue_test_page(runtime, row.id, staff=admin().staff.id)
        audit("printer_test", f"printer:{row.id}", {"job": job})
    runtime.print_wake.set()
    return done("admin.devices", f"Test page sent to {row.name} (job {job}): see Recent jobs")


@admin_route("/devices/drawer-test", role=DEVICES_ROLE, methods=("POST",))
def drawer_test() -> Response:
    """Open a register's drawer through its printer, logged with who, where and why."""
    form = "drawer-test"

    def act() -> Response:
        runtime = rt()
        register = _register_field(form)
        with runtime.db.write():
            job = print_queue.enqueue(
                runtime,
                register=register,
                kind="drawer",
                staff=admin().staff.id,
                reason="drawer test",
            )
            if job is None:
                raise FormInvalid(form, {"_form": f"{register} has no printer to open it"})
            audit("drawer_test", f"register:{register}", {"job": job})
        runtime.print_wake.set()
        return done("admin.devices", f"Drawer of {register} sent to open (job {job})")

    return submit(_show, act)


# ---- Bluetooth -----------------------------------------------------------------------------


@admin_route("/devices/bluetooth/pair", role=DEVICES_ROLE, methods=("POST",))
def bluetooth_pair() -> Response:
    """Pair a Bluetooth scanner in pairing mode, through BlueZ (as `scanner pair` does)."""
    form = "bluetooth"

    def act() -> Response:
        runtime = rt()
        address = form_text("address", max_length=40)
        try:
            said = scanners.pair_bluetooth(address)
        except ApiError as exc:
            raise from_domain(form, exc, {"bad_address": "address"}, default="address") from None
        with runtime.db.write():
            audit("bluetooth_pair", f"bluetooth:{address.upper()}", {"output": said[-5:]})
        return done(
            "admin.devices",
            f"Paired {address.upper()}: it shows under Scanners once it connects; bind it there",
        )

    return submit(_show, act)


# ---- demo mode -----------------------------------------------------------------------------


@admin_route("/devices/prints/<int:printer_id>/<name>", role=DEVICES_ROLE)
def demo_print(printer_id: int, name: str) -> Response:
    """One file the demo printer wrote (a receipt's PNG or text), and nothing else."""
    if not DEMO_FILE.fullmatch(name):
        raise NotFound(f"no demo print {name}")
    row = _printer(printer_id)
    if row.connection != "demo":
        raise NotFound(f"printer {row.name} is not the demo printer")
    response = send_from_directory(demo_folder(rt(), row), name, max_age=0)
    if name.endswith(".txt"):
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response


@admin_route("/devices/virtual-scan", role=DEVICES_ROLE, methods=("POST",))
def virtual_scan() -> Response:
    """Send a code to a register as if its scanner had read it (demo mode)."""
    form = "virtual-scan"

    def act() -> Response:
        runtime = rt()
        register = _register_field(form)
        code = (request.form.get("code") or "").strip()
        if not code:
            raise FormInvalid(form, {"code": "type or paste the code to scan"})
        try:
            scan = scanners.virtual_scan(runtime, register, code)
        except ApiError as exc:
            raise from_domain(
                form, exc, {"bad_code": "code", "unknown_register": "register"}
            ) from None
        with runtime.db.write():
            audit("virtual_scan", f"register:{register}", {"code": code, "scan": scan})
        streaming = register in runtime.scans.streaming()
        where = "" if streaming else " (its register app is not connected now)"
        return done("admin.devices", f"Scanned {code} for {register}{where}")

    return submit(_show, act)
