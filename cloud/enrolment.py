"""One-time enrolment codes: a new store appliance trades one, once, for its broker password
(decisions.md §53).

`issue_code` (`tillbox cloud store enrol-code`) makes a code of 20 base32 characters in four
groups of five (100 random bits; typeable, no 0/1/8/9 to confuse with O/I/B/g), keeps only
its SHA-256, and revokes the store's unused one. `enrol` (HQ's `POST /enrol`) checks a code
against its store, marks it used, writes a fresh broker password for the store into
Mosquitto's password file (cloud/stores.py) and audits the outcome, all in one transaction
whose row lock makes one of two concurrent uses win. No Flask here: the HQ view is thin.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from cloud.hq.accounts import record as _record
from cloud.stores import (
    BrokerCredentialsError,
    is_store_id,
    new_password,
    record_password_set,
    set_broker_password,
)
from webui.errors import ApiError, Conflict, Forbidden, Invalid, NotFound, Unavailable

_log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
GROUPS = 4
GROUP_LENGTH = 5
DEFAULT_VALID_FOR = timedelta(hours=72)
MAX_VALID_FOR = timedelta(days=30)
# Any case, with or without the dashes or spaces a person types between the groups.
CODE_RE = re.compile(r"[A-Za-z2-7]{5}([- ]?[A-Za-z2-7]{5}){3}")


def normalise(code: str) -> str:
    """The code as it is hashed: upper case, no separators."""
    return re.sub(r"[- ]", "", code).upper()


def code_hash(code: str) -> bytes:
    """SHA-256 of the normalised code (100 random bits need no stretching)."""
    return hashlib.sha256(normalise(code).encode("ascii")).digest()


def new_code() -> str:
    """A fresh code, e.g. `K7QJX-MP3RA-ZT2WD-F5NVE`."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(
        chars[i : i + GROUP_LENGTH] for i in range(0, GROUPS * GROUP_LENGTH, GROUP_LENGTH)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCode:
    """A code just issued (the plain code exists only here and on the operator's screen)."""

    store: str
    code: str
    expires_at: datetime
    revoked: int


def issue_code(
    conn: psycopg.Connection[Any],
    store: str,
    *,
    issued_by: str,
    valid_for: timedelta = DEFAULT_VALID_FOR,
) -> IssuedCode:
    """A new one-time code for a registered `store`; its unused earlier code stops working."""
    if not timedelta(minutes=5) <= valid_for <= MAX_VALID_FOR:
        raise Invalid("a code is valid for 5 minutes to 30 days", code="invalid_validity")
    code = new_code()
    with conn.transaction():
        known = conn.execute("SELECT 1 FROM store WHERE id = %s FOR UPDATE", (store,)).fetchone()
        if known is None:
            raise NotFound(
                f"no store {store}: register it first (tillbox cloud store add)",
                code="unknown_store",
            )
        revoked = conn.execute(
            "UPDATE enrolment_code SET revoked_at = now()"
            " WHERE store = %s AND used_at IS NULL AND revoked_at IS NULL",
            (store,),
        ).rowcount
        row = conn.execute(
            "INSERT INTO enrolment_code (store, code_hash, issued_by, expires_at)"
            " VALUES (%s, %s, %s, now() + %s) RETURNING expires_at",
            (store, code_hash(code), issued_by, valid_for),
        ).fetchone()
        assert row is not None
        _audit(
            conn,
            "enrolment.code_issued",
            store,
            {"by": issued_by, "expires_at": row[0].isoformat(), "revoked": revoked},
            address=None,
        )
    return IssuedCode(store=store, code=code, expires_at=row[0], revoked=revoked)


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    """Where enrolled stores connect, and the files the exchange writes and signals."""

    host: str
    port: int
    tls: bool
    ca_pem: str | None
    password_file: Path
    pid_file: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolled:
    """A store's new broker credential and where to use it."""

    store: str
    username: str
    password: str
    broker: Broker


def enrol(
    conn: psycopg.Connection[Any], broker: Broker, *, store: str, code: str, address: str
) -> Enrolled:
    """Trade `code` for `store`'s new broker password, or raise (nothing changed but the
    audit line): enrolment_invalid (unknown, revoked, another store's), enrolment_expired,
    enrolment_used."""
    if not is_store_id(store):
        raise Invalid("store: not a store id such as s01", code="invalid_store")
    if not CODE_RE.fullmatch(code):
        raise Invalid(
            "code: four groups of five letters and digits 2-7, e.g. K7QJX-MP3RA-ZT2WD-F5NVE",
            code="invalid_code_format",
        )
    password = new_password()
    refusal: ApiError | None = None
    with conn.transaction():
        # FOR UPDATE: of two requests with the same code, the second waits here and then
        # sees the first one's used_at.
        row = conn.execute(
            "SELECT id, store, expires_at <= now(), used_at, revoked_at FROM enrolment_code"
            " WHERE code_hash = %s FOR UPDATE",
            (code_hash(code),),
        ).fetchone()
        if row is None or row[1] != store or row[4] is not None:
            why = "unknown" if row is None else "revoked" if row[4] is not None else "other store"
            refusal = Forbidden(
                "this enrolment code is not valid for this store; ask IT for a new one",
                code="enrolment_invalid",
            )
            details: dict[str, Any] = {"why": why}
        elif row[3] is not None:
            refusal = Conflict(
                "this enrolment code has already been used; ask IT for a new one",
                code="enrolment_used",
            )
            details = {"code_id": row[0], "used_at": row[3].isoformat()}
        elif row[2]:
            refusal = Forbidden(
                "this enrolment code has expired; ask IT for a new one", code="enrolment_expired"
            )
            details = {"code_id": row[0]}
        else:
            conn.execute(
                "UPDATE enrolment_code SET used_at = now(), used_from = %s WHERE id = %s",
                (address, row[0]),
            )
            details = {"code_id": row[0]}
            try:
                # Inside the transaction: if the file cannot be written, the code stays unused.
                rotated = set_broker_password(broker.password_file, store, password)
            except (BrokerCredentialsError, ValueError) as exc:
                _log.error("enrolment of store %s: %s", store, exc)
                raise Unavailable(
                    "the cloud cannot store the new credential right now; try again later",
                    code="enrolment_unavailable",
                    details={"retry_after_s": 60},
                ) from None
            details["rotated"] = rotated
            record_password_set(conn, store)
            _audit(conn, "enrolment.used", store, details, address=address)
    if refusal is not None:
        with conn.transaction():
            _audit(conn, f"enrolment.refused.{refusal.code}", store, details, address=address)
        _log.warning("enrolment refused: store=%s %s from %s", store, refusal.code, address)
        raise refusal
    _log.info("store %s enrolled from %s", store, address)
    _reload(broker)
    return Enrolled(store=store, username=store, password=password, broker=broker)


def _reload(broker: Broker) -> None:
    """SIGHUP the broker named by its pid file, so the new password counts at once."""
    from cloud.stores import reload_broker

    if broker.pid_file is None:
        return
    try:
        pid = int(broker.pid_file.read_text(encoding="ascii").strip())
        reload_broker(pid)
    except (OSError, ValueError) as exc:
        # The password is written and the code used: the broker takes it at its next reload,
        # and the appliance keeps reconnecting until then.
        _log.error("enrolment: broker not reloaded via %s: %s", broker.pid_file, exc)


def _audit(
    conn: psycopg.Connection[Any],
    action: str,
    store: str,
    details: dict[str, Any],
    *,
    address: str | None,
) -> None:
    """A line in HQ's audit log; no HQ user acted (the CLI or an appliance did)."""
    _record(conn, None, action, store, details, address=address)
