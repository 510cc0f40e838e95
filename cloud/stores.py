"""Stores and their broker credentials: the `store` row, the Mosquitto password file entry,
and the plain password handed to the appliance (`tillbox cloud store add`, `broker-user`).

The password file is Mosquitto 2's: one `username:$7$iterations$salt$hash` line per user,
PBKDF2-HMAC-SHA512 over the password with a 12-byte random salt (base64). It is written here
rather than with `mosquitto_passwd -b`, which would put the password on a command line where
`ps` shows it. Passwords are 32 random bytes, so the hash needs no stretching beyond
Mosquitto's own default of 101 iterations, and the broker's cost per CONNECT stays small
(decisions.md §38). The broker reads the file at start and on SIGHUP only.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import grp
import hashlib
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from protocol.envelope import STORE_RE

# Mosquitto 2.0's own defaults (mosquitto_passwd): PBKDF2-SHA512, 101 iterations, 12-byte salt.
HASH_ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 32
HANDOVER_SUFFIX = ".mqtt-password"
# Service users are `cloud-<role>`; a store id has no hyphen, so the two never meet.
SERVICE_ROLES = {"ingest": "cloud-ingest", "catalog": "cloud-catalog"}
# A new password file: root:mosquitto 0640. Mosquitto 2 reads it after dropping to its own
# user, so a file only root can read would lock every client out at the next reload.
NEW_PASSWORD_FILE_MODE = 0o640
BROKER_GROUP = "mosquitto"

_STORE = re.compile(STORE_RE)


class BrokerCredentialsError(Exception):
    """A file the credentials go to cannot be used; the message says which and why."""


def is_store_id(text: str) -> bool:
    """Whether `text` is a store id as the appliance and the envelopes have it (`s01`)."""
    return _STORE.fullmatch(text) is not None


def new_password() -> str:
    """A fresh broker password: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = HASH_ITERATIONS
) -> str:
    """The password as Mosquitto 2 stores it: `$7$iterations$salt$hash`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return "$7${}${}${}".format(
        iterations, base64.b64encode(salt).decode("ascii"), base64.b64encode(digest).decode()
    )


def check_mosquitto_hash(password: str, stored: str) -> bool:
    """Whether `password` matches a `$7$` hash (what the broker does on CONNECT)."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        salt, iterations = base64.b64decode(parts[3], validate=True), int(parts[2])
    except ValueError:  # binascii.Error is one
        return False
    return secrets.compare_digest(
        mosquitto_hash(password, salt=salt, iterations=iterations), stored
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory`, so two operators never interleave writes."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _replace(path: Path, text: str, *, mode: int, owner: tuple[int, int] | None) -> None:
    """Write `path` whole or not at all: a temp file beside it, fsynced, renamed over it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                # Keep the owner IT gave it (root:mosquitto), or the broker may not read it.
                os.fchown(out.fileno(), *owner)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _new_file_owner() -> tuple[int, int] | None:
    """root:mosquitto when run as root on a machine with the broker installed, else as is."""
    if os.geteuid() != 0:
        return None
    try:
        return 0, grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:
        return None


def set_broker_password(password_file: Path, username: str, password: str) -> bool:
    """Add or replace `username`'s line in the Mosquitto password file, keeping every other
    line as it was; True when the user was there before (a rotation)."""
    if ":" in username or not username or username != username.strip():
        raise ValueError(f"not a broker username: {username!r}")
    directory = password_file.parent
    if not directory.is_dir():
        raise BrokerCredentialsError(f"password file {password_file}: no directory {directory}")
    owner: tuple[int, int] | None
    try:
        with _locked(directory):
            try:
                stat = password_file.stat()
                lines = password_file.read_text(encoding="utf-8").splitlines()
                mode, owner = stat.st_mode & 0o777, (stat.st_uid, stat.st_gid)
            except FileNotFoundError:
                lines, mode, owner = [], NEW_PASSWORD_FILE_MODE, _new_file_owner()
            kept = [line for line in lines if line.split(":", 1)[0] != username]
            existed = len(kept) != len(lines)
            kept.append(f"{username}:{mosquitto_hash(password)}")
            _replace(password_file, "\n".join(kept) + "\n", mode=mode, owner=owner)
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerCredentialsError(f"password file {password_file}: {exc}") from None
    return existed


def broker_users(password_file: Path) -> list[str]:
    """The usernames in a Mosquitto password file, in file order."""
    return [
        line.split(":", 1)[0]
        for line in password_file.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and ":" in line
    ]


def write_secret(secrets_dir: Path, username: str, password: str) -> Path:
    """Write the plain password to `secrets_dir/{username}.mqtt-password`, mode 0600."""
    try:
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = secrets_dir / f"{username}{HANDOVER_SUFFIX}"
        _replace(path, password + "\n", mode=0o600, owner=None)
    except OSError as exc:
        raise BrokerCredentialsError(f"secrets directory {secrets_dir}: {exc}") from None
    return path


def register_store(conn: psycopg.Connection[Any], store: str, name: str | None) -> bool:
    """Create the store's row (or set its name when given); True when it was new."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO store (id, name) VALUES (%s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = COALESCE(excluded.name, store.name)"
            " RETURNING xmax = 0",
            (store, name),
        ).fetchone()
    assert row is not None
    return bool(row[0])


def record_password_set(conn: psycopg.Connection[Any], store: str) -> None:
    """Note when the store's broker password was last set (for rotation reports)."""
    with conn.transaction():
        conn.execute("UPDATE store SET mqtt_password_set_at = now() WHERE id = %s", (store,))


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What `issue_credentials` did: the user, where its password went, and whether the
    user already had one (so this was a rotation)."""

    username: str
    secret_file: Path
    rotated: bool
    password: str


def issue_credentials(username: str, *, password_file: Path, secrets_dir: Path) -> Credentials:
    """A new password for `username`: first the plain copy (0600) for the device, then its
    hash in the broker's password file, so a failure never leaves the broker knowing a
    password nobody has."""
    password = new_password()
    secret_file = write_secret(secrets_dir, username, password)
    rotated = set_broker_password(password_file, username, password)
    return Credentials(
        username=username, secret_file=secret_file, rotated=rotated, password=password
    )


def reload_broker(pid: int) -> None:
    """Ask the broker to read its password and ACL files again (SIGHUP)."""
    os.kill(pid, signal.SIGHUP)
