"""PIN hashing with argon2id, and the shape rule for PINs."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PIN_RE = re.compile(r"^[0-9]{4,6}$")


def valid_pin(pin: str) -> bool:
    """A PIN is 4 to 6 ASCII digits."""
    return bool(PIN_RE.fullmatch(pin))


class PinHasher:
    """argon2id hashing for staff PINs; the cost comes from settings.

    Every hash and check runs on one worker thread. argon2id allocates its memory cost
    (19 MiB) per call, and glibc keeps that much in each thread's malloc arena afterwards:
    spread over 16 server threads a day of logins held 300 MB on a Pi. One thread holds it
    once, and PIN guessing cannot use more than one core.
    """

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._worker: ThreadPoolExecutor | None = None
        self._start = threading.Lock()
        # Held while a PIN is checked for uniqueness and stored, so two managers giving the
        # same new PIN at once cannot both succeed.
        self.assigning = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        # Started on first use, so building an app starts no thread.
        with self._start:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
            return self._worker

    def hash(self, pin: str) -> str:
        """An argon2id hash of the PIN, with its own salt."""
        return self._pool().submit(self._hasher.hash, pin).result()

    def verify(self, pin_hash: str, pin: str) -> bool:
        """True when the PIN matches the hash; never raises for a wrong PIN or a bad hash."""
        return self._pool().submit(self._check, pin_hash, pin).result()

    def _check(self, pin_hash: str, pin: str) -> bool:
        try:
            return bool(self._hasher.verify(pin_hash, pin))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        """Stop the worker thread (tests and shutdown)."""
        with self._start:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
