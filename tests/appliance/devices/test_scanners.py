"""Scanners attached to the appliance (appliance/devices/scanners.py): found and followed
through udev, read through evdev, bound to one register each. Only the device boundary is
faked: pyudev's Context, Monitor and MonitorObserver (the test fires its callback from a
thread of its own, as pyudev does) and evdev's InputDevice (a pipe that select() sees, with
recorded event streams behind it). The database, the scan bus, the readers and the worker are
the real ones, and the last test reads a register's SSE stream from a real waitress server."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.devices.scanners import (
    InputNode,
    Libraries,
    ScannerService,
    bind_scanner,
    check_code,
    configure_scanner,
    describe,
    libraries_problem,
    list_scanners,
    pair_bluetooth,
    pairing_commands,
    unbind_scanner,
    upc_e_to_a,
)
from appliance.errors import Invalid, NotFound
from appliance.runtime import Runtime
from appliance.scans import Scan, Stream
from appliance.server import RunningServer
from appliance.settings import Settings
from tests.appliance.api.test_scans_api import open_stream
from tests.conftest import Store, make_settings

FIXTURES = Path(__file__).parent / "fixtures"
HONEYWELL = {
    "ID_PATH": "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0",
    "ID_VENDOR_ID": "0c2e",
    "ID_MODEL_ID": "0b61",
    "ID_MODEL": "Honeywell_1250g",
    "ID_BUS": "usb",
    "ID_INPUT_KEYBOARD": "1",
}


# ---- the device boundary ------------------------------------------------------------------


class Event:
    """An evdev InputEvent: what InputDevice.read() yields."""

    def __init__(self, sec: int, usec: int, type_: int, code: int, value: int) -> None:
        self.sec, self.usec, self.type, self.code, self.value = sec, usec, type_, code, value


class Hardware:
    """One plugged-in input device behind /dev/input/eventN: events wait in a buffer and a
    byte in a pipe makes its descriptor readable, as the kernel's evdev node is."""

    def __init__(self, node: str, properties: dict[str, str], parent: dict[str, str]) -> None:
        self.node = node
        self.properties = {"DEVNAME": node, **properties}
        self.parent = parent
        self.events: list[Event] = []
        self.lock = threading.Lock()
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.unplugged = False
        self.grabbed = 0
        self.opened = 0

    def send(self, rows: list[list[int]]) -> None:
        with self.lock:
            self.events += [Event(*row) for row in rows]
        os.write(self.write_fd, b"e")

    def unplug(self) -> None:
        self.unplugged = True
        os.write(self.write_fd, b"u")  # the node turns readable, and read() fails

    def udev(self, action: str | None = None) -> SimpleNamespace:
        """The pyudev.Device the observer would hand over."""
        return SimpleNamespace(
            action=action,
            device_node=self.node,
            properties=dict(self.properties),
            parent=SimpleNamespace(properties=dict(self.parent)),
        )


class Board:
    """The machine's input devices, and fakes of evdev and pyudev that see them."""

    def __init__(self) -> None:
        self.devices: dict[str, Hardware] = {}
        self.observers: list[Any] = []
        board = self

        class InputDevice:
            def __init__(self, path: str) -> None:
                hw = board.devices.get(path)
                if hw is None or hw.unplugged:
                    raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
                self.hw = hw
                self.path = path
                self.fd = hw.read_fd
                hw.opened += 1

            def grab(self) -> None:
                self.hw.grabbed += 1

            def read(self) -> Iterator[Event]:
                hw = self.hw
                if hw.unplugged:
                    raise OSError(errno.ENODEV, "No such device")
                with contextlib.suppress(BlockingIOError):
                    os.read(hw.read_fd, 4096)
                with hw.lock:
                    events, hw.events = hw.events, []
                if not events:
                    raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
                return iter(events)

            def close(self) -> None:
                pass

        class Context:
            def list_devices(self, subsystem: str) -> list[SimpleNamespace]:
                assert subsystem == "input"
                return [hw.udev() for hw in board.devices.values() if not hw.unplugged]

        class Monitor:
            @staticmethod
            def from_netlink(context: Context) -> Monitor:
                return Monitor()

            def filter_by(self, subsystem: str) -> None:
                assert subsystem == "input"

        class MonitorObserver:
            def __init__(
                self, monitor: Monitor, callback: Callable[[Any], None], name: str = ""
            ) -> None:
                self.callback = callback
                self.started = self.stopped = False
                board.observers.append(self)

            def start(self) -> None:
                self.started = True

            def send_stop(self) -> None:
                self.stopped = True

        self.libs = Libraries(
            evdev=SimpleNamespace(InputDevice=InputDevice),
            pyudev=SimpleNamespace(
                Context=Context, Monitor=Monitor, MonitorObserver=MonitorObserver
            ),
        )

    def plug(
        self,
        node: str,
        properties: dict[str, str] | None = None,
        *,
        tagged: bool = True,
        parent: dict[str, str] | None = None,
        announce: bool = True,
    ) -> Hardware:
        props = dict(HONEYWELL if properties is None else properties)
        if tagged:
            props["TILLBOX_SCANNER"] = "1"
        hw = Hardware(node, props, parent or {"NAME": '"Honeywell Voyager 1250g"'})
        self.devices[node] = hw
        if announce:
            self.fire(hw.udev("add"))
        return hw

    def unplug(self, hw: Hardware, *, announce: bool = True) -> None:
        hw.unplug()
        if announce:
            self.fire(hw.udev("remove"))

    def fire(self, device: Any) -> None:
        """The observer's callback, called from a thread of its own as pyudev's is."""
        for observer in self.observers:
            if observer.started and not observer.stopped:
                thread = threading.Thread(target=observer.callback, args=(device,))
                thread.start()
                thread.join()


def recording(name: str) -> list[list[int]]:
    rows: list[list[int]] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))["events"]
    return rows


def wait_for(condition: Callable[[], Any], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while not (value := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)
    return value


def drain(stream: Stream, count: int, within: float = 3.0) -> list[Scan]:
    got: list[Scan] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        item = stream.next(0.05)
        if isinstance(item, Scan):
            got.append(item)
    return got


@pytest.fixture
def board() -> Board:
    return Board()


@pytest.fixture
def service(rt: Runtime, board: Board) -> Iterator[ScannerService]:
    scanners = ScannerService(rt, board.libs)
    yield scanners
    scanners.stop()


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("scanner /dev/")]


# ---- tests --------------------------------------------------------------------------------


def test_a_scanner_there_at_start_is_read_and_its_scans_go_to_its_register_only(
    rt: Runtime, store: Store, board: Board, service: ScannerService, caplog: Any
) -> None:
    hw = board.plug("/dev/input/event4", announce=False)
    assert service.start()
    sid = "path:" + HONEYWELL["ID_PATH"]
    wait_for(lambda: service.readers() == {sid: "/dev/input/event4"})
    assert hw.grabbed == 1
    (row,) = list_scanners(rt)
    assert (row.name, row.register, row.layout, row.present, row.bluetooth) == (
        "Honeywell Voyager 1250g",
        None,
        "us",
        True,
        False,
    )
    assert row.vendor_product == "0c2e:0b61"

    front, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    other_id, _ = store.new_register("Back till")
    back, _ = rt.scans.subscribe(other_id, None, limit=10)

    # Unbound: dropped, with a log line.
    with caplog.at_level(logging.WARNING, logger="appliance.devices.scanners"):
        hw.send(recording("us"))
        wait_for(lambda: caplog.text.count("unbound scanner") == 4)
    assert front.next(0.05) is None

    bind_scanner(rt, row.id, store.register_id)
    hw.send(recording("us"))
    scans = drain(front, 4)
    assert [s.code for s in scans] == ["4006381333931", "TB-0001", "Abc-12/x", "A+B%C$D.E"]
    assert {(s.source, s.error, s.register) for s in scans} == {
        ("scanner", None, store.register_id)
    }
    assert back.next(0.1) is None

    # A German scanner set to DE from the next scan on, without reattaching.
    configure_scanner(rt, row.id, layout="de")
    hw.send(recording("de"))
    assert [s.code for s in drain(front, 4)] == [
        "4006381333931",
        "Zy-12@de.ZY",
        "A_b/c:d+e*f#",
        "m\\ü",
    ]
    unbind_scanner(rt, row.id)
    hw.send(recording("de"))
    assert front.next(0.2) is None


def test_misreads_reach_the_register_as_such(
    rt: Runtime, store: Store, board: Board, service: ScannerService
) -> None:
    hw = board.plug("/dev/input/event4", announce=False)
    service.start()
    wait_for(service.readers)
    bind_scanner(rt, 1, store.register_id)
    stream, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    t = 1_764_140_000
    keys: list[list[int]] = []
    # 4006381333932: the last digit is wrong; then F1 in a code; then a good one.
    for code in [5, 11, 11, 7, 4, 9, 2, 4, 4, 4, 10, 4, 3, 28, 59, 2, 28, 5, 11, 11, 7, 4]:
        keys += [[t, 0, 1, code, 1], [t, 0, 1, code, 0]]
    keys += [[t, 0, 1, c, v] for c in (9, 2, 4, 4, 4, 10, 4, 2, 28) for v in (1, 0)]
    hw.send(keys)
    first, second, third = drain(stream, 3)
    assert (first.code, first.error) == ("4006381333932", "bad_check_digit")
    assert (second.code, second.error) == ("\ufffd1", "unknown_key")
    assert (third.code, third.error) == ("4006381333931", None)


def test_hot_plug_attach_detach_and_reattach_under_a_new_node_keeps_the_binding(
    rt: Runtime, store: Store, board: Board, service: ScannerService
) -> None:
    service.start()
    assert board.observers and board.observers[0].started
    hw = board.plug("/dev/input/event4")
    sid = wait_for(lambda: next(iter(service.readers()), None))
    bind_scanner(rt, sid, store.register_id)
    configure_scanner(rt, sid, layout="fr")
    stream, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    hw.send(recording("fr"))
    assert [s.code for s in drain(stream, 4)][:2] == ["4006381333931", "AZQWM-aqzwm"]

    board.unplug(hw)
    wait_for(lambda: not service.readers())
    wait_for(lambda: not list_scanners(rt)[0].present)

    again = board.plug("/dev/input/event9")
    wait_for(lambda: service.readers() == {sid: "/dev/input/event9"})
    (row,) = list_scanners(rt)
    assert (row.register, row.layout, row.present) == (store.register_id, "fr", True)
    again.send(recording("fr"))
    assert [s.code for s in drain(stream, 4)][:1] == ["4006381333931"]
    # The remove of the old node, arriving late, does not detach the new one.
    board.fire(hw.udev("remove"))
    time.sleep(0.05)
    assert service.readers() == {sid: "/dev/input/event9"}
    assert len(reader_threads()) == 1


def test_a_flood_of_udev_events_keeps_one_reader_and_loses_no_scan(
    rt: Runtime, store: Store, board: Board, service: ScannerService
) -> None:
    service.start()
    old = board.plug("/dev/input/event3")
    sid = wait_for(lambda: next(iter(service.readers()), None))
    bind_scanner(rt, sid, store.register_id)
    stream, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    board.unplug(old, announce=False)  # its remove comes late, in the middle of the flood
    hw = board.plug("/dev/input/event5")
    wait_for(lambda: service.readers() == {sid: "/dev/input/event5"})
    opened = hw.opened

    def flood() -> None:
        for n in range(100):
            board.fire(hw.udev("add" if n % 3 else "change"))
            if n == 50:
                board.fire(old.udev("remove"))

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    fast = recording("fast_us")
    for _ in range(5):  # scans typed while the events pour in
        hw.send(fast)
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    codes = [s.code for s in drain(stream, 20)]
    assert codes == ["4006381333931", "96385074", "036000291452", "TB-0001"] * 5
    assert service.readers() == {sid: "/dev/input/event5"}
    assert hw.opened == opened  # never reopened: a repeated add changes nothing
    assert len(reader_threads()) == 1


def test_unplugged_mid_scan_detaches_quietly_and_the_next_scan_is_whole(
    rt: Runtime, store: Store, board: Board, service: ScannerService, caplog: Any
) -> None:
    service.start()
    hw = board.plug("/dev/input/event4")
    sid = wait_for(lambda: next(iter(service.readers()), None))
    bind_scanner(rt, sid, store.register_id)
    stream, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    rows = recording("us")
    enter = next(i for i, row in enumerate(rows) if row[2:] == [1, 28, 1])
    with caplog.at_level(logging.INFO, logger="appliance.devices.scanners"):
        hw.send(rows[: enter // 2])  # half of 4006381333931
        wait_for(lambda: not hw.events)  # taken by the reader, which decodes them before reading on
        board.unplug(hw, announce=False)  # ENODEV before udev tells
        wait_for(lambda: not service.readers())
        assert "unplugged mid-scan" in caplog.text
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        board.fire(hw.udev("remove"))
        again = board.plug("/dev/input/event11")
        wait_for(lambda: service.readers() == {sid: "/dev/input/event11"})
        again.send(rows)
        scans = drain(stream, 4)
    assert scans[0].code == "4006381333931"
    assert all(s.error is None for s in scans)


def test_which_devices_are_scanners(
    rt: Runtime, settings: Settings, board: Board, wall: Any
) -> None:
    """Tagged by the udev rule, or listed by vendor:product; a keyboard is left alone, and a
    Bluetooth scanner is known by its serial (its path changes with each connection)."""
    import dataclasses

    listed = dataclasses.replace(
        rt, settings=make_settings(settings.data_dir, scanner_ids=("05e0:1200",))
    )
    service = ScannerService(listed, board.libs)
    try:
        service.start()
        board.plug(
            "/dev/input/event2",
            {**HONEYWELL, "ID_PATH": "kbd", "ID_VENDOR_ID": "046d"},
            tagged=False,
        )
        zebra = {
            **HONEYWELL,
            "ID_PATH": "usb-0:1.2:1.0",
            "ID_VENDOR_ID": "05e0",
            "ID_MODEL_ID": "1200",
        }
        board.plug("/dev/input/event6", zebra, tagged=False)
        board.plug(
            "/dev/input/event7",
            {"ID_PATH": "platform-bt-hci0-" + str(time.time()), "ID_INPUT_KEYBOARD": "1"},
            parent={
                "NAME": '"Netum BT scanner"',
                "PRODUCT": "5/a12/1/110",
                "UNIQ": '"aa:bb:cc:dd:ee:ff"',
            },
        )
        wait_for(lambda: len(service.readers()) == 2)
        assert service.readers() == {
            "path:usb-0:1.2:1.0": "/dev/input/event6",
            "serial:aa:bb:cc:dd:ee:ff": "/dev/input/event7",
        }
        bt = next(row for row in list_scanners(rt) if row.bluetooth)
        assert (bt.name, bt.vendor_product) == ("Netum BT scanner", "0a12:0001")
    finally:
        service.stop()
    assert not reader_threads()
    assert not any(row.present for row in list_scanners(rt))


def test_describe_ignores_what_is_not_an_event_node() -> None:
    mouse = SimpleNamespace(properties={"DEVNAME": "/dev/input/mouse0"}, device_node=None)
    assert describe(mouse) is None
    node = describe(SimpleNamespace(properties={"DEVNAME": "/dev/input/event1"}))
    assert node == InputNode(
        node="/dev/input/event1",
        stable_id=None,
        name="/dev/input/event1",
        vendor_product=None,
        bluetooth=False,
        tagged=False,
        keyboard=False,
    )


def test_gs1_check_digits() -> None:
    assert check_code("4006381333931") is None
    assert check_code("4006381333932") == "bad_check_digit"
    assert check_code("96385074") is None  # EAN-8
    assert check_code("036000291452") is None  # UPC-A
    assert check_code("00012345600012") is None  # GTIN-14
    assert check_code("12345678901") is None  # 11 digits: not a GS1 length, not checked
    assert check_code("TB-0001") is None
    # UPC-E 0 425261 4 stands for UPC-A 0 42100 00526 4.
    assert upc_e_to_a("04252614") == "042100005264"
    assert check_code("04252614") is None
    assert check_code("04252615") == "bad_check_digit"


def test_without_the_libraries_scanners_are_off(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "evdev", None)
    assert "evdev" in (libraries_problem() or "")
    assert ScannerService(rt).start() is False


def test_bind_and_configure_refuse_bad_input(rt: Runtime, store: Store, board: Board) -> None:
    service = ScannerService(rt, board.libs)
    board.plug("/dev/input/event4", announce=False)
    service.start()
    try:
        wait_for(service.readers)
    finally:
        service.stop()
    with pytest.raises(NotFound):
        bind_scanner(rt, 1, "s01-r99")
    with pytest.raises(NotFound):
        bind_scanner(rt, 42, store.register_id)
    with pytest.raises(Invalid):
        configure_scanner(rt, 1, layout="dvorak")
    with pytest.raises(Invalid):
        configure_scanner(rt, 1, prefix="x" * 17)


def test_cli_lists_binds_sets_the_layout_and_unbinds(
    rt: Runtime, store: Store, board: Board, data_dir: Path
) -> None:
    service = ScannerService(rt, board.libs)
    board.plug("/dev/input/event4", announce=False)
    service.start()
    try:
        wait_for(service.readers)
    finally:
        service.stop()
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["appliance", "scanner", *args, "--data", str(data_dir)])
        assert result.exit_code == 0, result.output
        return result.output

    assert "unbound" in run("list")
    assert store.register_id in run("bind", "1", store.register_id)
    run("layout", "1", "de", "--prefix", "]E0", "--suffix", "\\t")
    (row,) = list_scanners(rt)
    assert (row.register, row.layout, row.prefix, row.suffix) == (
        store.register_id,
        "de",
        "]E0",
        "\t",
    )
    listed = run("list")
    assert store.register_id in listed and "de" in listed
    run("unbind", "1")
    assert list_scanners(rt)[0].register is None
    bad = runner.invoke(
        main, ["appliance", "scanner", "bind", "9", store.register_id, "--data", str(data_dir)]
    )
    assert bad.exit_code == 1 and "no scanner 9" in bad.output


def test_scans_reach_only_the_bound_registers_sse_stream(
    rt: Runtime, store: Store, board: Board, server: RunningServer
) -> None:
    """End to end: key events from a scanner to the Flask app's stream on a real server."""
    service = ScannerService(rt, board.libs)
    hw = board.plug("/dev/input/event4", announce=False)
    service.start()
    try:
        wait_for(service.readers)
        bind_scanner(rt, 1, store.register_id)
        configure_scanner(rt, 1, layout="uk")
        other_id, other_token = store.new_register("Back till")
        mine = open_stream(server.url, store.device)
        theirs = open_stream(server.url, other_token)
        hw.send(recording("uk"))
        assert [mine.scan()["code"] for _ in range(3)] == ["036000291452", 'AB@12#"~', "x\\Y"]
        # A misread comes as its own event, never as a scan.
        hw.send([[1, 0, 1, c, v] for c in (2, 3, 4, 5, 6, 7, 8, 10, 28) for v in (1, 0)])
        block = mine.event()
        assert block is not None and block["event"] == "misread"
        data = json.loads(block["data"])
        assert (data["code"], data["error"], data["source"]) == (
            "12345679",
            "bad_check_digit",
            "scanner",
        )
        assert block["id"] == data["id"]
        # The other register's stream got nothing: the next thing it sees is its own scan.
        bind_scanner(rt, 1, other_id)
        hw.send(recording("uk")[:])
        assert theirs.scan()["code"] == "036000291452"
        mine.close()
        theirs.close()
    finally:
        service.stop()


def test_bluetooth_pairing_runs_bluetoothctl_step_by_step() -> None:
    """bluetoothctl itself is the boundary here: only the commands are checked."""
    assert pairing_commands("aa:bb:cc:dd:ee:0f", scan_s=15) == [
        ["bluetoothctl", "--timeout", "15", "scan", "on"],
        ["bluetoothctl", "pair", "AA:BB:CC:DD:EE:0F"],
        ["bluetoothctl", "trust", "AA:BB:CC:DD:EE:0F"],
        ["bluetoothctl", "connect", "AA:BB:CC:DD:EE:0F"],
    ]
    with pytest.raises(Invalid, match="not a Bluetooth address"):
        pairing_commands("aa:bb:cc:dd:ee; reboot")
    ran: list[list[str]] = []

    def run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        failed = command[1] == "connect"
        return subprocess.CompletedProcess(
            command, 0, "Failed to connect: org.bluez.Error.Failed\n" if failed else "ok\n", ""
        )

    with pytest.raises(Invalid, match="connect AA:BB:CC:DD:EE:0F failed"):
        pair_bluetooth("aa:bb:cc:dd:ee:0f", run=run)
    assert [c[1] for c in ran] == ["--timeout", "pair", "trust", "connect"]


def test_a_scan_left_without_enter_does_not_start_the_next_one(
    rt: Runtime, store: Store, board: Board, service: ScannerService
) -> None:
    service.start()
    hw = board.plug("/dev/input/event4")
    sid = wait_for(lambda: next(iter(service.readers()), None))
    bind_scanner(rt, sid, store.register_id)
    stream, _ = rt.scans.subscribe(store.register_id, None, limit=10)
    t = 1_764_140_000
    # "99" and no Enter (a scanner reset mid-code), then 3 s later a whole scan.
    hw.send([[t, 0, 1, 10, 1], [t, 0, 1, 10, 0], [t, 1, 1, 10, 1], [t, 1, 1, 10, 0]])
    hw.send([[t + 3, 0, 1, c, v] for c in (10, 7, 4, 9, 6, 11, 8, 5, 28) for v in (1, 0)])
    (scan,) = drain(stream, 1)
    assert (scan.code, scan.error) == ("96385074", None)


def test_the_fakes_match_the_real_libraries() -> None:
    """What the service uses of evdev and pyudev exists there, as the fakes have it (runs
    where the `pi` extra is installed; CI fakes both, see the module docstring)."""
    import inspect

    evdev = pytest.importorskip("evdev")
    pyudev = pytest.importorskip("pyudev")
    for name in ("read", "grab", "close", "fileno"):
        assert callable(getattr(evdev.InputDevice, name)), name
    assert "self.fd" in inspect.getsource(evdev.InputDevice.__init__)
    assert callable(pyudev.Monitor.from_netlink) and callable(pyudev.Monitor.filter_by)
    assert "subsystem" in inspect.signature(pyudev.Enumerator.match_subsystem).parameters
    assert "callback" in inspect.signature(pyudev.MonitorObserver.__init__).parameters
    assert issubclass(pyudev.MonitorObserver, threading.Thread)  # takes name=, start()
    assert callable(pyudev.MonitorObserver.send_stop)
    for name in ("properties", "device_node", "action", "parent"):
        assert isinstance(getattr(pyudev.Device, name), property), name


def test_the_consumer_control_node_of_the_same_interface_is_never_read(
    rt: Runtime, board: Board, service: ScannerService
) -> None:
    """Many HID scanners also show a Consumer Control node with the same ID_PATH; taking
    it for the scanner would replace the keyboard's reader and lose every scan."""
    service.start()
    board.plug("/dev/input/event4")
    sid = wait_for(lambda: next(iter(service.readers()), None))
    consumer = {k: v for k, v in HONEYWELL.items() if k != "ID_INPUT_KEYBOARD"}
    board.plug("/dev/input/event5", {**consumer, "ID_INPUT_KEY": "1"})
    board.fire(board.devices["/dev/input/event4"].udev("change"))
    wait_for(lambda: service._queue.empty())
    time.sleep(0.05)
    assert service.readers() == {sid: "/dev/input/event4"}
    assert board.devices["/dev/input/event5"].opened == 0
