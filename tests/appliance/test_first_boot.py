"""`tillbox appliance first-boot`: store-setup.toml checked as a whole, applied, renamed
`.applied` without its secrets; a bad file changes nothing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import appliance.first_boot as first_boot
from appliance.doctor import diagnose
from appliance.first_boot import FirstBootError, Targets, apply_store_setup, read_store_setup
from appliance.runtime import open_runtime
from appliance.settings import load_settings
from appliance.staff.directory import list_staff
from tests.appliance.sync.mqtt_fakes import make_ca_and_server_cert

TILLBOX = str(Path(sys.executable).parent / "tillbox")
CODE = "K7QJX-MP3RA-ZT2WD-F5NVE"
# A broker password given directly (the way before enrolment codes, decisions.md §53).
PASSWORD = "Zq3-xv_8Kp2LmN7tR4sW9yB1"
PSK = "correct horse battery"

GOOD = f"""
[store]
id = "s07"
name = "Harbour Road"
currency = "GBP"
timezone = "Europe/London"

[wifi]
ssid = "Shop Staff"
psk = "{PSK}"
country = "GB"

[cloud]
host = "mqtt.example.com"
port = 8883
enrolment_code = "{CODE}"

[manager]
name = "Alex Manager"
pin = "4821"
"""


@pytest.fixture
def targets(tmp_path: Path) -> Targets:
    return Targets(
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "etc-tillbox",
        nm_dir=tmp_path / "nm",
        modprobe_dir=tmp_path / "modprobe.d",
    )


def setup_file(tmp_path: Path, text: str) -> Path:
    boot = tmp_path / "boot"
    boot.mkdir(exist_ok=True)
    path = boot / "store-setup.toml"
    path.write_text(text, encoding="utf-8")
    return path


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists() for p in root.rglob("*"))


def test_a_good_file_sets_up_the_store_wifi_cloud_and_manager(
    tmp_path: Path, targets: Targets
) -> None:
    source = setup_file(tmp_path, GOOD)
    done = apply_store_setup(source, targets)
    assert done.created and done.store == "s07"

    settings = load_settings(targets.data_dir)
    assert (settings.store, settings.store_name, settings.currency) == (
        "s07",
        "Harbour Road",
        "GBP",
    )
    assert settings.timezone == "Europe/London"
    assert (settings.mqtt_host, settings.mqtt_port) == ("mqtt.example.com", 8883)
    # The code waits in the data directory to be traded; the password is not there yet.
    assert settings.mqtt_password_file == targets.data_dir / "mqtt-password"
    assert not settings.mqtt_password_file.exists()
    code_file = targets.data_dir / "enrolment-code"
    assert settings.enrol_code_file == code_file
    assert code_file.read_text() == CODE + "\n"
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    assert not (targets.config_dir / "mqtt-password").exists()

    keyfile = targets.nm_dir / "tillbox-store-wifi.nmconnection"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    text = keyfile.read_text()
    assert "ssid=Shop Staff\n" in text and f"psk={PSK}\n" in text
    assert "autoconnect-priority=100" in text
    country = (targets.modprobe_dir / "tillbox-wifi-country.conf").read_text()
    assert "options cfg80211 ieee80211_regdom=GB" in country

    rt = open_runtime(settings)
    try:
        managers = [m for m in list_staff(rt) if m.role.slug == "manager"]
    finally:
        rt.close()
    assert [m.name for m in managers] == ["Alex Manager"]
    # A store that doctor is content with (the PWA build and registers are only warnings).
    assert not [f for f in diagnose(targets.data_dir) if f.level == "fail"]

    assert not source.exists()
    applied = done.applied_file
    assert applied == source.with_name("store-setup.toml.applied")
    shown = applied.read_text()
    for secret_text in (PSK, CODE, "4821"):
        assert secret_text not in shown
    parsed = tomllib.loads(shown)
    assert parsed["store"]["id"] == "s07" and parsed["wifi"]["psk"] == first_boot.REMOVED
    assert not [p for p in files_under(tmp_path) if ".first-boot" in p.name]


def test_a_broker_password_instead_of_a_code_is_written_for_the_uplink(
    tmp_path: Path, targets: Targets
) -> None:
    text = GOOD.replace(f'enrolment_code = "{CODE}"', f'broker_password = "{PASSWORD}"')
    source = setup_file(tmp_path, text)
    apply_store_setup(source, targets)
    settings = load_settings(targets.data_dir)
    secret = targets.config_dir / "mqtt-password"
    assert settings.mqtt_password_file == secret
    assert secret.read_text() == PASSWORD + "\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert settings.enrol_code_file is None
    assert not (targets.data_dir / "enrolment-code").exists()
    shown = source.with_name("store-setup.toml.applied").read_text()
    assert PASSWORD not in shown
    assert tomllib.loads(shown)["cloud"]["broker_password"] == first_boot.REMOVED


def test_a_private_ca_is_written_and_named_in_the_settings(
    tmp_path: Path, targets: Targets
) -> None:
    (tmp_path / "pki").mkdir()
    ca = make_ca_and_server_cert(tmp_path / "pki").read_text()
    text = f"""[store]
id = "s08"
name = "Lab"

[cloud]
host = "10.0.0.5"
enrolment_code = "{CODE}"
enrol_url = "https://hq.lab.example/hq/enrol"
ca = '''{ca}'''
"""
    apply_store_setup(setup_file(tmp_path, text), targets)
    settings = load_settings(targets.data_dir)
    assert settings.mqtt_tls_ca == targets.config_dir / "mqtt-ca.pem"
    assert settings.mqtt_tls_ca.read_text().strip() == ca.strip()
    assert not targets.nm_dir.exists()  # no [wifi]: nothing for NetworkManager
    assert settings.enrol_url == "https://hq.lab.example/hq/enrol"


def test_running_again_for_the_same_store_updates_it(tmp_path: Path, targets: Targets) -> None:
    apply_store_setup(setup_file(tmp_path, GOOD), targets)
    again = GOOD.replace("mqtt.example.com", "mqtt2.example.com")
    done = apply_store_setup(setup_file(tmp_path, again), targets)
    assert not done.created
    assert load_settings(targets.data_dir).mqtt_host == "mqtt2.example.com"
    rt = open_runtime(load_settings(targets.data_dir))
    try:
        assert [m.name for m in list_staff(rt)] == ["Alex Manager"]  # not added twice
    finally:
        rt.close()


BAD = [
    ("[store\nid = 1", "is not valid TOML"),
    ('[wifi]\nssid = "x"\npsk = "12345678"\ncountry = "IE"\n', "[store] is missing"),
    (GOOD.replace('id = "s07"', 'id = "S-07"'), "[store] id: 'S-07' is not a store id"),
    (GOOD.replace('name = "Harbour Road"', ""), "[store] name: missing"),
    (GOOD.replace('currency = "GBP"', 'currency = "XXX"'), "[store] currency"),
    (GOOD.replace('"Europe/London"', '"Mars/Olympus"'), "[store] timezone"),
    (GOOD.replace(PSK, "short"), "[wifi] psk: must be a WPA2 passphrase"),
    (GOOD.replace('country = "GB"', 'country = "gbr"'), "[wifi] country"),
    (GOOD.replace('ssid = "Shop Staff"', 'ssid = "' + "x" * 33 + '"'), "[wifi] ssid"),
    (GOOD.replace("port = 8883", "port = 70000"), "[cloud] port"),
    (GOOD.replace("port = 8883", 'port = "8883"'), "[cloud] port"),
    (GOOD.replace('"mqtt.example.com"', '"mqtt example.com"'), "[cloud] host"),
    (GOOD.replace(CODE, "abc"), "[cloud] enrolment_code"),
    (GOOD.replace(CODE, PASSWORD), "looks like a broker password: put it under broker_password"),
    (GOOD.replace("port = 8883", f'port = 8883\nbroker_password = "{PASSWORD}"'), "exactly one"),
    (GOOD.replace(f'enrolment_code = "{CODE}"', ""), "exactly one of the two"),
    (GOOD.replace(f'enrolment_code = "{CODE}"', 'broker_password = "short"'), "broker_password"),
    (GOOD.replace("port = 8883", 'port = 8883\nenrol_url = "http://x"'), "[cloud] enrol_url"),
    (GOOD.replace('pin = "4821"', "pin = 4821"), "[manager] pin"),
    (GOOD.replace('pin = "4821"', 'pin = "48"'), "[manager] pin"),
    (GOOD + '\n[printer]\nname = "x"\n', "unknown table [printer]"),
    (GOOD.replace("port = 8883", "port = 8883\nusername = 's07'"), "[cloud] username: unknown"),
    (GOOD.replace('name = "Harbour Road"', 'name = "Harbour\\u0007Road"'), "control characters"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_a_bad_file_is_refused_and_nothing_is_written(
    tmp_path: Path, targets: Targets, text: str, problem: str
) -> None:
    source = setup_file(tmp_path, text)
    with pytest.raises(FirstBootError) as caught:
        apply_store_setup(source, targets)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert source.read_text(encoding="utf-8") == text  # left for IT to fix
    assert files_under(targets.data_dir, targets.config_dir, targets.nm_dir) == []
    assert not source.with_name("store-setup.toml.applied").exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('id = "s07"', 'id = "7"').replace(PSK, "x").replace(CODE, "y")
    with pytest.raises(FirstBootError) as caught:
        read_store_setup(setup_file(tmp_path, text))
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "[store] id",
        "[wifi] psk",
        "[cloud] enrolment_code",
    ]


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "store-setup.toml"
    source.write_bytes(b'[store]\nid = "s01"\nname = "Caf\xe9"\n')
    with pytest.raises(FirstBootError, match="not UTF-8"):
        read_store_setup(source)


def test_a_data_dir_holding_another_store_is_left_alone(tmp_path: Path, targets: Targets) -> None:
    apply_store_setup(setup_file(tmp_path, GOOD), targets)
    before = {p: p.read_bytes() for p in files_under(targets.data_dir) if p.is_file()}
    source = setup_file(tmp_path, GOOD.replace('"s07"', '"s09"').replace("Shop Staff", "Other"))
    keyfile = targets.nm_dir / "tillbox-store-wifi.nmconnection"
    keyfile_before = keyfile.read_text()
    with pytest.raises(FirstBootError, match="already holds store s07"):
        apply_store_setup(source, targets)
    assert keyfile.read_text() == keyfile_before  # the staged Wi-Fi profile went nowhere
    assert not [p for p in files_under(tmp_path) if ".first-boot" in p.name]
    assert load_settings(targets.data_dir).store == "s07"
    assert source.exists()
    assert set(before) <= set(files_under(targets.data_dir))


def test_a_failure_after_the_store_was_made_removes_it(
    tmp_path: Path, targets: Targets, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: object, manager: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(first_boot, "_add_manager", broken)
    source = setup_file(tmp_path, GOOD)
    with pytest.raises(OSError, match="disk full"):
        apply_store_setup(source, targets)
    assert files_under(targets.data_dir) == []
    assert files_under(targets.config_dir, targets.nm_dir, targets.modprobe_dir) == []
    assert source.read_text() == GOOD


def test_an_unknown_owner_is_refused_before_anything_is_written(
    tmp_path: Path, targets: Targets
) -> None:
    source = setup_file(tmp_path, GOOD)
    with pytest.raises(FirstBootError, match="does not exist on this Pi"):
        apply_store_setup(
            source,
            Targets(
                data_dir=targets.data_dir,
                config_dir=targets.config_dir,
                nm_dir=targets.nm_dir,
                modprobe_dir=targets.modprobe_dir,
                owner="no-such-user-tillbox",
            ),
        )
    assert files_under(targets.data_dir, targets.config_dir, targets.nm_dir) == []


def cli(tmp_path: Path, source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            TILLBOX,
            "appliance",
            "first-boot",
            "--from",
            str(source),
            "--data",
            str(tmp_path / "data"),
            "--config-dir",
            str(tmp_path / "etc-tillbox"),
            "--nm-dir",
            str(tmp_path / "nm"),
            "--modprobe-dir",
            str(tmp_path / "modprobe.d"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")},
    )


def test_cli_applies_a_file_and_says_what_it_wrote(tmp_path: Path) -> None:
    source = setup_file(tmp_path, GOOD)
    result = cli(tmp_path, source)
    assert result.returncode == 0, result.stderr
    assert "created store s07" in result.stdout
    assert f"wrote {tmp_path / 'data' / 'enrolment-code'}" in result.stdout
    assert "store-setup.toml.applied (secrets removed)" in result.stdout
    # The unit runs it at every boot until it has applied a file: then nothing is left to do.
    again = cli(tmp_path, source)
    assert again.returncode == 0 and "nothing to apply" in again.stdout


def test_cli_lists_problems_plainly_and_exits_1(tmp_path: Path) -> None:
    source = setup_file(tmp_path, GOOD.replace(PSK, "short").replace("port = 8883", "port = 0"))
    result = cli(tmp_path, source)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{source}: [wifi] psk: must be a WPA2 passphrase" in result.stderr
    assert f"{source}: [cloud] port: must be a number" in result.stderr
    assert "nothing applied: fix" in result.stderr and "(2 problem(s))" in result.stderr
    assert not (tmp_path / "data").exists()
