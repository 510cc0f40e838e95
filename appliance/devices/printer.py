"""Receipt printers: one interface, the real connections and the demo printer.

A `Printer` prints a Document, kicks the cash drawer and reports its status. `EscposPrinter`
renders the document to ESC/POS bytes (appliance/receipts/render.py) and writes them to a
connection:
- **network**: a raw TCP connection to port 9100 (the "JetDirect" protocol every Ethernet
  and Wi-Fi receipt printer speaks); its status is asked with DLE EOT and read back;
- **usb**: python-escpos's `Usb` printer (pyusb, vendor and product id), with the udev rule
  from firmware_config giving the `store` user the device;
- **serial**: python-escpos's `Serial` printer (pyserial);
- **file**: a character device such as `/dev/usb/lp0` (the kernel's usblp driver), written.

`DemoPrinter` has no hardware: it writes each document as PNG and text to a folder that the
admin page shows, and logs drawer kicks there.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.receipts.document import Document
from appliance.receipts.render import to_escpos, to_png

# DLE EOT n: real-time status. 1: printer (drawer bit 2, offline bit 3); 2: offline cause
# (cover open bit 2, paper-out stop bit 5, error bit 6); 4: roll paper sensor (near end
# bits 2-3, end bits 5-6). Every reply has bits 1 and 4 set and bits 0 and 7 clear.
DLE_EOT = b"\x10\x04"


class PrinterError(RuntimeError):
    """The printer could not be reached or refused the job; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterStatus:
    """What the printer says about itself; None where it cannot tell."""

    online: bool
    paper_out: bool | None = None
    paper_low: bool | None = None
    cover_open: bool | None = None
    drawer_open: bool | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_status(printer: int, offline: int, paper: int) -> PrinterStatus:
    """DLE EOT 1, 2 and 4 replies, as a status (PrinterError for replies that are not)."""
    for name, value in (("printer", printer), ("offline", offline), ("paper", paper)):
        if value & 0b1001_0011 != 0b0001_0010:
            raise PrinterError(f"not an ESC/POS status reply ({name}: {value:#04x})")
    paper_out = bool(paper & 0b0110_0000) or bool(offline & 0b0010_0000)
    cover_open = bool(offline & 0b0000_0100)
    error = "printer error" if offline & 0b0100_0000 else None
    return PrinterStatus(
        online=not printer & 0b0000_1000,
        paper_out=paper_out,
        paper_low=bool(paper & 0b0000_1100),
        cover_open=cover_open,
        # Bit 2 is the drawer connector's pin 3; which level means "open" depends on the
        # drawer: most report it low when closed.
        drawer_open=bool(printer & 0b0000_0100),
        error=error,
    )


class Printer(Protocol):
    """What the print queue needs from a printer."""

    def print_document(self, doc: Document) -> None: ...

    def kick_drawer(self) -> None: ...

    def status(self) -> PrinterStatus: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawerPulse:
    """ESC p m t1 t2: which connector pin and how long the pulse is on and off."""

    pin: int = 2
    on_ms: int = 100
    off_ms: int = 100

    def command(self) -> bytes:
        # The times are in units of 2 ms.
        return b"\x1bp" + bytes([0 if self.pin == 2 else 1, self.on_ms // 2, self.off_ms // 2])


class NetworkPrinter:
    """An ESC/POS printer on the network (raw TCP, port 9100)."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        *,
        profile: str = "default",
        pulse: DrawerPulse | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port, self.profile = host, port, profile
        self.pulse = pulse or DrawerPulse()
        self.timeout_s = timeout_s
        # One job at a time per printer: interleaved bytes would print garbage.
        self._lock = threading.Lock()

    def _connect(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise PrinterError(f"printer {self.host}:{self.port} unreachable: {exc}") from None

    def send(self, data: bytes) -> None:
        with self._lock, self._connect() as conn:
            try:
                conn.sendall(data)
            except OSError as exc:
                raise PrinterError(f"printer {self.host}:{self.port}: {exc}") from None

    def print_document(self, doc: Document) -> None:
        # Checked first: a printer out of paper takes the bytes and prints nothing.
        status = self.status()
        if status.paper_out or status.cover_open or not status.online:
            raise PrinterError(_trouble(status))
        self.send(to_escpos(doc, profile=self.profile))

    def kick_drawer(self) -> None:
        self.send(self.pulse.command())

    def status(self) -> PrinterStatus:
        replies = []
        with self._lock, self._connect() as conn:
            for n in (1, 2, 4):
                try:
                    conn.sendall(DLE_EOT + bytes([n]))
                    reply = conn.recv(1)
                except OSError as exc:
                    raise PrinterError(
                        f"printer {self.host}:{self.port} did not answer a status request: {exc}"
                    ) from None
                if not reply:
                    raise PrinterError(f"printer {self.host}:{self.port} closed the connection")
                replies.append(reply[0])
        return parse_status(*replies)


def _trouble(status: PrinterStatus) -> str:
    if status.cover_open:
        return "the printer's cover is open"
    if status.paper_out:
        return "the printer is out of paper"
    if status.error:
        return status.error
    return "the printer is offline"


class EscposDevicePrinter:
    """A USB, serial or device-file printer through python-escpos (status where it reports)."""

    def __init__(
        self,
        connection: str,
        address: str,
        *,
        profile: str = "default",
        pulse: DrawerPulse | None = None,
    ) -> None:
        self.connection, self.address, self.profile = connection, address, profile
        self.pulse = pulse or DrawerPulse()
        self._lock = threading.Lock()

    def _open(self) -> Any:
        from escpos import printer as escpos_printer

        try:
            if self.connection == "usb":
                vendor, product = (int(part, 16) for part in self.address.split(":"))
                return escpos_printer.Usb(vendor, product, profile=self.profile)
            if self.connection == "serial":
                return escpos_printer.Serial(self.address, profile=self.profile)
            return escpos_printer.File(self.address, profile=self.profile)
        except Exception as exc:  # python-escpos raises its own and the drivers' errors
            raise PrinterError(f"{self.connection} printer {self.address}: {exc}") from None

    def send(self, data: bytes) -> None:
        with self._lock:
            device = self._open()
            try:
                device._raw(data)
            except Exception as exc:
                raise PrinterError(f"{self.connection} printer {self.address}: {exc}") from None
            finally:
                device.close()

    def print_document(self, doc: Document) -> None:
        self.send(to_escpos(doc, profile=self.profile))

    def kick_drawer(self) -> None:
        self.send(self.pulse.command())

    def status(self) -> PrinterStatus:
        # A device that can be opened is there; paper and cover need a two-way connection.
        with self._lock:
            device = self._open()
            device.close()
        return PrinterStatus(online=True)


class DemoPrinter:
    """No hardware: documents become PNG and text files in `folder`, kicks a log line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    def _next_name(self, title: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        taken = sorted(self.folder.glob("[0-9]*.png"))
        number = int(taken[-1].name.split("-", 1)[0]) + 1 if taken else 1
        slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-") or "print"
        return self.folder / f"{number:06d}-{slug[:40]}"

    def print_document(self, doc: Document) -> None:
        with self._lock:
            stem = self._next_name(doc.title)
            try:
                stem.with_suffix(".txt").write_text(doc.text(), encoding="utf-8")
                stem.with_suffix(".png").write_bytes(to_png(doc))
            except OSError as exc:
                raise PrinterError(f"demo printer folder {self.folder}: {exc}") from None

    def kick_drawer(self) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / "drawer.log").open("a", encoding="utf-8") as log:
                log.write("drawer opened\n")

    def status(self) -> PrinterStatus:
        return PrinterStatus(online=True, paper_out=False, cover_open=False)


def open_printer(
    connection: str,
    address: str,
    *,
    profile: str = "default",
    pulse: DrawerPulse | None = None,
    data_dir: Path | None = None,
) -> Printer:
    """The printer for a `printer` row's connection and address."""
    if connection == "network":
        host, _, port = address.rpartition(":")
        if not host:
            host, port = address, "9100"
        return NetworkPrinter(host, int(port), profile=profile, pulse=pulse)
    if connection == "demo":
        folder = Path(address)
        if not folder.is_absolute() and data_dir is not None:
            folder = data_dir / folder
        return DemoPrinter(folder)
    if connection in ("usb", "serial", "file"):
        return EscposDevicePrinter(connection, address, profile=profile, pulse=pulse)
    raise ValueError(f"unknown printer connection {connection!r}")
