"""PIN hashing with argon2id, and the shape rule for PINs."""

from __future__ import annotations

import re

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PIN_RE = re.compile(r"^\d{4,6}$")


def valid_pin(pin: str) -> bool:
    """A PIN is 4 to 6 digits."""
    return bool(PIN_RE.fullmatch(pin))


class PinHasher:
    """argon2id hashing for staff PINs; the cost comes from settings."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )

    def hash(self, pin: str) -> str:
        """An argon2id hash of the PIN, with its own salt."""
        return self._hasher.hash(pin)

    def verify(self, pin_hash: str, pin: str) -> bool:
        """True when the PIN matches the hash; never raises for a wrong PIN or a bad hash."""
        try:
            return bool(self._hasher.verify(pin_hash, pin))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
