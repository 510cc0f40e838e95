"""The devices page: scanners, printers, test print, drawer test, Bluetooth, demo prints and the
virtual scanner, through the real app, with the print worker and the scan bus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer, bind_printer
from appliance.devices.scanners import find_scanner
from appliance.scans import Scan
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.devices.plugged import plug_scanner
from tests.conftest import Store


def audit(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (r["action"], r["target"], json.loads(r["details"] or "{}"))
        for r in store.rt.db.query(
            "SELECT * FROM admin_audit WHERE action != 'sign_in' ORDER BY id"
        )
    ]


def test_binding_a_scanner_with_its_layout_prefix_and_suffix(
    manager: AdminBrowser, store: Store
) -> None:
    scanner = plug_scanner(store.rt)
    page = manager.get("/admin/devices")
    assert "Honeywell 1900" in page.text and "not bound" in page.text
    answer = manager.post(
        f"/admin/devices/scanners/{scanner.id}",
        {"register": store.register_id, "layout": "de", "prefix": "]C1", "suffix": "\\t"},
    )
    assert answer.status_code == 303
    row = find_scanner(store.rt, scanner.id)
    assert (row.register, row.layout, row.prefix, row.suffix) == (
        store.register_id,
        "de",
        "]C1",
        "\t",
    )
    page = manager.get("/admin/devices")
    assert (
        f"scanner {scanner.name} saved: scans for {store.register_id}".lower() in page.text.lower()
    )
    assert audit(store)[-1][:2] == ("scanner_save", f"scanner:{scanner.id}")
    # Unbinding: its scans go nowhere.
    manager.post(f"/admin/devices/scanners/{scanner.id}", {"register": "", "layout": "de"})
    assert find_scanner(store.rt, scanner.id).register is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"register": "s01-r99", "layout": "us"}, "register"),
        ({"register": "", "layout": "xx"}, "layout"),
        ({"register": "", "layout": "us", "prefix": "x" * 17}, "prefix"),
    ],
)
def test_a_bad_scanner_form_is_refused_by_its_field_and_changes_nothing(
    manager: AdminBrowser, store: Store, form: dict[str, str], field: str
) -> None:
    scanner = plug_scanner(store.rt)
    manager.post(
        f"/admin/devices/scanners/{scanner.id}", {"register": store.register_id, "layout": "uk"}
    )
    before = find_scanner(store.rt, scanner.id)
    answer = manager.post(f"/admin/devices/scanners/{scanner.id}", form)
    assert answer.status_code == 422
    assert field in field_errors(answer.text), field_errors(answer.text)
    assert find_scanner(store.rt, scanner.id) == before
    assert manager.post("/admin/devices/scanners/999", form).status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "", "connection": "network", "address": "192.0.2.9:9100"}, "name"),
        ({"name": "Front", "connection": "network", "address": "no spaces allowed"}, "address"),
        ({"name": "Front", "connection": "network", "address": "192.0.2.9:99999"}, "address"),
        ({"name": "Front", "connection": "pigeon", "address": "x"}, "connection"),
        ({"name": "Front", "connection": "usb", "address": "04b8:0202", "width": "wide"}, "width"),
        ({"name": "Front", "connection": "usb", "address": "04b8:0202", "width": "80"}, "width"),
        (
            {"name": "Front", "connection": "usb", "address": "04b8:0202", "drawer_pin": "3"},
            "drawer_pin",
        ),
    ],
)
def test_a_bad_printer_is_refused_by_its_field_and_nothing_is_added(
    manager: AdminBrowser, store: Store, form: dict[str, str], field: str
) -> None:
    answer = manager.post("/admin/devices/printers", form)
    assert answer.status_code == 422
    assert field in field_errors(answer.text), field_errors(answer.text)
    assert store.rt.db.scalar("SELECT count(*) FROM printer") == 0
    # What was typed is kept in the form.
    if form["name"]:
        assert f'value="{form["name"]}"' in answer.text


def test_every_problem_of_the_printer_form_is_shown_at_once(
    manager: AdminBrowser, store: Store
) -> None:
    answer = manager.post(
        "/admin/devices/printers",
        {"name": "", "connection": "fax", "address": "", "width": "x", "drawer_pin": "two"},
    )
    assert answer.status_code == 422
    assert set(field_errors(answer.text)) == {
        "name",
        "connection",
        "address",
        "width",
        "drawer_pin",
    }
    assert store.rt.db.scalar("SELECT count(*) FROM printer") == 0


def test_add_bind_test_print_and_remove_a_demo_printer(
    manager: AdminBrowser, store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "prints"
    answer = manager.post(
        "/admin/devices/printers",
        {
            "name": "Demo",
            "connection": "demo",
            "address": str(folder),
            "width": "42",
            "drawer_pin": "5",
        },
    )
    assert answer.status_code == 303
    printer = store.rt.db.one("SELECT * FROM printer")
    assert (printer["name"], printer["width"], printer["drawer_pin"]) == ("Demo", 42, 5)
    assert (
        manager.post(
            f"/admin/devices/printers/{printer['id']}/bind", {"register": store.register_id}
        ).status_code
        == 303
    )
    assert (
        store.rt.db.scalar(
            "SELECT printer FROM register_printer WHERE register = ?", (store.register_id,)
        )
        == printer["id"]
    )

    assert manager.post(f"/admin/devices/printers/{printer['id']}/test").status_code == 303
    job = store.rt.db.one("SELECT * FROM print_job")
    assert (job["kind"], job["state"], job["staff"]) == ("test", "queued", store.staff["manager"])
    assert store.rt.print_wake.is_set()
    PrintWorker(store.rt).run_once()
    assert sorted(p.name for p in folder.iterdir()) == [
        "000001-test-page.png",
        "000001-test-page.txt",
    ]
    page = manager.get("/admin/devices")
    assert "printed" in page.text and "ready" in page.text
    # Demo mode: the print is shown, and served.
    assert f"/admin/devices/prints/{printer['id']}/000001-test-page.png" in page.text
    image = manager.get(f"/admin/devices/prints/{printer['id']}/000001-test-page.png")
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    image.close()
    text = manager.get(f"/admin/devices/prints/{printer['id']}/000001-test-page.txt")
    assert text.status_code == 200 and text.headers["Content-Type"] == "text/plain; charset=utf-8"
    text.close()

    assert manager.post(f"/admin/devices/printers/{printer['id']}/remove").status_code == 303
    assert store.rt.db.scalar("SELECT removed_ms IS NOT NULL FROM printer") == 1
    assert store.rt.db.scalar("SELECT count(*) FROM register_printer") == 0
    assert [a[0] for a in audit(store)] == [
        "printer_add",
        "printer_bind",
        "printer_test",
        "printer_remove",
    ]


def test_the_drawer_test_kicks_through_the_registers_printer_and_is_logged(
    manager: AdminBrowser, store: Store, tmp_path: Path
) -> None:
    answer = manager.post("/admin/devices/drawer-test", {"register": store.register_id})
    assert answer.status_code == 422
    assert f"{store.register_id} has no printer to open it" in answer.text
    assert store.rt.db.scalar("SELECT count(*) FROM print_job") == 0

    printer = add_printer(store.rt, name="Demo", connection="demo", address=str(tmp_path / "p"))
    bind_printer(store.rt, store.register_id, printer)
    assert (
        manager.post("/admin/devices/drawer-test", {"register": store.register_id}).status_code
        == 303
    )
    PrintWorker(store.rt).run_once()
    kick = store.rt.db.one("SELECT register, staff, reason, outcome FROM drawer_kick")
    assert kick is not None
    assert tuple(kick) == (store.register_id, store.staff["manager"], "drawer test", "sent")
    assert (tmp_path / "p" / "drawer.log").read_text() == "drawer opened\n"


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Ftillbox.toml",
        "..%2Fstore%2Ftillbox.sqlite3",
        "000001-x.png%2F..%2F..%2Ftillbox.toml",
        "drawer.log",
        "%2Fetc%2Fpasswd",
        "000001-Receipt.PNG",
        ".000001-x.png",
    ],
)
def test_demo_prints_are_served_without_path_traversal(
    manager: AdminBrowser, store: Store, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "prints"
    folder.mkdir()
    (folder / "drawer.log").write_text("drawer opened\n")
    (tmp_path / "tillbox.toml").write_text("secret = 1\n")
    printer = add_printer(store.rt, name="Demo", connection="demo", address=str(folder))
    answer = manager.get(f"/admin/devices/prints/{printer}/{name}")
    answer.close()
    assert answer.status_code == 404


def test_a_network_printers_files_are_never_served(manager: AdminBrowser, store: Store) -> None:
    printer = add_printer(store.rt, name="Front", connection="network", address="192.0.2.9:9100")
    answer = manager.get(f"/admin/devices/prints/{printer}/000001-test-page.png")
    assert answer.status_code == 404


def test_the_virtual_scanner_reaches_the_registers_stream_with_the_check_digit_checked(
    manager: AdminBrowser, store: Store, tmp_path: Path
) -> None:
    page = manager.get("/admin/devices")
    assert "Virtual scanner" not in page.text  # no demo printer, no fake_scanner: not demo mode
    add_printer(store.rt, name="Demo", connection="demo", address=str(tmp_path / "p"))
    assert "Virtual scanner" in manager.get("/admin/devices").text
    stream, _ = store.rt.scans.subscribe(store.register_id, None, limit=4)
    other_id, _ = store.new_register("Back till")
    other, _ = store.rt.scans.subscribe(other_id, None, limit=4)
    answer = manager.post(
        "/admin/devices/virtual-scan", {"register": store.register_id, "code": "96385074"}
    )
    assert answer.status_code == 303
    scan = stream.next(1.0)
    assert isinstance(scan, Scan)
    assert (scan.code, scan.source, scan.error) == ("96385074", "virtual", None)
    manager.post("/admin/devices/virtual-scan", {"register": store.register_id, "code": "96385075"})
    misread = stream.next(1.0)
    assert isinstance(misread, Scan) and misread.error == "bad_check_digit"
    assert other.next(0.05) is None  # never another register's
    refused = manager.post(
        "/admin/devices/virtual-scan", {"register": store.register_id, "code": ""}
    )
    assert refused.status_code == 422 and "code" in field_errors(refused.text)
    refused = manager.post("/admin/devices/virtual-scan", {"register": "s01-r99", "code": "1"})
    assert refused.status_code == 422 and "register" in field_errors(refused.text)
    assert stream.next(0.05) is None


def test_bluetooth_without_bluez_says_so(
    manager: AdminBrowser, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("bluetoothctl")

    monkeypatch.setattr(subprocess, "run", missing)
    page = manager.get("/admin/devices")
    assert page.status_code == 200
    assert "Bluetooth is not available here: bluetoothctl is not installed" in page.text
    answer = manager.post("/admin/devices/bluetooth/pair", {"address": "00:1A:7D:DA:71:13"})
    assert answer.status_code == 422 and "not installed" in answer.text


def test_bluetooth_devices_are_listed_and_a_scanner_paired_through_bluetoothctl(
    manager: AdminBrowser, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []

    def bluetoothctl(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        out = ""
        if command[1:] == ["devices"]:
            out = "Device 00:1A:7D:DA:71:13 Scanner BT\nDevice AA:BB:CC:DD:EE:FF Phone\n"
        elif command[1:] == ["devices", "Paired"]:
            out = "Device 00:1A:7D:DA:71:13 Scanner BT\n"
        elif command[1] == "pair":
            out = "Pairing successful\n"
        return subprocess.CompletedProcess(command, 0, out, "")

    monkeypatch.setattr(subprocess, "run", bluetoothctl)
    page = manager.get("/admin/devices")
    assert "Scanner BT" in page.text and "00:1A:7D:DA:71:13" in page.text and "paired" in page.text
    bad = manager.post("/admin/devices/bluetooth/pair", {"address": "not-an-address"})
    assert bad.status_code == 422 and "address" in field_errors(bad.text)
    answer = manager.post("/admin/devices/bluetooth/pair", {"address": "00:1a:7d:da:71:13"})
    assert answer.status_code == 303
    assert ["bluetoothctl", "pair", "00:1A:7D:DA:71:13"] in ran
    assert audit(store)[-1][:2] == ("bluetooth_pair", "bluetooth:00:1A:7D:DA:71:13")
