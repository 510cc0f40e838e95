"""`tillbox appliance doctor`: each problem gets a plain FAIL line and exit code 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.db import migrate as migrate_module
from appliance.db.migrate import Migration, discover
from appliance.doctor import Finding, diagnose
from appliance.runtime import Runtime
from appliance.settings import DATABASE_FILE, SETTINGS_FILE, write_settings_file
from tests.conftest import FakeWall, Store

TILLBOX = str(Path(sys.executable).parent / "tillbox")


class Outcome(NamedTuple):
    code: int
    out: str
    err: str


def doctor(data: Path) -> Outcome:
    """The real console script."""
    result = subprocess.run(
        [TILLBOX, "appliance", "doctor", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("TILLBOX_")},
    )
    assert "Traceback" not in result.stderr
    return Outcome(result.returncode, result.stdout, result.stderr)


def doctor_in_process(data: Path) -> Outcome:
    result = CliRunner().invoke(main, ["appliance", "doctor", "--data", str(data)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def lines(out: str, level: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(level)]


def store_warnings(out: str) -> list[str]:
    """WARN lines about the store itself: whether this machine has the scanner libraries
    (evdev, pyudev: the `pi` extra, not installed in CI) is checked on its own below."""
    return [line for line in lines(out, "WARN") if line.split()[1] != "scanners"]


def by_topic(findings: list[Finding]) -> dict[str, Finding]:
    return {f.topic: f for f in findings}


@pytest.fixture
def pwa_build(tmp_path: Path) -> Path:
    root = tmp_path / "pwa"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>Tillbox</title>")
    return root


@pytest.fixture
def healthy(store: Store, catalog: Runtime, pwa_build: Path) -> Path:
    """A store with staff (a manager among them), a register, a catalog and a PWA build."""
    settings = store.rt.settings
    write_settings_file(settings, pwa_dir=pwa_build)
    return settings.data_dir


def test_a_healthy_store_passes_every_check(healthy: Path) -> None:
    result = doctor(healthy)
    assert result.code == 0, result
    assert lines(result.out, "FAIL") == [] and store_warnings(result.out) == []
    for topic in ("settings", "disk", "database", "schema", "store", "staff", "registers",
                  "catalog", "pwa"):  # fmt: skip
        assert any(line.split()[:2] == ["ok", topic] for line in result.out.splitlines()), topic
    assert "3 active variants" in result.out
    assert "4 active staff, 1 manager(s)" in result.out
    assert result.out.rstrip().endswith("all checks passed")


def test_a_missing_data_dir(tmp_path: Path) -> None:
    result = doctor(tmp_path / "nowhere")
    assert result.code == 1
    assert lines(result.out, "FAIL") == [
        f"FAIL data       the data directory {tmp_path / 'nowhere'} does not exist; run init"
    ]
    assert "1 problem(s) need attention" in result.err


def test_a_dir_without_a_store(tmp_path: Path) -> None:
    result = doctor_in_process(tmp_path)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "no store is set up here: run `tillbox appliance init --store ID`" in fail


def test_a_missing_database(healthy: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{healthy / DATABASE_FILE}{suffix}").unlink(missing_ok=True)
    result = doctor_in_process(healthy)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert f"{healthy / DATABASE_FILE} is missing; run init" in fail


def test_a_corrupted_database_file(healthy: Path, store: Store) -> None:
    store.rt.db.close()  # checkpoints the WAL into the main file
    path = healthy / DATABASE_FILE
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8192] = b"\xde\xad\xbe\xef" * 2048
    path.write_bytes(bytes(data))
    result = doctor(healthy)
    assert result.code == 1
    fails = lines(result.out, "FAIL")
    assert len(fails) == 1, result.out
    assert fails[0].startswith("FAIL database")
    assert "restore a backup" in fails[0]


def test_a_file_that_is_not_a_database(healthy: Path, store: Store) -> None:
    store.rt.db.close()
    (healthy / DATABASE_FILE).write_bytes(b"not sqlite " * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{healthy / DATABASE_FILE}{suffix}").unlink(missing_ok=True)
    result = doctor_in_process(healthy)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "the database cannot be read" in fail and "restore a backup" in fail


def test_a_pending_migration(healthy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def up(db: Any, migrator: Any) -> None:
        raise AssertionError("doctor must not migrate")

    extra = Migration(number=len(discover()) + 1, name="0099_future", up=up, summary="")
    real = discover()
    monkeypatch.setattr(migrate_module, "discover", lambda: [*real, extra])
    result = doctor_in_process(healthy)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "1 migration(s) pending (0099_future…); run `tillbox appliance migrate`" in fail


def test_settings_that_name_another_store(healthy: Path, store: Store) -> None:
    write_settings_file(store.rt.settings, store="s02")
    result = doctor(healthy)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "the settings say store s02 but the database belongs to store s01" in fail


def test_settings_that_cannot_be_used(healthy: Path) -> None:
    (healthy / SETTINGS_FILE).write_text("[appliance]\nport = 'eighty'\n")
    result = doctor_in_process(healthy)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "the settings cannot be used: setting port" in fail


def test_no_active_manager(data_dir: Path) -> None:
    result = doctor_in_process(data_dir)
    assert result.code == 1
    [fail] = lines(result.out, "FAIL")
    assert "there is no active manager" in fail and "staff add" in fail


def test_an_inactive_manager_does_not_count(healthy: Path, store: Store) -> None:
    with store.rt.db.write():
        store.rt.db.execute("UPDATE staff SET active = 0 WHERE role = 'manager'")
    findings = by_topic(diagnose(healthy))
    assert findings["staff"].level == "fail"


def test_warnings_keep_exit_code_zero(data_dir: Path, rt: Runtime) -> None:
    from appliance.staff.directory import add_staff
    from protocol.permissions import Role

    add_staff(rt, name="Boss", role=Role.MANAGER, pin="9999")
    write_settings_file(rt.settings, pwa_dir=data_dir / "no-build-here")
    result = doctor(data_dir)
    assert result.code == 0, result
    assert lines(result.out, "FAIL") == []
    warns = store_warnings(result.out)
    assert [w.split()[1] for w in warns] == ["registers", "catalog", "pwa"]
    assert "no register is paired yet" in warns[0]
    assert "the catalog is empty" in warns[1]
    assert "tablets will see a notice page" in warns[2]
    assert "all checks passed" in result.out


def test_revoked_registers_do_not_count(healthy: Path, store: Store) -> None:
    from appliance.staff.registers import revoke_register

    revoke_register(store.rt, store.register_id)
    assert by_topic(diagnose(healthy))["registers"].level == "warn"


def test_low_disk_space(healthy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 32 * 1024**3
    monkeypatch.setattr(
        shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(total, total - 10 * 1024**2, 10 * 1024**2),  # type: ignore[attr-defined]
    )
    findings = diagnose(healthy)
    disk = by_topic(findings)["disk"]
    assert disk.level == "fail"
    assert "only 10 MB free" in disk.message and "want 512 MB" in disk.message
    assert [f.topic for f in findings if f.level == "fail"] == ["disk"]


def test_a_clock_behind_the_journal_warns(healthy: Path, store: Store, wall: FakeWall) -> None:
    from appliance import journal

    assert "clock" not in by_topic(diagnose(healthy))
    # An event stamped a day ahead of this machine's clock: the clock must have gone back.
    wall.ms = time.time_ns() // 1_000_000 + 24 * 3600 * 1000
    with store.rt.db.write():
        journal.record(store.rt, type="cash.moved", body={"kind": "no_sale"}, actor=None)
    result = doctor(healthy)
    assert result.code == 0
    [warn] = store_warnings(result.out)
    assert warn.split()[1] == "clock" and "check chrony" in warn


def test_the_cloud_settings_are_checked_without_contacting_the_broker(
    healthy: Path, store: Store, tmp_path: Path
) -> None:
    assert by_topic(diagnose(healthy))["cloud"] == Finding(
        "ok", "cloud", "no cloud configured (mqtt_host): events stay here"
    )
    secret = tmp_path / "mqtt-password"
    write_settings_file(
        store.rt.settings, mqtt_host="cloud.example", mqtt_password_file=str(secret)
    )
    cloud = by_topic(diagnose(healthy))["cloud"]
    assert cloud.level == "fail" and "mqtt_password_file" in cloud.message
    secret.write_text("s3cret\n", encoding="utf-8")
    assert by_topic(diagnose(healthy))["cloud"] == Finding(
        "ok", "cloud", "uplink to cloud.example:8883 over TLS"
    )
    write_settings_file(store.rt.settings, mqtt_tls=False)
    assert by_topic(diagnose(healthy))["cloud"].level == "warn"


def test_scanners_line_says_whether_evdev_and_pyudev_can_be_loaded(healthy: Path) -> None:
    from appliance.devices.scanners import libraries_problem

    [line] = [x for x in doctor(healthy).out.splitlines() if x.split()[1:2] == ["scanners"]]
    problem = libraries_problem()
    if problem is None:
        assert line.startswith("ok") and "attached scanners are read" in line
    else:
        assert line.startswith("WARN") and "pip install 'tillbox[pi]'" in line
