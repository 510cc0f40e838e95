"""`tillbox appliance doctor`: checks the data directory, database, disk and settings."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from appliance.app import SOURCE_PWA_DIR
from appliance.db import Database, DatabaseError
from appliance.db.migrate import pending
from appliance.runtime import last_hlc, wall_ms
from appliance.settings import Settings, SettingsError, load_settings
from appliance.setup import store_info

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result, in plain words."""

    level: Level
    topic: str
    message: str


def diagnose(data_dir: Path | None) -> list[Finding]:
    """Run every check; later checks are skipped when an earlier one makes them meaningless."""
    return list(_checks(data_dir))


def _checks(data_dir: Path | None) -> Iterator[Finding]:
    try:
        settings = load_settings(data_dir)
    except SettingsError as exc:
        yield Finding("fail", "settings", f"the settings cannot be used: {exc}")
        return
    if settings.settings_path.exists():
        yield Finding("ok", "settings", f"settings read from {settings.settings_path}")
    else:
        yield Finding("ok", "settings", f"defaults (no {settings.settings_path})")
    root = settings.data_dir
    if not root.is_dir():
        yield Finding("fail", "data", f"the data directory {root} does not exist; run init")
        return
    if not os.access(root, os.W_OK):
        yield Finding("fail", "data", f"the appliance cannot write to {root}; check its owner")
    yield from _disk(settings)
    if not settings.store:
        yield Finding(
            "fail", "store", "no store is set up here: run `tillbox appliance init --store ID`"
        )
        return
    if not settings.database_path.exists():
        yield Finding("fail", "database", f"{settings.database_path} is missing; run init")
        return
    yield from _database(settings)
    yield from _pwa(settings)
    yield from _cloud(settings)
    yield from _scanners()


def _disk(settings: Settings) -> Iterator[Finding]:
    usage = shutil.disk_usage(settings.data_dir)
    free_mb = usage.free // (1024 * 1024)
    if free_mb < settings.min_free_disk_mb:
        yield Finding(
            "fail",
            "disk",
            f"only {free_mb} MB free on the data partition (want {settings.min_free_disk_mb} MB); "
            "sales will stop being recorded when it is full",
        )
    else:
        yield Finding("ok", "disk", f"{free_mb} MB free on the data partition")


def _database(settings: Settings) -> Iterator[Finding]:
    db = Database(settings.database_path)
    try:
        yield from _database_checks(settings, db)
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        # Damage that quick_check missed can still surface in a later query.
        yield Finding("fail", "database", f"the database cannot be read: {exc}; restore a backup")
    finally:
        db.close()


def _database_checks(settings: Settings, db: Database) -> Iterator[Finding]:
    check = db.scalar("PRAGMA quick_check")
    if check != "ok":
        detail = " ".join(str(check).split())[:160]
        yield Finding("fail", "database", f"the database is damaged; restore a backup ({detail})")
        return
    yield Finding("ok", "database", "integrity check passed")
    behind = pending(db)
    if behind:
        yield Finding(
            "fail",
            "schema",
            f"{len(behind)} migration(s) pending ({behind[0].name}…); run `tillbox appliance migrate`",
        )
        return
    yield Finding("ok", "schema", "the schema is up to date")
    info = store_info(db)
    if info.get("store") != settings.store:
        owner = f"store {info['store']}" if info.get("store") else "no store (init did not finish)"
        yield Finding(
            "fail",
            "store",
            f"the settings say store {settings.store} but the database belongs to {owner}",
        )
    else:
        yield Finding("ok", "store", f"store {settings.store} ({settings.store_name or 'unnamed'})")
    managers = db.scalar("SELECT count(*) FROM staff WHERE role = 'manager' AND active = 1")
    staff = db.scalar("SELECT count(*) FROM staff WHERE active = 1")
    if not managers:
        yield Finding(
            "fail",
            "staff",
            "there is no active manager: add one with `tillbox appliance staff add`",
        )
    else:
        yield Finding("ok", "staff", f"{staff} active staff, {managers} manager(s)")
    registers = db.scalar("SELECT count(*) FROM register WHERE revoked_at IS NULL")
    if not registers:
        yield Finding(
            "warn", "registers", "no register is paired yet: pair a tablet, or `register add`"
        )
    else:
        yield Finding("ok", "registers", f"{registers} register(s) paired")
    variants = db.scalar("SELECT count(*) FROM variant WHERE active = 1")
    if not variants:
        yield Finding("warn", "catalog", "the catalog is empty: import one with `import-catalog`")
    else:
        yield Finding("ok", "catalog", f"{variants} active variants")
    newest = last_hlc(db)
    if newest is not None and newest.wall_ms > wall_ms() + 5 * 60_000:
        yield Finding(
            "warn",
            "clock",
            "the system clock is behind the journal's newest event; check chrony and fake-hwclock",
        )


def _pwa(settings: Settings) -> Iterator[Finding]:
    root = settings.pwa_dir or SOURCE_PWA_DIR
    if (root / "index.html").is_file():
        yield Finding("ok", "pwa", f"register app build found in {root}")
    else:
        yield Finding(
            "warn", "pwa", f"no register app build in {root}; tablets will see a notice page"
        )


def _cloud(settings: Settings) -> Iterator[Finding]:
    """The uplink's settings (files only; the broker is not contacted)."""
    if not settings.mqtt_host:
        yield Finding("ok", "cloud", "no cloud configured (mqtt_host): events stay here")
        return
    where = f"{settings.mqtt_host}:{settings.mqtt_port}"
    ca = settings.mqtt_tls_ca
    if settings.mqtt_tls and ca is not None and not os.access(ca, os.R_OK):
        yield Finding("fail", "cloud", f"mqtt_tls_ca {ca} cannot be read")
        return
    secret = settings.mqtt_password_file
    from appliance.enrolment import last_outcome, pending

    if pending(settings):
        last = last_outcome(settings) or {}
        if last.get("state") == "refused":
            yield Finding(
                "fail",
                "cloud",
                f"enrolment refused ({last.get('error')}): {last.get('message')}; ask IT for a"
                " new code and run `tillbox appliance enrol --code CODE`",
            )
        elif last:
            yield Finding(
                "warn",
                "cloud",
                f"not enrolled yet, retrying: {last.get('message')} ({last.get('at')})",
            )
        else:
            yield Finding(
                "warn", "cloud", "not enrolled yet: the enrolment code has not been traded"
            )
        return
    if secret is not None and not os.access(secret, os.R_OK):
        yield Finding("fail", "cloud", f"mqtt_password_file {secret} cannot be read")
        return
    if not settings.mqtt_tls:
        yield Finding("warn", "cloud", f"the uplink to {where} is not encrypted (mqtt_tls false)")
        return
    yield Finding("ok", "cloud", f"uplink to {where} over TLS")


def _scanners() -> Iterator[Finding]:
    """Whether attached barcode scanners can be read here (evdev and pyudev installed)."""
    from appliance.devices.scanners import libraries_problem

    problem = libraries_problem()
    if problem is None:
        yield Finding("ok", "scanners", "evdev and pyudev present: attached scanners are read")
    else:
        yield Finding("warn", "scanners", problem)
