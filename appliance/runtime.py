"""The running store: settings, database, clock and PIN hasher, handed to domain functions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.db import Database
from appliance.db.migrate import pending
from appliance.scans import ScanBus
from appliance.settings import Settings
from appliance.staff.lockout import AddressGuard
from appliance.staff.pins import PinHasher
from appliance.sync.link import LinkState
from protocol.hlc import HLC, Clock


def wall_ms() -> int:
    """Physical time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class NotInitialised(RuntimeError):
    """The data directory holds no store yet, or its schema is behind the code."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """What every domain operation needs. Built once per app (or CLI command)."""

    settings: Settings
    db: Database
    clock: Clock
    pins: PinHasher
    address_guard: AddressGuard
    wall: Callable[[], int] = field(default=wall_ms)
    # In memory: scans from appliance-attached scanners on their way to their register.
    scans: ScanBus = field(default_factory=ScanBus)
    # In memory: whether the uplink to the cloud is connected (its cursor is in SQLite).
    link: LinkState = field(default_factory=LinkState)
    # Set after a push commits, so the print worker looks at its queue at once.
    print_wake: threading.Event = field(default_factory=threading.Event)

    @property
    def store(self) -> str:
        """This store's id."""
        return self.settings.store

    @property
    def origin(self) -> str:
        """The appliance's own origin id, e.g. `s01-ap`."""
        return self.settings.appliance_origin

    def now_ms(self) -> int:
        """Physical time in milliseconds; injectable for tests of expiry and lockout."""
        return self.wall()

    def close(self) -> None:
        """End scan streams; release this thread's database connection and the PIN worker."""
        self.scans.close()
        self.pins.close()
        self.db.close()


def last_hlc(db: Database) -> HLC | None:
    """The greatest HLC in the journal, so the clock never runs backwards across restarts."""
    text = db.scalar(
        "SELECT envelope ->> '$.hlc' FROM event ORDER BY hlc_wall DESC, hlc_counter DESC LIMIT 1"
    )
    return None if text is None else HLC.parse(text)


def open_runtime(
    settings: Settings,
    *,
    wall: Callable[[], int] = wall_ms,
    require_current_schema: bool = True,
) -> Runtime:
    """Open the store's database and build the runtime for it."""
    if not settings.store:
        raise NotInitialised(
            f"no store is set up in {settings.data_dir}: run `tillbox appliance init --store ID`"
        )
    if require_current_schema and not settings.database_path.exists():
        raise NotInitialised(
            f"{settings.database_path} does not exist: run `tillbox appliance init --store "
            f"{settings.store}`"
        )
    db = Database(settings.database_path, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        if require_current_schema:
            behind = pending(db)
            if behind:
                raise NotInitialised(
                    f"the database schema is behind ({len(behind)} migration(s) pending): "
                    "run `tillbox appliance migrate`"
                )
            owner = db.scalar("SELECT value FROM store_info WHERE key = 'store'")
            if owner is not None and owner != settings.store:
                # Serving one store's records under another's id would mix their journals.
                raise NotInitialised(
                    f"{settings.database_path} belongs to store {owner}, but the settings say "
                    f"{settings.store}: fix `store` in {settings.settings_path} or TILLBOX_STORE"
                )
        settings = _with_generation(db, settings)
        last = _safe_last(db)
    except BaseException:
        db.close()
        raise
    clock = Clock(settings.appliance_origin, wall=wall, last=last)
    pins = PinHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    guard = AddressGuard(
        max_failures=settings.pin_max_failures, lockout_ms=settings.pin_lockout_minutes * 60_000
    )
    return Runtime(settings=settings, db=db, clock=clock, pins=pins, address_guard=guard, wall=wall)


def _with_generation(db: Database, settings: Settings) -> Settings:
    """The settings with the appliance generation the database was made for: an appliance
    restored from the cloud writes with its own origin (s01-ap2), never its predecessor's."""
    if not db.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='store_info'"):
        return settings
    stored = db.scalar("SELECT value FROM store_info WHERE key = 'appliance_generation'")
    if stored is None or int(stored) == settings.appliance_generation:
        return settings
    return settings.replace(appliance_generation=int(stored))


def _safe_last(db: Database) -> HLC | None:
    """last_hlc, or None while the journal table does not exist yet (before migrate)."""
    if not db.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='event'"):
        return None
    return last_hlc(db)
