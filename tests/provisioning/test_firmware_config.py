"""firmware_config/: the units pass `systemd-analyze verify`, the udev rules tag scanners and
printers (and nothing else) the way the appliance reads them, the boot fragment and the
scripts are sound."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance.devices.scanners import describe
from tests.provisioning.udev import Device, RuleSyntaxError, apply, parse

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware_config"
UNITS = sorted((FIRMWARE / "systemd").glob("tillbox-*.[st]*"))
RULES = FIRMWARE / "udev" / "70-tillbox-devices.rules"


def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} == {
        "tillbox-appliance.service",
        "tillbox-first-boot.service",
        "tillbox-update.service",
        "tillbox-update.timer",
    }
    # A root of its own: the units, the programs they run (as stand-ins, since verify only
    # checks that they are executable) and the system's own units they are ordered against.
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    for program in ("opt/tillbox/current/bin/tillbox", "usr/local/sbin/tillbox-release"):
        (root / program).parent.mkdir(parents=True, exist_ok=True)
        (root / program).write_text("#!/bin/sh\n")
        (root / program).chmod(0o755)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *(u.name for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values (it only warns): any word about our
    # units is a failure.
    ours = [line for line in result.stderr.splitlines() if "tillbox" in line]
    assert result.returncode == 0 and not ours, result.stderr


def test_the_appliance_unit_is_hardened_but_sees_devices() -> None:
    text = (FIRMWARE / "systemd/tillbox-appliance.service").read_text()
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0].isalpha()
    )
    assert settings["User"] == "store"
    assert settings["Type"] == "notify" and settings["WatchdogSec"] == "30s"
    assert settings["Restart"] == "always"
    assert settings["ProtectSystem"] == "strict" and settings["NoNewPrivileges"] == "true"
    assert settings["StateDirectory"] == "tillbox"
    assert {"input", "lp"} <= set(settings["SupplementaryGroups"].split())
    for hides_devices in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"):
        assert hides_devices not in settings


def usb_parent(vendor: str, product: str) -> dict[str, str]:
    return {"idVendor": vendor, "idProduct": product}


def scanner_event(vendor: str, product: str, *, action: str = "add") -> Device:
    """An input event node of a USB HID keyboard interface, as udev builds it."""
    return Device(
        action=action,
        subsystem="input",
        kernel="event3",
        env={
            "DEVNAME": "/dev/input/event3",
            "ID_INPUT_KEYBOARD": "1",
            "ID_PATH": "platform-xhci-hcd.0-usb-0:1.2:1.0",
            "ID_VENDOR_ID": vendor,
            "ID_MODEL_ID": product,
        },
        # input3 (no attributes of interest), the USB interface, then the USB device.
        parents=[{"name": "Scanner"}, {"bInterfaceClass": "03"}, usb_parent(vendor, product)],
    )


def test_the_rules_parse() -> None:
    rules = parse(RULES)
    assert len(rules) >= 6


def test_a_listed_scanner_is_tagged_for_the_appliance_and_given_to_input() -> None:
    result = apply(parse(RULES), scanner_event("05e0", "1200"))
    assert result.env["TILLBOX_SCANNER"] == "1"
    assert result.env["TILLBOX_SCANNER_NAME"] == "Zebra LS2208"
    assert (result.group, result.mode) == ("input", "0660")
    # What the appliance makes of the tagged node: a scanner, by its tag alone.
    device = SimpleNamespace(properties=result.env, parent=None, device_node=None)
    node = describe(device)
    assert node is not None and node.tagged and node.is_scanner(())
    assert node.name == "Zebra LS2208"


@pytest.mark.parametrize(
    "device",
    [
        scanner_event("046d", "c31c"),  # an ordinary keyboard
        scanner_event("05e0", "1201"),  # the vendor, another product
        scanner_event("05e0", "1200", action="remove"),
        # The scanner's ids, but not on an input node (its USB device itself).
        Device(
            action="add",
            subsystem="usb",
            kernel="1-1.2",
            env={"DEVTYPE": "usb_device"},
            attrs=usb_parent("05e0", "1200"),
        ),
        # Vendor on one ancestor and product on another: udev needs both on the same one.
        Device(
            action="add",
            subsystem="input",
            kernel="event4",
            parents=[{"idVendor": "05e0"}, {"idProduct": "1200"}],
        ),
    ],
)
def test_other_devices_are_not_tagged(device: Device) -> None:
    result = apply(parse(RULES), device)
    assert "TILLBOX_SCANNER" not in result.env
    assert result.group is None
    untagged = SimpleNamespace(properties=result.env, parent=None, device_node=None)
    node = describe(untagged)
    assert node is None or not node.is_scanner(())


def test_a_receipt_printer_is_given_to_lp_both_as_usb_device_and_usblp_node() -> None:
    rules = parse(RULES)
    usb = Device(
        action="add",
        subsystem="usb",
        kernel="1-1.3",
        env={"DEVTYPE": "usb_device"},
        attrs=usb_parent("04b8", "0202"),
    )
    assert (apply(rules, usb).group, apply(rules, usb).mode) == ("lp", "0660")
    lp = Device(
        action="add",
        subsystem="usbmisc",
        kernel="lp0",
        parents=[{"bInterfaceClass": "07"}, usb_parent("04b8", "0202")],
    )
    assert apply(rules, lp).group == "lp"
    # The printer's interface (not the device) is left alone, as is another vendor's printer.
    interface = Device(
        action="add",
        subsystem="usb",
        kernel="1-1.3:1.0",
        env={"DEVTYPE": "usb_interface"},
        parents=[usb_parent("04b8", "0202")],
    )
    assert apply(rules, interface).group is None
    other = Device(
        action="add",
        subsystem="usb",
        kernel="1-1.4",
        env={"DEVTYPE": "usb_device"},
        attrs=usb_parent("0fe6", "811e"),
    )
    assert apply(rules, other).group is None


def test_the_matcher_refuses_syntax_it_does_not_know(tmp_path: Path) -> None:
    rules = tmp_path / "x.rules"
    rules.write_text('SUBSYSTEM=="input", PROGRAM=="/bin/true", GROUP="input"\n')
    with pytest.raises(RuleSyntaxError, match="unsupported match key PROGRAM"):
        parse(rules)
    rules.write_text('SUBSYSTEM=="input" GROUP="input"\n')
    with pytest.raises(RuleSyntaxError, match="cannot read"):
        parse(rules)


def test_config_txt_fragment_has_the_model_sections_and_the_watchdog() -> None:
    text = (FIRMWARE / "boot/config-tillbox.txt").read_text()
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"\[[a-z0-9]+\]", line):
            current = line
            sections[current] = []
            continue
        assert current is not None, f"{line!r} before any section"
        assert re.fullmatch(r"[a-z_0-9]+=[A-Za-z0-9_=,.-]+", line), line
        sections[current].append(line)
    assert list(sections) == ["[pi4]", "[pi5]", "[all]"]
    assert "dtparam=watchdog=on" in sections["[all]"]
    assert not [line for lines in sections.values() for line in lines if "dtoverlay" in line]


def test_cmdline_extras_are_one_line_of_known_words() -> None:
    words = (FIRMWARE / "boot/cmdline-extras.txt").read_text().split()
    assert (FIRMWARE / "boot/cmdline-extras.txt").read_text().count("\n") == 1
    assert "fsck.repair=yes" in words and all(re.fullmatch(r"[a-z_.]+(=\S+)?", w) for w in words)


def test_scripts_pass_shellcheck() -> None:
    scripts = [FIRMWARE / "sbin/tillbox-release", *sorted((ROOT / "provisioning").rglob("*.sh"))]
    result = subprocess.run(
        ["shellcheck", "-x", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


POLKIT_HARNESS = """
const fs = require("fs");
const rules = [];
const polkit = {
    Result: {YES: "yes", NO: "no", NOT_HANDLED: "not handled"},
    addRule(rule) { rules.push(rule); },
};
new Function("polkit", fs.readFileSync(process.argv[1], "utf8"))(polkit);
const answers = JSON.parse(process.argv[2]).map(([action, groups]) => {
    const subject = {isInGroup: (g) => groups.includes(g)};
    return rules.map((rule) => rule({id: action}, subject)).find((r) => r !== undefined);
});
console.log(JSON.stringify(answers));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js comes with the PWA tooling")
def test_the_polkit_rule_lets_it_support_reboot_and_change_the_network_only() -> None:
    cases = [
        ("org.freedesktop.login1.reboot", ["tillbox-ops"], "yes"),
        ("org.freedesktop.login1.power-off", ["tillbox-ops"], "yes"),
        ("org.freedesktop.NetworkManager.settings.modify.system", ["tillbox-ops"], "yes"),
        ("org.freedesktop.login1.reboot", ["store"], "not handled"),
        ("org.freedesktop.NetworkManager.network-control", ["users"], "not handled"),
        ("org.freedesktop.systemd1.manage-units", ["tillbox-ops"], "not handled"),
        ("org.freedesktop.packagekit.package-install", ["tillbox-ops"], "not handled"),
    ]
    result = subprocess.run(
        [
            "node",
            "-e",
            POLKIT_HARNESS,
            str(FIRMWARE / "polkit/50-tillbox.rules"),
            json.dumps([[action, groups] for action, groups, _ in cases]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [answer for _, _, answer in cases]
