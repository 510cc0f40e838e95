"""PIN lockout: after N failures a staff member or a device waits M minutes."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from appliance.errors import Locked

if TYPE_CHECKING:
    from appliance.runtime import Runtime

_log = logging.getLogger(__name__)

Table = Literal["staff", "register"]


def check_unlocked(rt: Runtime, table: Table, key: str) -> None:
    """Raise Locked while a staff member or register is locked out."""
    until = rt.db.scalar(f"SELECT locked_until_ms FROM {table} WHERE id = ?", (key,))
    now = rt.now_ms()
    if until is not None and until > now:
        who = "This staff member" if table == "staff" else "This register"
        seconds = (until - now + 999) // 1000
        raise Locked(
            f"{who} is locked after too many wrong PINs; try again in {seconds} s",
            details={"locked": table, "id": key, "retry_after_s": seconds},
        )


def record_failure(rt: Runtime, table: Table, key: str) -> None:
    """Count a wrong PIN; at the limit, lock for the lockout period. Call inside a write.

    Wrong PINs are counted within a window, so five typos spread over a week lock nobody.
    """
    now = rt.now_ms()
    window = rt.settings.pin_failure_window_minutes * 60_000
    rt.db.execute(
        f"UPDATE {table} SET last_failed_ms = ?, failed_pins = CASE"
        " WHEN last_failed_ms IS NULL OR last_failed_ms < ? THEN 1 ELSE failed_pins + 1 END"
        " WHERE id = ?",
        (now, now - window, key),
    )
    locked = rt.db.execute(
        f"UPDATE {table} SET failed_pins = 0, locked_until_ms = ? WHERE id = ? AND failed_pins >= ?",
        (now + rt.settings.pin_lockout_minutes * 60_000, key, rt.settings.pin_max_failures),
    ).rowcount
    if locked and table == "staff":
        # Counted for head office's Staff page (decisions.md §57).
        rt.db.execute("UPDATE staff SET lockouts = lockouts + 1 WHERE id = ?", (key,))
    _log.warning(
        "wrong PIN store=%s %s=%s%s", rt.store, table, key, " — now locked" if locked else ""
    )


def clear_failures(rt: Runtime, table: Table, key: str) -> None:
    """Forget earlier wrong PINs after a right one. Call inside a write."""
    rt.db.execute(
        f"UPDATE {table} SET failed_pins = 0, last_failed_ms = NULL, locked_until_ms = NULL"
        " WHERE id = ? AND (failed_pins != 0 OR locked_until_ms IS NOT NULL)",
        (key,),
    )


@dataclass
class AddressGuard:
    """In-memory lockout by network address, for PIN checks from devices not yet paired."""

    max_failures: int
    lockout_ms: int
    _failures: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, address: str, now_ms: int) -> None:
        """Raise Locked while this address is locked out."""
        with self._lock:
            _, until = self._failures.get(address, (0, 0))
        if until > now_ms:
            seconds = (until - now_ms + 999) // 1000
            raise Locked(
                f"Too many wrong PINs from this device; try again in {seconds} s",
                details={"locked": "address", "id": address, "retry_after_s": seconds},
            )

    def fail(self, address: str, now_ms: int) -> None:
        """Count a failure from this address."""
        with self._lock:
            count, until = self._failures.get(address, (0, 0))
            count += 1
            if count >= self.max_failures:
                self._failures[address] = (0, now_ms + self.lockout_ms)
            else:
                self._failures[address] = (count, until)
            if len(self._failures) > 10_000:  # never grow without bound on a scan of addresses
                self._failures.pop(next(iter(self._failures)))

    def clear(self, address: str) -> None:
        """Forget failures from this address."""
        with self._lock:
            self._failures.pop(address, None)
