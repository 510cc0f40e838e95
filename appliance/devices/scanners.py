"""Barcode scanners attached to the appliance: found through udev, read through evdev, and
each one's scans handed to the one register it is bound to (appliance/scans.py).

Which input devices are scanners (the contract with the udev rule, issue 8):
- an input event device (SUBSYSTEM=="input", KERNEL=="event*") whose udev properties carry
  `TILLBOX_SCANNER=1`, set by a rule such as
  `SUBSYSTEM=="input", KERNEL=="event*", ATTRS{idVendor}=="0c2e", ENV{TILLBOX_SCANNER}="1"`;
  a rule may also set `TILLBOX_SCANNER_NAME` (what the manager sees; else the model name);
- or one whose vendor:product (ID_VENDOR_ID:ID_MODEL_ID, or for Bluetooth the PRODUCT of its
  input parent) is listed in the `scanner_ids` setting;
- and in both cases a keyboard: udev's input_id must have set ID_INPUT_KEYBOARD=1. The other
  nodes of the same interface (Consumer Control, System Control) share its ID_PATH and are
  never read.
- The appliance's user must be able to open it (the rule adds GROUP="input" or a uaccess
  tag, and the service runs in the input group).
- Its stable id is `path:` + ID_PATH (the USB port it is plugged into), or `serial:` +
  ID_SERIAL (or the Bluetooth address, `uniq`) for a Bluetooth scanner, whose path changes
  with every connection. A device with neither is not read: it could not keep its binding.

How they are followed: at start the appliance watches udev first, then lists the input
devices already there, so none is missed in between. The pyudev observer's callback only
puts the device on a queue; one worker thread takes the queue and attaches or detaches
readers keyed by stable id, idempotently: a repeated `add` for the node already read changes
nothing, an `add` under a new /dev/input/eventN replaces the old reader, a `remove` for a
node no longer read is ignored. Each reader grabs its device (the console and any other
reader stop seeing its keys), decodes key events with the scanner's layout
(appliance/devices/keymaps.py) and publishes each scan to the scanner's register; a scanner
unplugged mid-read (ENODEV) is detached quietly and attached again when it comes back.

evdev and pyudev are the `pi` extra and are imported only when serving: without them (a
development machine) scanners are off, and `tillbox appliance doctor` says so.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import re
import select
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stdnum import ean

from appliance.devices.keymaps import LAYOUTS, MAX_CODE_LENGTH, Decoded, ScanDecoder, get_layout
from appliance.errors import Invalid, NotFound
from appliance.runtime import Runtime

_log = logging.getLogger(__name__)

SOURCE = "scanner"
# The admin pages' virtual scanner (demo mode): a scan typed by the manager for a register.
VIRTUAL_SOURCE = "virtual"
EV_KEY = 1
# How long a reader waits in select() before it looks whether it was asked to stop.
POLL_S = 0.25
# A scan whose keys stop coming for this long without Enter is dropped: the next scan must
# not start with its leftovers. Scanners type a code in well under 100 ms.
STALE_SCAN_S = 2.0
GS1_LENGTHS = frozenset({8, 12, 13, 14})


@dataclass(frozen=True, slots=True)
class Libraries:
    """The two device libraries, or stand-ins for them at the same boundary (tests)."""

    evdev: Any
    pyudev: Any


def load_libraries() -> Libraries | None:
    """evdev and pyudev, or None when they are not installed (scanners are then off)."""
    try:
        import evdev
        import pyudev
    except ImportError:
        return None
    return Libraries(evdev=evdev, pyudev=pyudev)


def libraries_problem() -> str | None:
    """Why scanners cannot be read here, for the doctor; None when they can."""
    missing = []
    for name in ("evdev", "pyudev"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
        except OSError as exc:  # pyudev without libudev.so.1
            missing.append(f"{name} ({exc})")
    if missing:
        return (
            f"{' and '.join(missing)} not installed: attached scanners are not read "
            "(pip install 'tillbox[pi]')"
        )
    return None


# ---- which device is a scanner, and its stable id ----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InputNode:
    """An input event device as udev describes it, reduced to what the appliance needs."""

    node: str
    stable_id: str | None
    name: str
    vendor_product: str | None
    bluetooth: bool
    tagged: bool
    keyboard: bool

    def is_scanner(self, scanner_ids: tuple[str, ...]) -> bool:
        """A keyboard node tagged by the udev rule, or listed by vendor:product."""
        if not self.keyboard:
            # The same USB interface often has a "Consumer Control" or "System Control" node
            # too, with the same ID_PATH: reading that instead would lose every scan.
            return False
        listed = {i.lower() for i in scanner_ids}
        return self.tagged or (self.vendor_product is not None and self.vendor_product in listed)


def _props(device: Any) -> Mapping[str, str]:
    try:
        return device.properties  # type: ignore[no-any-return]
    except (AttributeError, KeyError):
        return {}


def describe(device: Any) -> InputNode | None:
    """The input event device a udev device is, or None for anything else (a mouse's
    /dev/input/mouseN, the parent input device without a node)."""
    props = _props(device)
    node = props.get("DEVNAME") or getattr(device, "device_node", None) or ""
    if not node.startswith("/dev/input/event"):
        return None
    parent = getattr(device, "parent", None)
    parent_props = _props(parent) if parent is not None else {}
    bluetooth = props.get("ID_BUS") == "bluetooth" or parent_props.get("PRODUCT", "").startswith(
        "5/"
    )
    vendor, model = props.get("ID_VENDOR_ID"), props.get("ID_MODEL_ID")
    vendor_product = f"{vendor}:{model}".lower() if vendor and model else None
    if vendor_product is None and parent_props.get("PRODUCT"):
        # bus/vendor/product/version in hex, e.g. 5/5ac/22c/1 for a Bluetooth device.
        parts = parent_props["PRODUCT"].split("/")
        with contextlib.suppress(ValueError, IndexError):
            vendor_product = f"{int(parts[1], 16):04x}:{int(parts[2], 16):04x}"
    stable_id = None
    if props.get("ID_PATH") and not bluetooth:
        stable_id = f"path:{props['ID_PATH']}"
    elif props.get("ID_SERIAL"):
        stable_id = f"serial:{props['ID_SERIAL']}"
    elif parent_props.get("UNIQ", "").strip('"'):
        stable_id = f"serial:{parent_props['UNIQ'].strip(chr(34))}"
    elif props.get("ID_PATH"):
        stable_id = f"path:{props['ID_PATH']}"
    name = (
        props.get("TILLBOX_SCANNER_NAME")
        or parent_props.get("NAME", "").strip('"')
        or props.get("ID_MODEL", "").replace("_", " ")
        or node
    )
    return InputNode(
        node=node,
        stable_id=stable_id,
        name=name[:60],
        vendor_product=vendor_product,
        bluetooth=bluetooth,
        tagged=props.get("TILLBOX_SCANNER") == "1",
        keyboard=props.get("ID_INPUT_KEYBOARD") == "1",
    )


# ---- the scanner table: bindings, layouts, what the CLI and admin pages show ----------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScannerRow:
    """A scanner as the CLI and the admin pages show it."""

    id: int
    stable_id: str
    name: str
    register: str | None
    layout: str
    prefix: str
    suffix: str
    bluetooth: bool
    vendor_product: str | None
    present: bool
    last_seen_ms: int | None


def _row(row: Any) -> ScannerRow:
    return ScannerRow(
        id=row["id"],
        stable_id=row["stable_id"],
        name=row["name"],
        register=row["register"],
        layout=row["layout"],
        prefix=row["prefix"],
        suffix=row["suffix"],
        bluetooth=bool(row["bluetooth"]),
        vendor_product=row["vendor_product"],
        present=bool(row["present"]),
        last_seen_ms=row["last_seen_ms"],
    )


def list_scanners(rt: Runtime) -> list[ScannerRow]:
    """Every scanner the appliance has seen, bound or not."""
    return [_row(row) for row in rt.db.query("SELECT * FROM scanner ORDER BY name, id")]


def find_scanner(rt: Runtime, key: str | int) -> ScannerRow:
    """A scanner by id, stable id or name (NotFound otherwise, Invalid when a name is shared)."""
    text = str(key)
    if text.isdigit():
        row = rt.db.one("SELECT * FROM scanner WHERE id = ?", (int(text),))
        if row is not None:
            return _row(row)
    rows = rt.db.query("SELECT * FROM scanner WHERE stable_id = ? OR name = ?", (text, text))
    if not rows:
        raise NotFound(f"no scanner {text}", code="unknown_scanner")
    if len(rows) > 1:
        raise Invalid(
            f"{len(rows)} scanners are called {text!r}: use the id from `scanner list`",
            code="ambiguous_scanner",
        )
    return _row(rows[0])


def bind_scanner(rt: Runtime, key: str | int, register: str) -> ScannerRow:
    """Send the scanner's scans to `register` (only to it) from its next scan on."""
    scanner = find_scanner(rt, key)
    with rt.db.write():
        if not rt.db.scalar(
            "SELECT 1 FROM register WHERE id = ? AND revoked_at IS NULL", (register,)
        ):
            raise NotFound(f"no paired register {register}", code="unknown_register")
        rt.db.execute("UPDATE scanner SET register = ? WHERE id = ?", (register, scanner.id))
    _log.info("scanner %s (%s) bound to register=%s", scanner.id, scanner.name, register)
    return find_scanner(rt, scanner.id)


def unbind_scanner(rt: Runtime, key: str | int) -> ScannerRow:
    """Stop sending the scanner's scans anywhere (they are dropped, with a log line)."""
    scanner = find_scanner(rt, key)
    with rt.db.write():
        rt.db.execute("UPDATE scanner SET register = NULL WHERE id = ?", (scanner.id,))
    _log.info("scanner %s (%s) unbound", scanner.id, scanner.name)
    return find_scanner(rt, scanner.id)


def configure_scanner(
    rt: Runtime,
    key: str | int,
    *,
    layout: str | None = None,
    prefix: str | None = None,
    suffix: str | None = None,
    name: str | None = None,
) -> ScannerRow:
    """Set how the scanner's keys are read: its keyboard layout, and the prefix and suffix it
    adds around each code (taken off; a scan without them is a misread). From its next scan."""
    scanner = find_scanner(rt, key)
    if layout is not None and layout.lower() not in LAYOUTS:
        raise Invalid(
            f"layout must be one of {', '.join(LAYOUTS)}",
            code="bad_scanner",
            details={"field": "layout"},
        )
    for label, value in (("prefix", prefix), ("suffix", suffix)):
        if value is not None and len(value) > 16:
            raise Invalid(
                f"a {label} is at most 16 characters", code="bad_scanner", details={"field": label}
            )
    if name is not None and not 1 <= len(name.strip()) <= 60:
        raise Invalid(
            "a scanner's name is 1 to 60 characters", code="bad_scanner", details={"field": "name"}
        )
    with rt.db.write():
        rt.db.execute(
            "UPDATE scanner SET layout = COALESCE(?, layout), prefix = COALESCE(?, prefix),"
            " suffix = COALESCE(?, suffix), name = COALESCE(?, name) WHERE id = ?",
            (
                layout.lower() if layout else None,
                prefix,
                suffix,
                name.strip() if name else None,
                scanner.id,
            ),
        )
    return find_scanner(rt, scanner.id)


def record_seen(rt: Runtime, device: InputNode, *, present: bool) -> ScannerRow:
    """Remember a scanner the appliance found (a new one unbound, with the default layout)."""
    assert device.stable_id is not None
    now = rt.now_ms()
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO scanner (stable_id, name, layout, bluetooth, vendor_product, present,"
            " last_seen_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (stable_id) DO UPDATE SET present = excluded.present,"
            " last_seen_ms = excluded.last_seen_ms, bluetooth = excluded.bluetooth,"
            " vendor_product = COALESCE(excluded.vendor_product, vendor_product)",
            (
                device.stable_id,
                device.name,
                rt.settings.scanner_layout,
                int(device.bluetooth),
                device.vendor_product,
                int(present),
                now,
                now,
            ),
        )
    return find_scanner(rt, device.stable_id)


def _mark_absent(rt: Runtime, stable_id: str | None = None) -> None:
    with rt.db.write():
        if stable_id is None:
            rt.db.execute("UPDATE scanner SET present = 0")
        else:
            rt.db.execute(
                "UPDATE scanner SET present = 0, last_seen_ms = ? WHERE stable_id = ?",
                (rt.now_ms(), stable_id),
            )


# ---- from a decoded scan to a register ------------------------------------------------------


def check_code(code: str) -> str | None:
    """Why a code cannot be right ("bad_check_digit"), or None. GS1 numbers (8, 12, 13, 14
    digits) carry a check digit; an 8-digit UPC-E is checked as the UPC-A it stands for."""
    if not (code.isascii() and code.isdigit() and len(code) in GS1_LENGTHS):
        return None
    if ean.is_valid(code):
        return None
    if len(code) == 8 and code[0] in "01" and ean.is_valid(upc_e_to_a(code)):
        return None
    return "bad_check_digit"


def upc_e_to_a(code: str) -> str:
    """The 12-digit UPC-A a zero-suppressed 8-digit UPC-E stands for."""
    system, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return system + body + check


def deliver(rt: Runtime, stable_id: str, decoded: Decoded) -> str | None:
    """Hand one decoded scan to the scanner's register; the scan id, or None if dropped."""
    row = rt.db.one("SELECT id, name, register FROM scanner WHERE stable_id = ?", (stable_id,))
    if row is None or row["register"] is None:
        _log.warning(
            "scan from unbound scanner %s dropped (bind it: tillbox appliance scanner bind)",
            stable_id,
        )
        return None
    return _publish(rt, row["register"], decoded.code, SOURCE, decoded.problem, row["id"])


def virtual_scan(rt: Runtime, register: str, code: str) -> str:
    """The admin pages' virtual scanner: `code` goes to `register` as if a scanner bound to it
    had read it (the same check and the same bus); the scan id."""
    if not rt.db.scalar("SELECT 1 FROM register WHERE id = ? AND revoked_at IS NULL", (register,)):
        raise NotFound(f"no paired register {register}", code="unknown_register")
    if not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
        raise Invalid(f"a code is 1 to {MAX_CODE_LENGTH} printable characters", code="bad_code")
    return _publish(rt, register, code, VIRTUAL_SOURCE, None, "virtual")


def _publish(
    rt: Runtime, register: str, code: str, source: str, problem: str | None, scanner: object
) -> str:
    problem = problem or check_code(code)
    if problem is not None:
        _log.warning("misread from scanner %s register=%s: %s %r", scanner, register, problem, code)
        # What the register gets must still be text it can show: printable, bounded.
        code = "".join(c if c.isprintable() else "\ufffd" for c in code)[:MAX_CODE_LENGTH]
    published = rt.scans.publish(register, code, source=source, at_ms=rt.now_ms(), error=problem)
    return published.scan.id


# ---- pairing a Bluetooth scanner ------------------------------------------------------------

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
Run = Callable[..., "subprocess.CompletedProcess[str]"]


def pairing_commands(address: str, *, scan_s: int = 20) -> list[list[str]]:
    """The bluetoothctl commands that pair, trust and connect a scanner in pairing mode.

    Scanning first lets BlueZ see the scanner (it must be showing its pairing barcode's
    mode); trusting lets it reconnect by itself after a power cycle, as HID devices do.
    """
    if not _MAC.fullmatch(address):
        raise Invalid(
            f"{address!r} is not a Bluetooth address like 00:1A:7D:DA:71:13", code="bad_address"
        )
    address = address.upper()
    return [
        ["bluetoothctl", "--timeout", str(scan_s), "scan", "on"],
        ["bluetoothctl", "pair", address],
        ["bluetoothctl", "trust", address],
        ["bluetoothctl", "connect", address],
    ]


def pair_bluetooth(address: str, *, scan_s: int = 20, run: Run | None = None) -> list[str]:
    """Pair a Bluetooth scanner through BlueZ; the lines bluetoothctl printed. Invalid with
    its output when a step fails."""
    run = run or subprocess.run
    said: list[str] = []
    for command in pairing_commands(address, scan_s=scan_s):
        try:
            done = run(command, capture_output=True, text=True, timeout=scan_s + 30, check=False)
        except FileNotFoundError:
            raise Invalid(
                "bluetoothctl is not installed (apt install bluez)", code="no_bluetooth"
            ) from None
        except subprocess.TimeoutExpired:
            raise Invalid(f"{' '.join(command)} did not answer", code="pairing_failed") from None
        output = (done.stdout or "") + (done.stderr or "")
        said += [line for line in output.splitlines() if line.strip()]
        if done.returncode != 0 or "Failed" in output:
            raise Invalid(
                f"{' '.join(command[1:])} failed: {output.strip()[-300:]}",
                code="pairing_failed",
            )
    return said


@dataclass(frozen=True, slots=True, kw_only=True)
class BluetoothDevice:
    """A Bluetooth device BlueZ knows (paired or only seen), as `bluetoothctl devices` says."""

    address: str
    name: str
    paired: bool


_DEVICE_LINE = re.compile(r"^Device ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}) ?(.*)$")


def bluetooth_devices(*, run: Run | None = None) -> list[BluetoothDevice]:
    """The devices BlueZ knows, paired ones marked. Invalid (`no_bluetooth`) without BlueZ."""
    run = run or subprocess.run

    def ask(*args: str) -> set[tuple[str, str]]:
        command = ["bluetoothctl", "devices", *args]
        try:
            done = run(command, capture_output=True, text=True, timeout=10, check=False)
        except FileNotFoundError:
            raise Invalid(
                "Bluetooth is not available here: bluetoothctl is not installed (apt install"
                " bluez)",
                code="no_bluetooth",
            ) from None
        except subprocess.TimeoutExpired:
            raise Invalid("bluetoothctl did not answer", code="no_bluetooth") from None
        if done.returncode != 0:
            said = ((done.stdout or "") + (done.stderr or "")).strip()[-200:]
            raise Invalid(f"Bluetooth is not available here: {said}", code="no_bluetooth")
        found = set()
        for line in (done.stdout or "").splitlines():
            match = _DEVICE_LINE.match(line.strip())
            if match:
                found.add((match.group(1).upper(), match.group(2).strip()))
        return found

    known = ask()
    paired = {address for address, _ in ask("Paired")}
    return sorted(
        (
            BluetoothDevice(address=address, name=name or address, paired=address in paired)
            for address, name in known
        ),
        key=lambda d: (not d.paired, d.name.lower(), d.address),
    )


# ---- reading the devices -----------------------------------------------------------------


class Reader:
    """One grabbed input device, read on its own thread until it goes away or is stopped."""

    def __init__(
        self,
        service: ScannerService,
        device: InputNode,
    ) -> None:
        self.service = service
        self.device = device
        self.stable_id: str = device.stable_id or ""
        self._stop = threading.Event()
        # Written to by stop(), so a reader waiting in select() ends at once.
        self._wake_r, self._wake_w = os.pipe()
        self._wake_lock = threading.Lock()
        self._wake_open = True
        self.thread = threading.Thread(target=self._run, name=f"scanner {device.node}", daemon=True)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> Reader:
        self.thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        if not self._stop.is_set():
            self._stop.set()
            with self._wake_lock:
                if self._wake_open:  # never write to a closed (maybe reused) descriptor
                    os.write(self._wake_w, b"x")
        if self.thread is not threading.current_thread() and self.thread.ident is not None:
            self.thread.join(timeout)

    def _config(self) -> tuple[str, str, str]:
        row = self.service.rt.db.one(
            "SELECT layout, prefix, suffix FROM scanner WHERE stable_id = ?", (self.stable_id,)
        )
        if row is None:
            return "us", "", ""
        return row["layout"], row["prefix"], row["suffix"]

    def _run(self) -> None:
        rt, node = self.service.rt, self.device.node
        gone = False
        try:
            try:
                handle = self.service.libs.evdev.InputDevice(node)
            except OSError as exc:
                gone = True
                _log.warning("scanner %s at %s cannot be opened: %s", self.stable_id, node, exc)
                return
            try:
                handle.grab()
            except OSError as exc:
                # EBUSY: another program holds it; reading without the grab would also
                # type every scan into whatever has the console's focus.
                gone = True
                _log.warning("scanner %s at %s cannot be grabbed: %s", self.stable_id, node, exc)
                handle.close()
                return
            _log.info("scanner %s attached at %s (%s)", self.stable_id, node, self.device.name)
            try:
                gone = self._read(handle)
            finally:
                with contextlib.suppress(OSError):  # closing a device that is gone
                    handle.close()
        finally:
            rt.db.close()
            with self._wake_lock:
                self._wake_open = False
                os.close(self._wake_r)
                os.close(self._wake_w)
            if gone:
                self.service.reader_gone(self)

    def _read(self, handle: Any) -> bool:
        """Read until stopped (False) or the device is gone (True)."""
        layout, prefix, suffix = self._config()
        decoder = ScanDecoder(get_layout(layout), prefix=prefix, suffix=suffix)
        last_key = 0.0
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([handle.fd, self._wake_r], [], [], POLL_S)
                if handle.fd not in ready:
                    continue
                events = list(handle.read())
            except BlockingIOError:
                continue
            except OSError as exc:
                if decoder.pending:
                    _log.warning(
                        "scanner %s unplugged mid-scan: the partial scan is dropped",
                        self.stable_id,
                    )
                if exc.errno in (errno.ENODEV, errno.EBADF, errno.EIO):
                    _log.info("scanner %s gone from %s", self.stable_id, self.device.node)
                else:
                    # Still the end of this reader: udev's next event for the device
                    # attaches it again.
                    _log.warning(
                        "scanner %s at %s failed: %s", self.stable_id, self.device.node, exc
                    )
                return True
            for event in events:
                if event.type != EV_KEY:
                    continue
                at = event.sec + event.usec / 1e6
                if decoder.pending and at - last_key > STALE_SCAN_S:
                    _log.warning("scanner %s: a scan without Enter dropped", self.stable_id)
                    decoder.reset()
                if not decoder.pending and event.value == 1:
                    # A scan starts: read its settings now, so a layout or prefix set from
                    # the CLI applies from the next scan on.
                    layout, prefix, suffix = self._config()
                    decoder.configure(get_layout(layout), prefix=prefix, suffix=suffix)
                last_key = at
                decoded = decoder.feed(event.code, event.value)
                if decoded is not None:
                    try:
                        deliver(self.service.rt, self.stable_id, decoded)
                    except Exception:
                        _log.exception("scan from scanner %s not delivered", self.stable_id)
        return False


class ScannerService:
    """Finds scanners through udev and keeps one reader per scanner, on a worker thread."""

    def __init__(self, rt: Runtime, libs: Libraries | None = None) -> None:
        self.rt = rt
        self._libs = libs
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._readers: dict[str, Reader] = {}
        self._lock = threading.Lock()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        # Called (in the worker) after each queued item: tests wait on it.
        self.on_idle: Callable[[], None] | None = None

    @property
    def libs(self) -> Any:
        assert self._libs is not None
        return self._libs

    def readers(self) -> dict[str, str]:
        """Stable id → node of each live reader."""
        with self._lock:
            return {sid: r.device.node for sid, r in self._readers.items() if r.alive}

    def start(self) -> bool:
        """Watch udev, list what is there, start the worker; False when scanners are off."""
        if self._libs is None:
            self._libs = load_libraries()
        if self._libs is None:
            _log.warning("scanners off: %s", libraries_problem())
            return False
        pyudev = self._libs.pyudev
        try:
            context = pyudev.Context()
            monitor = pyudev.Monitor.from_netlink(context)
            monitor.filter_by("input")
            # Only enqueues: attaching opens files and writes SQLite, which must not block
            # (or race in) pyudev's thread.
            self._observer = pyudev.MonitorObserver(
                monitor, callback=self._enqueue, name="scanner-udev"
            )
        except Exception as exc:
            _log.warning("scanners off: udev cannot be watched here (%s)", exc)
            return False
        _mark_absent(self.rt)
        self._worker = threading.Thread(target=self._run, name="scanner-worker", daemon=True)
        self._worker.start()
        # Watch first, then list: a scanner plugged in between is seen twice, never missed.
        self._observer.start()
        for device in context.list_devices(subsystem="input"):
            self._queue.put(("add", device))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching, release every device."""
        if self._observer is not None:
            self._observer.send_stop()
        self._queue.put(("stop", None))
        if self._worker is not None:
            self._worker.join(timeout)

    def _enqueue(self, device: Any) -> None:
        self._queue.put((getattr(device, "action", None) or "add", device))

    def reader_gone(self, reader: Reader) -> None:
        """A reader ended by itself (unplugged, or it could not open its device)."""
        self._queue.put(("gone", reader))

    def _run(self) -> None:
        try:
            while True:
                action, item = self._queue.get()
                if action == "stop":
                    break
                try:
                    self._handle(action, item)
                except Exception:
                    _log.exception("scanner %s event not handled", action)
                if self.on_idle is not None and self._queue.empty():
                    self.on_idle()
        finally:
            with self._lock:
                readers, self._readers = list(self._readers.values()), {}
            for reader in readers:
                reader.stop()
            try:
                _mark_absent(self.rt)
            finally:
                self.rt.db.close()

    def _handle(self, action: str, item: Any) -> None:
        if action == "gone":
            self._detach_reader(item)
            return
        device = describe(item)
        if device is None:
            return
        if action == "remove":
            self._detach_node(device)
        elif action in ("add", "change", "bind", "online"):
            if device.is_scanner(self.rt.settings.scanner_ids):
                self._attach(device)
            else:
                self._detach_node(device)

    def _attach(self, device: InputNode) -> None:
        if device.stable_id is None:
            _log.warning(
                "scanner at %s has neither a port path nor a serial: not read", device.node
            )
            return
        with self._lock:
            current = self._readers.get(device.stable_id)
        if current is not None and current.alive and current.device.node == device.node:
            return  # already read there: a repeated add or a change
        if current is not None:
            current.stop()
        record_seen(self.rt, device, present=True)
        reader = Reader(self, device)
        with self._lock:
            self._readers[device.stable_id] = reader
        reader.start()

    def _detach_node(self, device: InputNode) -> None:
        with self._lock:
            for sid, reader in list(self._readers.items()):
                if reader.device.node == device.node:
                    del self._readers[sid]
                    break
            else:
                return  # a node no longer read (already replaced, or never a scanner)
        reader.stop()
        _mark_absent(self.rt, sid)
        _log.info("scanner %s detached from %s", sid, device.node)

    def _detach_reader(self, reader: Reader) -> None:
        with self._lock:
            if self._readers.get(reader.stable_id) is not reader:
                return  # replaced meanwhile
            del self._readers[reader.stable_id]
        _mark_absent(self.rt, reader.stable_id)
