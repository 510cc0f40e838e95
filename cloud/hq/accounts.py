"""HQ's users, roles and store scope, their passwords (argon2id), server-side sessions with a
CSRF token each, and the HQ audit log. Plain functions over a PostgreSQL connection; the HQ
pages and `tillbox cloud user …` call the same ones."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import psycopg
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.types.json import Jsonb

from webui import csrf
from webui.errors import Conflict, Invalid, NotFound, Unauthorized

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
PASSWORD_MIN = 12
PASSWORD_MAX = 256
SESSION_PREFIX = "tbh_"
# Refreshing last-seen is a write; at most this often per session.
TOUCH_EVERY = timedelta(seconds=30)
# Ended and expired sessions are deleted at a later sign-in after this long.
KEEP_SESSIONS = timedelta(days=30)


class HqRole(StrEnum):
    """Who an HQ user is: an HQ admin (everything), a buyer (every store; catalog, stock,
    reorder) or a store manager (only their stores)."""

    ADMIN = "admin"
    BUYER = "buyer"
    STORE_MANAGER = "store_manager"

    @property
    def label(self) -> str:
        """The role as the pages name it."""
        return {"admin": "HQ admin", "buyer": "Buyer", "store_manager": "Store manager"}[self]

    @property
    def all_stores(self) -> bool:
        """True when the role sees every store (no store scope)."""
        return self is not HqRole.STORE_MANAGER


@dataclass(frozen=True, slots=True, kw_only=True)
class HqUser:
    """An HQ user, with the stores a store manager is scoped to."""

    id: int
    username: str
    name: str
    role: HqRole
    active: bool
    stores: tuple[str, ...]

    def may_see(self, store: str) -> bool:
        """True when this user's scope includes the store."""
        return self.role.all_stores or store in self.stores


@dataclass(frozen=True, slots=True, kw_only=True)
class HqSession:
    """A browser signed in to HQ as one user."""

    token_hash: str
    user: HqUser
    csrf_token: str
    notice: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSession:
    """A session just started: its cookie token is handed out once."""

    token: str
    session: HqSession


class Passwords:
    """argon2id hashing and checks for HQ passwords (the cost from the HQ settings)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65_536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Checked when the username is unknown, so the answer takes as long as a real check.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """An argon2id hash with its own salt."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; a wrong one or a bad hash is False, never raises."""
        try:
            return bool(self._hasher.verify(password_hash or self._decoy, password)) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def token_hash(token: str) -> str:
    """What is stored for a session token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_rule(password: str, *, field: str = "password") -> None:
    """A password is 12 to 256 characters; Invalid (with the field) otherwise."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid(
            f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            code="weak_password",
            details={"field": field},
        )


def normal_username(typed: str) -> str:
    """A username as stored (lower case), or Invalid."""
    username = typed.strip().lower()
    if not USERNAME_RE.fullmatch(username):
        raise Invalid(
            "a username is 2 to 64 lower-case letters, digits and . _ @ -, starting with a"
            " letter or digit",
            code="invalid_username",
            details={"field": "username"},
        )
    return username


def _check_stores(conn: psycopg.Connection[Any], role: HqRole, stores: list[str]) -> list[str]:
    wanted = sorted(set(stores))
    if role.all_stores:
        if wanted:
            raise Invalid(
                f"a {role.label} sees every store; stores are for a store manager",
                code="stores_for_managers",
                details={"field": "stores"},
            )
        return []
    if not wanted:
        raise Invalid(
            "a store manager needs at least one store",
            code="no_stores",
            details={"field": "stores"},
        )
    known = {row[0] for row in conn.execute("SELECT id FROM store WHERE id = ANY(%s)", (wanted,))}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise Invalid(
            f"no such store: {', '.join(unknown)}",
            code="unknown_store",
            details={"field": "stores"},
        )
    return wanted


def _role(typed: str) -> HqRole:
    try:
        return HqRole(typed)
    except ValueError:
        raise Invalid(
            "the role is admin, buyer or store_manager",
            code="invalid_role",
            details={"field": "role"},
        ) from None


def add_user(
    conn: psycopg.Connection[Any],
    passwords: Passwords,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    stores: list[str],
    by: int | None,
    address: str | None,
) -> HqUser:
    """Create a user (one transaction: the user, its stores and the audit line)."""
    username = normal_username(username)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid(
            "a name is 1 to 100 characters", code="invalid_name", details={"field": "name"}
        )
    kind = _role(role)
    check_password_rule(password)
    password_hash = passwords.hash(password)
    with conn.transaction():
        scope = _check_stores(conn, kind, stores)
        row = conn.execute(
            "INSERT INTO hq_user (username, name, role, password_hash) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (username, name, kind.value, password_hash),
        ).fetchone()
        if row is None:
            raise Conflict(
                f"there is already a user {username}",
                code="username_taken",
                details={"field": "username"},
            )
        user_id = int(row[0])
        _set_stores(conn, user_id, scope)
        record(
            conn,
            by,
            "user_add",
            username,
            {"role": kind.value, "stores": scope},
            address=address,
        )
    return get_user(conn, user_id)


def _set_stores(conn: psycopg.Connection[Any], user_id: int, stores: list[str]) -> None:
    conn.execute("DELETE FROM hq_user_store WHERE user_id = %s", (user_id,))
    for store in stores:
        conn.execute("INSERT INTO hq_user_store (user_id, store) VALUES (%s, %s)", (user_id, store))


def _user_from(row: Any) -> HqUser:
    return HqUser(
        id=row[0],
        username=row[1],
        name=row[2],
        role=HqRole(row[3]),
        active=row[4],
        stores=tuple(row[5] or ()),
    )


_USER_SELECT = (
    "SELECT u.id, u.username, u.name, u.role, u.active,"
    " ARRAY(SELECT store FROM hq_user_store s WHERE s.user_id = u.id ORDER BY store)"
    " FROM hq_user u"
)


def get_user(conn: psycopg.Connection[Any], user_id: int) -> HqUser:
    """One user by id, or NotFound."""
    row = conn.execute(_USER_SELECT + " WHERE u.id = %s", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"no HQ user {user_id}", code="unknown_user")
    return _user_from(row)


def find_user(conn: psycopg.Connection[Any], username: str) -> HqUser:
    """One user by username, or NotFound."""
    row = conn.execute(
        _USER_SELECT + " WHERE lower(u.username) = lower(%s)", (username.strip(),)
    ).fetchone()
    if row is None:
        raise NotFound(f"no HQ user {username}", code="unknown_user")
    return _user_from(row)


def list_users(conn: psycopg.Connection[Any]) -> list[HqUser]:
    """Every user, active first, by username."""
    return [
        _user_from(row)
        for row in conn.execute(_USER_SELECT + " ORDER BY u.active DESC, u.username").fetchall()
    ]


def set_role(
    conn: psycopg.Connection[Any],
    user_id: int,
    *,
    role: str,
    stores: list[str],
    by: int | None,
    address: str | None,
) -> HqUser:
    """Change a user's role and store scope (their open sessions see it at their next page)."""
    kind = _role(role)
    with conn.transaction():
        user = get_user(conn, user_id)
        if by == user_id and kind is not HqRole.ADMIN:
            raise Conflict(
                "you cannot take away your own HQ admin role; another admin can",
                code="own_role",
                details={"field": "role"},
            )
        scope = _check_stores(conn, kind, stores)
        conn.execute(
            "UPDATE hq_user SET role = %s, updated_at = now() WHERE id = %s", (kind.value, user_id)
        )
        _set_stores(conn, user_id, scope)
        record(
            conn,
            by,
            "user_role",
            user.username,
            {"role": kind.value, "stores": scope, "was": user.role.value},
            address=address,
        )
    return get_user(conn, user_id)


def set_active(
    conn: psycopg.Connection[Any],
    user_id: int,
    *,
    active: bool,
    by: int | None,
    address: str | None,
) -> HqUser:
    """Disable a user (their sessions end at once) or enable them again."""
    with conn.transaction():
        user = get_user(conn, user_id)
        if by == user_id and not active:
            raise Conflict("you cannot disable yourself; another HQ admin can", code="own_account")
        conn.execute(
            "UPDATE hq_user SET active = %s, updated_at = now() WHERE id = %s", (active, user_id)
        )
        if not active:
            conn.execute(
                "UPDATE hq_session SET ended_at = now() WHERE user_id = %s AND ended_at IS NULL",
                (user_id,),
            )
        record(
            conn,
            by,
            "user_enable" if active else "user_disable",
            user.username,
            {},
            address=address,
        )
    return get_user(conn, user_id)


def set_password(
    conn: psycopg.Connection[Any],
    passwords: Passwords,
    user_id: int,
    *,
    password: str,
    by: int | None,
    address: str | None,
    keep_session: str | None = None,
) -> None:
    """Set a new password; every other session of the user ends (`keep_session`: the token
    hash of the browser that changed it, which stays signed in)."""
    check_password_rule(password, field="new_password")
    password_hash = passwords.hash(password)
    with conn.transaction():
        user = get_user(conn, user_id)
        conn.execute(
            "UPDATE hq_user SET password_hash = %s, password_changed_at = now(),"
            " updated_at = now() WHERE id = %s",
            (password_hash, user_id),
        )
        conn.execute(
            "UPDATE hq_session SET ended_at = now() WHERE user_id = %s AND ended_at IS NULL"
            " AND token_hash IS DISTINCT FROM %s",
            (user_id, keep_session),
        )
        record(conn, by, "password_set", user.username, {}, address=address)


def change_own_password(
    conn: psycopg.Connection[Any],
    passwords: Passwords,
    session: HqSession,
    *,
    current: str,
    new: str,
    address: str,
) -> None:
    """A user changes their own password: the current one must be right."""
    row = conn.execute(
        "SELECT password_hash FROM hq_user WHERE id = %s", (session.user.id,)
    ).fetchone()
    if row is None or not passwords.verify(row[0], current):
        raise Invalid(
            "that is not your current password",
            code="wrong_password",
            details={"field": "current_password"},
        )
    if current == new:
        raise Invalid(
            "the new password must differ from the current one",
            code="same_password",
            details={"field": "new_password"},
        )
    set_password(
        conn,
        passwords,
        session.user.id,
        password=new,
        by=session.user.id,
        address=address,
        keep_session=session.token_hash,
    )


def sign_in(
    conn: psycopg.Connection[Any],
    passwords: Passwords,
    *,
    username: str,
    password: str,
    address: str,
) -> NewSession:
    """Check a username and password and start a session; one answer for every failure."""
    typed = username.strip().lower()
    row = conn.execute(
        "SELECT id, password_hash, active FROM hq_user WHERE lower(username) = %s", (typed,)
    ).fetchone()
    # The decoy check runs for an unknown user too, so timing does not tell who exists.
    ok = passwords.verify(row[1] if row else None, password) and row is not None and row[2]
    if not ok or row is None:
        with conn.transaction():
            record(conn, row[0] if row else None, "sign_in_failed", typed[:64], {}, address=address)
        raise Unauthorized("wrong username or password", code="wrong_password")
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf_token = csrf.new_token()
    with conn.transaction():
        conn.execute("DELETE FROM hq_session WHERE last_seen_at < now() - %s", (KEEP_SESSIONS,))
        conn.execute(
            "INSERT INTO hq_session (token_hash, user_id, csrf_token, address)"
            " VALUES (%s, %s, %s, %s)",
            (token_hash(token), row[0], csrf_token, address),
        )
        record(conn, row[0], "sign_in", None, {}, address=address)
    user = get_user(conn, row[0])
    return NewSession(
        token=token,
        session=HqSession(
            token_hash=token_hash(token), user=user, csrf_token=csrf_token, notice=None
        ),
    )


def resolve(
    conn: psycopg.Connection[Any], token: str, *, idle: timedelta, max_age: timedelta
) -> HqSession | None:
    """The live session a cookie token stands for, or None (unknown, ended, idle, too old, or
    its user disabled)."""
    if not token.startswith(SESSION_PREFIX) or len(token) > 100:
        return None
    digest = token_hash(token)
    row = conn.execute(
        "SELECT s.user_id, s.csrf_token, s.notice, s.last_seen_at < now() - %s AS stale,"
        " s.last_seen_at < now() - %s AS idle, s.created_at < now() - %s AS old"
        " FROM hq_session s JOIN hq_user u ON u.id = s.user_id"
        " WHERE s.token_hash = %s AND s.ended_at IS NULL AND u.active",
        (TOUCH_EVERY, idle, max_age, digest),
    ).fetchone()
    if row is None or row[4] or row[5]:
        return None
    if row[3]:
        conn.execute("UPDATE hq_session SET last_seen_at = now() WHERE token_hash = %s", (digest,))
    return HqSession(
        token_hash=digest, user=get_user(conn, row[0]), csrf_token=row[1], notice=row[2]
    )


def sign_out(conn: psycopg.Connection[Any], session: HqSession, *, address: str) -> None:
    """End the session at once."""
    with conn.transaction():
        conn.execute(
            "UPDATE hq_session SET ended_at = now() WHERE token_hash = %s AND ended_at IS NULL",
            (session.token_hash,),
        )
        record(conn, session.user.id, "sign_out", None, {}, address=address)


def set_notice(conn: psycopg.Connection[Any], session: HqSession, notice: str | None) -> None:
    """What the next page shows once (after a redirect)."""
    conn.execute(
        "UPDATE hq_session SET notice = %s WHERE token_hash = %s", (notice, session.token_hash)
    )


def record(
    conn: psycopg.Connection[Any],
    user_id: int | None,
    action: str,
    target: str | None,
    details: dict[str, Any],
    *,
    address: str | None,
) -> None:
    """Add a line to the HQ audit log (inside the transaction that made the change)."""
    conn.execute(
        "INSERT INTO hq_audit (user_id, action, target, details, address)"
        " VALUES (%s, %s, %s, %s, %s)",
        (user_id, action, target, Jsonb(details), address),
    )
