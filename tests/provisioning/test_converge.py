"""The real converge: site.yml's appliance play, run with the community.general.chroot
connection against a Debian bookworm root file system made by debootstrap (cached between
runs by scripts/bookworm-rootfs.sh), then checked: user, units, files, permissions, the
venv, `tillbox appliance doctor` inside the chroot, and a second run with changed=0."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provisioning.ansible_run import (
    CONVERGE,
    ROOT,
    build_bundle,
    chroot,
    converge_twice,
    doctor,
    fresh_root,
    make_inventory,
    recap,
)

pytestmark = CONVERGE


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    bundle = build_bundle()
    work = tmp_path_factory.mktemp("converge")
    started = time.monotonic()
    root = fresh_root(work)
    # The secrets come from a vault made as IT makes one (new-vault.py), which the play
    # decrypts with its password file: a real certificate, so Debian's nginx accepts the site
    # (test_the_installed_configs_…), a broker password, the setup passphrase, the manager.
    inventory = make_inventory(
        work / "inventory",
        {
            "appliances": {
                "hosts": {
                    str(root): {
                        "ansible_connection": "community.general.chroot",
                        "ansible_python_interpreter": "/usr/bin/python3",
                        "tillbox_store_id": "s01",
                        "tillbox_store_name": "Converge Test",
                    }
                },
                "vars": {
                    "tillbox_version": "0.1.0",
                    "appliance_bundle": str(bundle),
                    "base_offline": True,
                    "network_offline": True,
                    "devices_offline": True,
                    "appliance_offline": True,
                    "tillbox_mqtt_host": "mqtt.example.com",
                },
            },
            "cloud": {"hosts": {}},
        },
        stores="s01",
        broker_host="mqtt.example.com",
        manager="Converge Manager",
    )
    runs = converge_twice(inventory, "site.yml")
    print(
        f"converge: first run {runs.first_s:.0f} s, second {runs.second_s:.0f} s"
        f" ({time.monotonic() - started:.0f} s with the copy)"
    )
    yield {"root": root, "first": runs.first, "second": runs.second, "inventory": inventory}
    shutil.rmtree(work, ignore_errors=True)


def test_a_second_run_changes_nothing(converged: dict[str, object]) -> None:
    assert recap(str(converged["first"]))["changed"] > 0
    assert recap(str(converged["second"]))["changed"] == 0, str(converged["second"])[-4000:]


def test_user_units_files_and_permissions(converged: dict[str, object]) -> None:
    root = Path(str(converged["root"]))
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^store:x:\d+:\d+::/var/lib/tillbox:/usr/sbin/nologin$", passwd, re.M)
    groups = {line.split(":")[0] for line in (root / "etc/group").read_text().splitlines()}
    unit_text = (root / "etc/systemd/system/tillbox-appliance.service").read_text()
    named = next(x for x in unit_text.splitlines() if x.startswith("SupplementaryGroups="))
    assert set(named.split("=", 1)[1].split()) <= groups  # else the unit fails with 216/GROUP
    for unit in ("tillbox-appliance.service", "tillbox-first-boot.service", "tillbox-update.timer"):
        assert (root / "etc/systemd/system" / unit).is_file()
    wants = root / "etc/systemd/system/multi-user.target.wants/tillbox-appliance.service"
    assert wants.is_symlink()
    assert (root / "etc/systemd/system/timers.target.wants/tillbox-update.timer").is_symlink()
    assert (root / "etc/udev/rules.d/70-tillbox-devices.rules").is_file()
    assert (root / "etc/systemd/journald.conf.d/tillbox.conf").is_file()
    assert (root / "etc/polkit-1/rules.d/50-tillbox.rules").is_file()
    assert (root / "etc/nginx/sites-enabled/tillbox").is_symlink()
    assert not (root / "etc/nginx/sites-enabled/default").exists()
    ap = root / "etc/NetworkManager/system-connections/tillbox-setup-ap.nmconnection"
    assert stat.S_IMODE(ap.stat().st_mode) == 0o600 and "ssid=tillbox-setup-s01" in ap.read_text()
    key = root / "etc/tillbox/tls/privkey.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    secret = root / "etc/tillbox/mqtt-password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    vault = converged["inventory"].secrets  # type: ignore[attr-defined]
    assert secret.read_text().strip() == vault["tillbox_broker_users"]["s01"]["password"]
    assert key.read_text() == vault["tillbox_tls_privkey"]
    assert f"psk={vault['tillbox_setup_ap_psk']}" in ap.read_text()
    data = root / "var/lib/tillbox"
    assert stat.S_IMODE(data.stat().st_mode) == 0o750
    store_uid = int(re.search(r"^store:x:(\d+):", passwd, re.M).group(1))  # type: ignore[union-attr]
    assert data.stat().st_uid == store_uid and (data / "tillbox.sqlite3").stat().st_uid == store_uid
    assert 'mqtt_host = "mqtt.example.com"' in (data / "tillbox.toml").read_text()


def test_the_release_venv_and_current_link(converged: dict[str, object]) -> None:
    root = Path(str(converged["root"]))
    current = root / "opt/tillbox/current"
    assert current.is_symlink() and os.readlink(current) == "0.1.0"
    assert (root / "opt/tillbox/0.1.0/bin/tillbox").is_file()
    assert (root / "opt/tillbox/0.1.0/pwa/index.html").is_file()
    version = chroot(root, "/opt/tillbox/current/bin/tillbox", "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout
    release = chroot(root, "/usr/local/sbin/tillbox-release", "status")
    assert release.stdout.splitlines()[0].split() == ["current", "0.1.0"]


def test_doctor_passes_inside_the_chroot(converged: dict[str, object]) -> None:
    root = Path(str(converged["root"]))
    checked = doctor(root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok   store      store s01 (Converge Test)" in checked.stdout
    assert "ok   staff" in checked.stdout and "all checks passed" in checked.stdout


def test_the_first_boot_unit_applies_store_setup_inside_the_chroot(
    converged: dict[str, object],
) -> None:
    """The unit's own ExecStart, run in the converged root with a store-setup.toml on its
    boot partition: the store is updated, the Wi-Fi profile written, the file retired."""
    root = Path(str(converged["root"]))
    unit = (root / "etc/systemd/system/tillbox-first-boot.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    boot = root / "boot/firmware"
    boot.mkdir(parents=True, exist_ok=True)
    (boot / "store-setup.toml").write_text(
        '[store]\nid = "s01"\nname = "Converge Test"\n'
        '[wifi]\nssid = "Shop"\npsk = "a long enough passphrase"\ncountry = "IE"\n'
        '[cloud]\nhost = "mqtt.example.com"\nenrolment_code = "k7qjx-mp3ra-zt2wd-f5nve"\n'
    )
    done = chroot(root, *exec_start.removeprefix("ExecStart=").split())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated store s01" in done.stdout
    wifi = root / "etc/NetworkManager/system-connections/tillbox-store-wifi.nmconnection"
    assert stat.S_IMODE(wifi.stat().st_mode) == 0o600 and "ssid=Shop" in wifi.read_text()
    assert not (boot / "store-setup.toml").exists()
    applied = (boot / "store-setup.toml.applied").read_text()
    assert "a long enough passphrase" not in applied and "F5NVE" not in applied.upper()
    # The code waits for serve in the data directory, the one place the hardened unit may
    # write, where the password it trades the code for goes too.
    code = root / "var/lib/tillbox/enrolment-code"
    assert code.read_text() == "K7QJX-MP3RA-ZT2WD-F5NVE\n"
    assert stat.S_IMODE(code.stat().st_mode) == 0o600
    settings = (root / "var/lib/tillbox/tillbox.toml").read_text()
    assert 'enrol_code_file = "/var/lib/tillbox/enrolment-code"' in settings
    assert 'mqtt_password_file = "/var/lib/tillbox/mqtt-password"' in settings
    serve = (root / "etc/systemd/system/tillbox-appliance.service").read_text()
    assert "\nProtectSystem=strict\n" in serve and "\nStateDirectory=tillbox\n" in serve
    assert "\nUser=store\n" in serve
    passwd = (root / "etc/passwd").read_text()
    store_uid = int(re.search(r"^store:x:(\d+):", passwd, re.M).group(1))  # type: ignore[union-attr]
    assert all(
        p.stat().st_uid == store_uid
        for p in (root / "var/lib/tillbox").rglob("*")
        if not p.is_symlink()
    )


@pytest.fixture(scope="module")
def updated(
    converged: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """update.yml run twice on the converged root with release 0.1.1: the committed source
    with only its version changed, built into a bundle as a release would be."""
    root = Path(str(converged["root"]))
    source = tmp_path_factory.mktemp("release-0.1.1")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True, timeout=120
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True, timeout=120)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.1.1"', 1))
    (source / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(ROOT / "pwa/dist", source / "pwa/dist")
    bundle = build_bundle(source)
    runs = converge_twice(
        converged["inventory"],  # type: ignore[arg-type]
        "update.yml",
        "-e",
        "tillbox_version=0.1.1",
        "-e",
        f"appliance_bundle={bundle}",
    )
    return {"root": root, "first": runs.first, "second": runs.second}


def test_the_update_play_switches_release_and_keeps_the_previous(
    updated: dict[str, object],
) -> None:
    root = Path(str(updated["root"]))
    assert recap(str(updated["first"]))["changed"] > 0
    assert recap(str(updated["second"]))["changed"] == 0, str(updated["second"])[-4000:]
    assert os.readlink(root / "opt/tillbox/current") == "0.1.1"
    assert os.readlink(root / "opt/tillbox/previous") == "0.1.0"
    assert (root / "opt/tillbox/0.1.0/bin/tillbox").is_file()  # kept for rollback
    version = chroot(root, "/opt/tillbox/current/bin/tillbox", "--version")
    assert "0.1.1" in version.stdout
    checked = doctor(root)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_installed_configs_pass_their_own_programs_checks(
    converged: dict[str, object],
) -> None:
    """Debian's own nginx, chronyd and sshd read what the roles installed, in their real
    places (nginx.conf including sites-enabled, chrony.conf's conf.d, sshd's config.d)."""
    root = Path(str(converged["root"]))
    nginx = chroot(root, "nginx", "-t")
    assert nginx.returncode == 0, nginx.stderr
    chrony = chroot(root, "chronyd", "-p", "-f", "/etc/chrony/chrony.conf")
    assert chrony.returncode == 0, chrony.stderr
    assert "makestep 1 -1" in chrony.stdout
    # ssh.service makes /run/sshd (RuntimeDirectory=sshd) before sshd starts; no systemd here.
    (root / "run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = chroot(root, "/usr/sbin/sshd", "-T", "-C", "user=root,host=x,addr=127.0.0.1")
    assert sshd.returncode == 0, sshd.stderr
    effective = set(sshd.stdout.splitlines())
    assert {"passwordauthentication no", "permitrootlogin no"} <= effective
