"""Creating a store in a data directory, optionally filled with the demo catalog and staff."""

from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.catalog.csvio import import_csv
from appliance.catalog.records import CSV_COLUMNS
from appliance.catalog.upsert import Progress, UpsertReport
from appliance.db import Database
from appliance.db.migrate import MigrateResult, migrate
from appliance.demo.catalog import DEMO_STAFF, DEMO_STORE_NAME, generate_catalog
from appliance.demo.history import make_history
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings, load_settings, write_settings_file
from appliance.staff.directory import add_staff
from appliance.staff.registers import add_register
from protocol.permissions import Role

_log = logging.getLogger(__name__)

DEMO_VARIANTS = 2000
DEMO_HISTORY_DAYS = 14


class SetupError(RuntimeError):
    """The store cannot be created here; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupResult:
    """What init created."""

    settings: Settings
    created: bool
    migrations: tuple[str, ...]
    catalog: UpsertReport | None
    register_token: str | None


def store_info(db: Database) -> dict[str, str]:
    """The facts stored with the database (store id, name, currency, demo flag)."""
    exists = db.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_info'")
    if not exists:
        return {}
    return {row["key"]: row["value"] for row in db.query("SELECT key, value FROM store_info")}


def migrate_data_dir(settings: Settings) -> MigrateResult:
    """Bring the database schema up to date, backing up the file first."""
    db = Database(settings.database_path)
    try:
        return migrate(db, backup_dir=settings.data_dir / "backups")
    finally:
        db.close()


def _existing_store_info(path: Path) -> dict[str, str]:
    """store_info of the database at `path`, or {} when there is no database yet."""
    if not path.exists():
        return {}
    db = Database(path)
    try:
        return store_info(db)
    finally:
        db.close()


def init_store(
    data_dir: Path,
    *,
    store: str,
    name: str | None = None,
    currency: str = "EUR",
    demo: bool = False,
    progress: Progress | None = None,
) -> SetupResult:
    """Create the store in `data_dir`; running it again for the same store only migrates."""
    settings = load_settings(data_dir, overrides={"store": store, "currency": currency})
    existing = _existing_store_info(settings.database_path)
    if existing:
        if existing.get("store") != store:
            raise SetupError(f"{data_dir} already holds store {existing.get('store')}, not {store}")
        applied = migrate_data_dir(settings).applied
        return SetupResult(
            settings=settings, created=False, migrations=applied, catalog=None, register_token=None
        )
    # Settings the operator wrote before init (a port, a pwa_dir) are kept, and put back
    # as they were if init fails.
    original = settings.settings_path.read_bytes() if settings.settings_path.exists() else None
    if original is not None and load_settings(data_dir).store not in ("", store):
        raise SetupError(f"{settings.settings_path} names another store")
    store_name = name or (DEMO_STORE_NAME if demo else f"Store {store}")
    rt: Runtime | None = None
    try:
        write_settings_file(settings, store=store, store_name=store_name, currency=currency)
        settings = load_settings(data_dir)
        applied = migrate_data_dir(settings).applied
        rt = open_runtime(settings)
        with rt.db.write():
            rt.db.executemany(
                "INSERT INTO store_info (key, value) VALUES (?, ?)",
                [
                    ("store", store),
                    ("name", store_name),
                    ("currency", currency),
                    ("demo", "1" if demo else "0"),
                    ("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                ],
            )
        report = token = None
        if demo:
            report, token = _load_demo(rt, progress)
    except BaseException:
        if rt is not None:
            rt.close()
            rt = None
        _remove_partial(settings, original)
        raise
    finally:
        if rt is not None:
            rt.close()
    return SetupResult(
        settings=settings, created=True, migrations=applied, catalog=report, register_token=token
    )


def _remove_partial(settings: Settings, original_settings: bytes | None) -> None:
    """A failed init leaves no half-made store behind (so a retry starts clean)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.database_path}{suffix}").unlink(missing_ok=True)
    if original_settings is None:
        settings.settings_path.unlink(missing_ok=True)
    else:
        settings.settings_path.write_bytes(original_settings)


def _load_demo(rt: Runtime, progress: Progress | None) -> tuple[UpsertReport, str]:
    """The demo catalog (through the same CSV import as a real one), staff and a register."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in generate_catalog(variants=DEMO_VARIANTS):
        writer.writerow(row.as_dict())
    report = import_csv(rt, buffer.getvalue().encode(), progress=progress)
    if not report.applied:
        raise SetupError(f"the demo catalog did not import: {report.problems[:3]}")
    added = [
        (add_staff(rt, name=m.name, role=Role.parse(m.role), pin=m.pin), m) for m in DEMO_STAFF
    ]
    first, token = add_register(rt, "Demo till")
    others = [add_register(rt, name)[0] for name in ("Till 2", "Till 3")]
    supervisor = next(s.id for s, _ in added if s.role is Role.SUPERVISOR)
    manager = next(s.id for s, _ in added if s.role is Role.MANAGER)
    today = rt.now_ms() - rt.now_ms() % 86_400_000
    make_history(
        rt.settings,
        registers=[first.id, *(r.id for r in others)],
        cashiers=[s.id for s, _ in added if s.role is Role.CASHIER],
        supervisor=supervisor,
        manager=manager,
        days=DEMO_HISTORY_DAYS,
        end_ms=today,
        progress=(lambda done, days: progress("history", done, days)) if progress else None,
    )
    # After the history, so its sales queue no receipts: from now on every till prints to
    # PNG and text files in {data}/prints (the admin page shows them).
    from appliance.devices.printers import add_printer, bind_printer

    printer = add_printer(rt, name="Demo printer", connection="demo", address="prints")
    for register in (first, *others):
        bind_printer(rt, register.id, printer)
    return report, token


def is_demo(rt: Runtime) -> bool:
    """True for a store created with --demo (its PINs are printed at start)."""
    return store_info(rt.db).get("demo") == "1"
