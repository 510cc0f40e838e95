"""The chain's staff master (decisions.md §57): people, their role and PIN per store, the
changes the stores pull, the stores' own edits merged in from their directory uploads, and
what the Staff page shows (PIN lockouts, overrides).

Tables in migration 0018. Every writer takes the staff advisory lock in its transaction, so
`change_seq` numbers commit in order. A PIN travels only as its argon2id hash; PINs are unique
per store (a supervisor's PIN alone says who approves at the till), so HQ checks a new PIN
against every active PIN of the stores it goes to, while it still has the PIN itself.

Conflicts (both sides edited the same person): each field remembers the change that last set
it. A store's edit wins when the store had applied that change before editing; otherwise HQ's
value stands, except a deactivation, which wins from either side.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.migrate import connect
from protocol.directory import Directory, StaffEntry
from protocol.staff import MAX_PAGE, StaffChange, StaffReply
from webui.errors import Conflict, Invalid, NotFound

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
ROLES = ("cashier", "supervisor", "manager")
PIN_RE = re.compile(r"^[0-9]{4,6}$")
NOTIFY_CHANNEL = "tillbox_staff"
_LOCK = 0x7374616666  # "staff"
_VERIFIER = PasswordHasher()
# The appliances' own PIN cost (appliance.settings: OWASP's minimum, about 50 ms on a Pi 4),
# so a PIN set here costs a till no more to check than one set there.
_PIN_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


def hash_pin(pin: str) -> str:
    """A PIN's argon2id hash, as the appliances make them."""
    return _PIN_HASHER.hash(pin)


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A person at one store: role, whether they may work there, what the store reported."""

    store: str
    store_name: str
    role: str
    active: bool
    change_seq: int
    store_seen_seq: int | None
    locked_until: datetime | None
    lockouts: int
    reported_at: datetime | None

    @property
    def pending(self) -> bool:
        """True while the store has not reported applying this row's last change."""
        return self.store_seen_seq is None or self.store_seen_seq < self.change_seq

    def locked(self, now: datetime) -> bool:
        """True while the store's last report has them locked out."""
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A member of staff in the master."""

    id: str
    name: str
    active: bool
    added_by: str
    created_at: datetime
    assignments: tuple[Assignment, ...]

    def active_at(self) -> list[str]:
        """The stores where they may sign in."""
        return [a.store for a in self.assignments if a.active] if self.active else []

    @property
    def lockouts(self) -> int:
        """PIN lockouts the stores have reported, all stores together."""
        return sum(a.lockouts for a in self.assignments)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideLine:
    """One override this person asked for or approved."""

    at: datetime
    store: str
    action: str
    requester: str | None
    approver: str
    amount: int | None
    currency: str | None
    reason: str | None
    offline: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """A person's overrides: how many they asked for and approved, and the latest ones."""

    requested: int
    approved: int
    latest: tuple[OverrideLine, ...]


_ASSIGNMENTS = (
    "SELECT a.person, a.store, COALESCE(s.name, 'Store ' || s.id), a.role, a.active,"
    " a.change_seq, a.store_seen_seq, a.locked_until, a.lockouts, a.reported_at"
    " FROM staff_assignment a JOIN store s ON s.id = a.store"
    " WHERE a.person = ANY(%s) ORDER BY a.store"
)


def _people(conn: Conn, rows: list[Any]) -> list[Person]:
    ids = [r[0] for r in rows]
    by_person: dict[str, list[Assignment]] = {i: [] for i in ids}
    for r in conn.execute(_ASSIGNMENTS, (ids,)):
        by_person[r[0]].append(
            Assignment(
                store=r[1],
                store_name=r[2],
                role=r[3],
                active=r[4],
                change_seq=r[5],
                store_seen_seq=r[6],
                locked_until=r[7],
                lockouts=r[8],
                reported_at=r[9],
            )
        )
    return [
        Person(
            id=r[0],
            name=r[1],
            active=r[2],
            added_by=r[3],
            created_at=r[4],
            assignments=tuple(by_person[r[0]]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffList:
    """One page of people, and how many match."""

    people: list[Person]
    total: int
    page: int
    pages: int


def list_people(
    conn: Conn,
    *,
    stores: Iterable[str],
    text: str = "",
    page: int = 1,
    page_size: int | None = 50,
) -> StaffList:
    """People with an assignment (current or past) at any of `stores`, by name; `text`
    matches name or staff id."""
    wanted = list(stores)
    where = (
        "EXISTS (SELECT 1 FROM staff_assignment a WHERE a.person = p.id AND a.store = ANY(%s))"
        " AND (%s::text = '' OR p.name ILIKE %s OR p.id ILIKE %s)"
    )
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params: tuple[Any, ...] = (wanted, text, like, like)
    counted = conn.execute(f"SELECT count(*) FROM staff_person p WHERE {where}", params).fetchone()
    total = int(counted[0]) if counted else 0
    size = page_size or max(total, 1)
    pages = max(1, -(-total // size))
    page = min(page, pages)
    rows = conn.execute(
        "SELECT p.id, p.name, p.active, p.added_by, p.created_at FROM staff_person p"
        f" WHERE {where} ORDER BY lower(p.name), p.id LIMIT %s OFFSET %s",
        (*params, size, (page - 1) * size),
    ).fetchall()
    return StaffList(people=_people(conn, rows), total=total, page=page, pages=pages)


def get_person(conn: Conn, person: str) -> Person:
    """One person, or NotFound."""
    rows = conn.execute(
        "SELECT id, name, active, added_by, created_at FROM staff_person WHERE id = %s", (person,)
    ).fetchall()
    if not rows:
        raise NotFound(f"no staff member {person}", code="unknown_staff")
    return _people(conn, rows)[0]


def overrides(conn: Conn, person: str, stores: Iterable[str], *, latest: int = 10) -> Overrides:
    """The overrides `person` asked for and approved at `stores`, with the latest ones. From
    the audit's override_fact when the cloud has it, else from the override.granted events."""
    wanted = list(stores)
    have_facts = conn.execute("SELECT to_regclass('override_fact') IS NOT NULL").fetchone()
    if have_facts and have_facts[0]:
        source = (
            "SELECT at, store, action, requester, approver, amount, currency, reason, offline"
            " FROM override_fact"
        )
    else:
        source = (
            "SELECT e.at, e.store, e.envelope #>> '{body,action}' AS action,"
            " e.envelope #>> '{body,requester}' AS requester,"
            " e.envelope #>> '{body,approver}' AS approver,"
            " (e.envelope #>> '{body,amount}')::bigint AS amount,"
            " e.envelope #>> '{body,currency}' AS currency,"
            " e.envelope #>> '{body,reason}' AS reason,"
            " COALESCE((e.envelope #>> '{body,offline}')::boolean, false) AS offline"
            " FROM event e WHERE e.type = 'override.granted'"
        )
    base = f"SELECT * FROM ({source}) o WHERE o.store = ANY(%s) AND (o.requester = %s OR o.approver = %s)"
    counts = conn.execute(
        f"SELECT count(*) FILTER (WHERE requester = %s), count(*) FILTER (WHERE approver = %s)"
        f" FROM ({base}) x",
        (person, person, wanted, person, person),
    ).fetchone()
    rows = conn.execute(
        f"{base} ORDER BY at DESC LIMIT %s", (wanted, person, person, latest)
    ).fetchall()
    return Overrides(
        requested=int(counts[0]) if counts else 0,
        approved=int(counts[1]) if counts else 0,
        latest=tuple(
            OverrideLine(
                at=r[0],
                store=r[1],
                action=r[2],
                requester=r[3],
                approver=r[4],
                amount=r[5],
                currency=r[6],
                reason=r[7],
                offline=bool(r[8]),
            )
            for r in rows
        ),
    )


def override_counts(
    conn: Conn, people: list[str], stores: Iterable[str]
) -> dict[str, tuple[int, int]]:
    """(asked for, approved) per person at `stores`, for the list."""
    wanted = list(stores)
    have_facts = conn.execute("SELECT to_regclass('override_fact') IS NOT NULL").fetchone()
    if have_facts and have_facts[0]:
        source = "SELECT store, requester, approver FROM override_fact"
    else:
        source = (
            "SELECT store, envelope #>> '{body,requester}' AS requester,"
            " envelope #>> '{body,approver}' AS approver FROM event"
            " WHERE type = 'override.granted'"
        )
    out = dict.fromkeys(people, (0, 0))
    for who, asked, approved in conn.execute(
        f"SELECT p, count(*) FILTER (WHERE o.requester = p), count(*) FILTER (WHERE o.approver = p)"
        f" FROM unnest(%s::text[]) AS p JOIN ({source}) o ON (o.requester = p OR o.approver = p)"
        " WHERE o.store = ANY(%s) GROUP BY p",
        (people, wanted),
    ):
        out[who] = (int(asked), int(approved))
    return out


# ---- the changes the stores pull ---------------------------------------------------------------


def head_version(conn: Conn) -> int:
    """The latest staff change number (0: none yet)."""
    row = conn.execute("SELECT COALESCE(max(change_seq), 0) FROM staff_assignment").fetchone()
    return int(row[0]) if row else 0


def changes_since(conn: Conn, store: str, since: int, limit: int) -> StaffReply:
    """The store's assignments changed after `since`, oldest first, at most `limit`."""
    limit = max(1, min(limit, MAX_PAGE))
    with conn.transaction():
        head = head_version(conn)
        rows = conn.execute(
            "SELECT a.change_seq, a.person, p.name, a.role, p.active AND a.active, a.pin_hash"
            " FROM staff_assignment a JOIN staff_person p ON p.id = a.person"
            " WHERE a.store = %s AND a.change_seq > %s AND a.change_seq <= %s"
            " ORDER BY a.change_seq LIMIT %s",
            (store, since, head, limit),
        ).fetchall()
    changes = [
        StaffChange(seq=r[0], id=r[1], name=r[2], role=r[3], active=r[4], pin_hash=r[5])
        for r in rows
    ]
    following = changes[-1].seq if len(changes) == limit else head
    return StaffReply(changes=changes, next=following, head=head)


# ---- HQ's edits --------------------------------------------------------------------------------


def _lock(conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))


def _next(conn: Conn) -> int:
    row = conn.execute("SELECT nextval('staff_change_seq')").fetchone()
    assert row is not None
    return int(row[0])


def clean_name(name: str) -> str:
    """A staff name as stored (one line, 1 to 80 characters), or Invalid."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 80 or not cleaned.isprintable():
        raise Invalid(
            "a name is 1 to 80 characters on one line",
            code="invalid_name",
            details={"field": "name"},
        )
    return cleaned


def _role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(
            "the role is cashier, supervisor or manager",
            code="invalid_role",
            details={"field": "role"},
        )
    return role


def _check_pin(pin: str) -> None:
    if not PIN_RE.fullmatch(pin):
        raise Invalid("a PIN is 4 to 6 digits", code="invalid_pin", details={"field": "pin"})


def _matches(pin_hash: str, pin: str) -> bool:
    try:
        return bool(_VERIFIER.verify(pin_hash, pin))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _pin_taken(conn: Conn, store: str, pin: str, *, exclude: str | None) -> bool:
    """Whether someone else active at `store` has this PIN (the master's rows, which hold
    every person the store has uploaded)."""
    rows = conn.execute(
        "SELECT a.pin_hash FROM staff_assignment a JOIN staff_person p ON p.id = a.person"
        " WHERE a.store = %s AND a.active AND p.active AND a.person IS DISTINCT FROM %s::text",
        (store, exclude),
    ).fetchall()
    return any(_matches(r[0], pin) for r in rows)


def _unique_pin(conn: Conn, stores: Iterable[str], pin: str, *, exclude: str | None) -> None:
    for store in stores:
        if _pin_taken(conn, store, pin, exclude=exclude):
            raise Conflict(
                f"someone at {store} already uses this PIN; choose another",
                code="pin_in_use",
                details={"field": "pin", "store": store},
            )


def _managers(conn: Conn, store: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM staff_assignment a JOIN staff_person p ON p.id = a.person"
        " WHERE a.store = %s AND a.active AND p.active AND a.role = 'manager'",
        (store,),
    ).fetchone()
    return int(row[0]) if row else 0


def _keep_managers(conn: Conn, before: dict[str, int]) -> None:
    """Refuse a change that leaves a store that had a manager with none (its admin pages
    need one)."""
    for store, count in before.items():
        if count and not _managers(conn, store):
            raise Conflict(
                f"{store} must keep at least one active manager",
                code="last_manager",
                details={"store": store},
            )


def _store_exists(conn: Conn, store: str) -> None:
    if conn.execute("SELECT 1 FROM store WHERE id = %s", (store,)).fetchone() is None:
        raise Invalid(f"no store {store}", code="unknown_store", details={"field": "store"})


Hash = Callable[[str], str]


def add_person(conn: Conn, hash_pin: Hash, *, name: str, store: str, role: str, pin: str) -> str:
    """A new person working at `store` with `role` and a first PIN; their staff id."""
    name = clean_name(name)
    role = _role(role)
    _check_pin(pin)
    pin_hash = hash_pin(pin)
    with conn.transaction():
        _lock(conn)
        _store_exists(conn, store)
        _unique_pin(conn, [store], pin, exclude=None)
        number = conn.execute("SELECT nextval('staff_hq_number')").fetchone()
        assert number is not None
        person = f"hq-{number[0]}"
        conn.execute(
            "INSERT INTO staff_person (id, name, added_by) VALUES (%s, %s, 'hq')", (person, name)
        )
        seq = _next(conn)
        conn.execute(
            "INSERT INTO staff_assignment (person, store, role, pin_hash, change_seq, name_seq,"
            " role_seq, active_seq, pin_seq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (person, store, role, pin_hash, seq, seq, seq, seq, seq),
        )
    _log.info("staff %s added at %s as %s", person, store, role)
    return person


def assign(
    conn: Conn, hash_pin: Hash, person: str, *, store: str, role: str, pin: str | None
) -> bool:
    """Set `person`'s role at `store`, adding them there (a PIN is then needed: HQ never
    knows their PIN elsewhere, and each store's PINs are unique). Whether they were added."""
    role = _role(role)
    if pin:
        _check_pin(pin)
    pin_hash = hash_pin(pin) if pin else None
    with conn.transaction():
        _lock(conn)
        _store_exists(conn, store)
        found = conn.execute(
            "SELECT active FROM staff_person WHERE id = %s FOR UPDATE", (person,)
        ).fetchone()
        if found is None:
            raise NotFound(f"no staff member {person}", code="unknown_staff")
        if not found[0]:
            raise Conflict(f"{person} has left; bring them back first", code="staff_inactive")
        row = conn.execute(
            "SELECT role, active FROM staff_assignment WHERE person = %s AND store = %s FOR UPDATE",
            (person, store),
        ).fetchone()
        if (row is None or not row[1]) and pin is None:
            raise Invalid(
                f"give a PIN for {store}: PINs are set per store",
                code="pin_required",
                details={"field": "pin"},
            )
        if pin is not None:
            _unique_pin(conn, [store], pin, exclude=person)
        before = {store: _managers(conn, store)}
        seq = _next(conn)
        if row is None:
            assert pin_hash is not None
            conn.execute(
                "INSERT INTO staff_assignment (person, store, role, pin_hash, change_seq,"
                " name_seq, role_seq, active_seq, pin_seq)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (person, store, role, pin_hash, seq, seq, seq, seq, seq),
            )
        else:
            conn.execute(
                "UPDATE staff_assignment SET role = %s, role_seq = %s, active = true,"
                " active_seq = CASE WHEN active THEN active_seq ELSE %s END,"
                " pin_hash = COALESCE(%s, pin_hash),"
                " pin_seq = CASE WHEN %s::text IS NULL THEN pin_seq ELSE %s END,"
                " change_seq = %s, updated_at = now() WHERE person = %s AND store = %s",
                (role, seq, seq, pin_hash, pin_hash, seq, seq, person, store),
            )
        _keep_managers(conn, before)
    return row is None or not row[1]


def unassign(conn: Conn, person: str, store: str) -> None:
    """`person` may no longer sign in at `store` (their history there stays)."""
    with conn.transaction():
        _lock(conn)
        row = conn.execute(
            "SELECT active FROM staff_assignment WHERE person = %s AND store = %s FOR UPDATE",
            (person, store),
        ).fetchone()
        if row is None:
            raise NotFound(f"{person} does not work at {store}", code="unknown_assignment")
        if not row[0]:
            return
        before = {store: _managers(conn, store)}
        seq = _next(conn)
        conn.execute(
            "UPDATE staff_assignment SET active = false, active_seq = %s, change_seq = %s,"
            " updated_at = now() WHERE person = %s AND store = %s",
            (seq, seq, person, store),
        )
        _keep_managers(conn, before)


def _bump_person(conn: Conn, person: str, field: str) -> None:
    """Give each of the person's assignments a new change number, `field` set by it."""
    stores = [
        r[0]
        for r in conn.execute(
            "SELECT store FROM staff_assignment WHERE person = %s ORDER BY store FOR UPDATE",
            (person,),
        )
    ]
    for store in stores:
        seq = _next(conn)
        conn.execute(
            f"UPDATE staff_assignment SET change_seq = %s, {field}_seq = %s, updated_at = now()"
            " WHERE person = %s AND store = %s",
            (seq, seq, person, store),
        )


def _person_row(conn: Conn, person: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT name, active FROM staff_person WHERE id = %s FOR UPDATE", (person,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no staff member {person}", code="unknown_staff")
    return tuple(row)


def rename(conn: Conn, person: str, name: str) -> None:
    """Change a person's name at every store."""
    name = clean_name(name)
    with conn.transaction():
        _lock(conn)
        if _person_row(conn, person)[0] == name:
            return
        conn.execute(
            "UPDATE staff_person SET name = %s, updated_at = now() WHERE id = %s", (name, person)
        )
        _bump_person(conn, person, "name")


def set_pin(conn: Conn, hash_pin: Hash, person: str, pin: str, stores: Iterable[str]) -> list[str]:
    """A new PIN for `person` at those of `stores` where they work; the stores it went to."""
    _check_pin(pin)
    pin_hash = hash_pin(pin)
    with conn.transaction():
        _lock(conn)
        if not _person_row(conn, person)[1]:
            raise Conflict(f"{person} has left; bring them back first", code="staff_inactive")
        targets = [
            r[0]
            for r in conn.execute(
                "SELECT store FROM staff_assignment WHERE person = %s AND active"
                " AND store = ANY(%s) ORDER BY store FOR UPDATE",
                (person, list(stores)),
            )
        ]
        if not targets:
            raise Conflict(f"{person} works at none of your stores", code="no_store")
        _unique_pin(conn, targets, pin, exclude=person)
        for store in targets:
            seq = _next(conn)
            conn.execute(
                "UPDATE staff_assignment SET pin_hash = %s, pin_seq = %s, change_seq = %s,"
                " updated_at = now() WHERE person = %s AND store = %s",
                (pin_hash, seq, seq, person, store),
            )
    return targets


def set_active(conn: Conn, hash_pin: Hash, person: str, *, active: bool, pin: str | None) -> None:
    """A person leaves the chain (signs in nowhere), or comes back with a new PIN (their old
    one may have gone to someone else meanwhile)."""
    if active:
        if not pin:
            raise Invalid(
                "give a new PIN when bringing someone back",
                code="pin_required",
                details={"field": "pin"},
            )
        _check_pin(pin)
    pin_hash = hash_pin(pin) if active and pin else None
    with conn.transaction():
        _lock(conn)
        if bool(_person_row(conn, person)[1]) == active:
            return
        stores = [
            r[0]
            for r in conn.execute(
                "SELECT store FROM staff_assignment WHERE person = %s AND active", (person,)
            )
        ]
        if active and pin:
            _unique_pin(conn, stores, pin, exclude=person)
        before = {store: _managers(conn, store) for store in stores}
        conn.execute(
            "UPDATE staff_person SET active = %s, updated_at = now() WHERE id = %s",
            (active, person),
        )
        _bump_person(conn, person, "active")
        if pin_hash is not None:
            conn.execute(
                "UPDATE staff_assignment SET pin_hash = %s, pin_seq = change_seq"
                " WHERE person = %s AND active",
                (pin_hash, person),
            )
        _keep_managers(conn, before)


# ---- the stores' own edits, from their directory uploads -------------------------------------


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def merge_upload(conn: Conn, store: str, directory: Directory) -> None:
    """Take a store's staff snapshot into the master (call inside the upload's transaction,
    before the snapshot is kept): people the store added become the master's; fields the
    store changed are taken under the conflict rule; lockouts are recorded. A snapshot no
    newer than the one the cloud holds changes nothing."""
    _lock(conn)
    held = conn.execute(
        "SELECT version FROM store_directory WHERE store = %s FOR UPDATE", (store,)
    ).fetchone()
    if held is not None and directory.version <= int(held[0]):
        return
    if len({s.id for s in directory.staff}) != len(directory.staff):
        return  # refused by apply_upload, which says why
    conn.execute("INSERT INTO store (id) VALUES (%s) ON CONFLICT DO NOTHING", (store,))
    for entry in directory.staff:
        _merge_entry(conn, store, entry)


def _merge_entry(conn: Conn, store: str, e: StaffEntry) -> None:
    row = conn.execute(
        "SELECT p.name, p.active, a.role, a.active, a.pin_hash, a.name_seq, a.role_seq,"
        " a.active_seq, a.pin_seq FROM staff_person p LEFT JOIN staff_assignment a"
        " ON a.person = p.id AND a.store = %s WHERE p.id = %s",
        (store, e.id),
    ).fetchone()
    if row is None or row[2] is None:
        if row is None:
            conn.execute(
                "INSERT INTO staff_person (id, name, added_by) VALUES (%s, %s, %s)",
                (e.id, e.name[:80], store),
            )
        seq = _next(conn)
        conn.execute(
            "INSERT INTO staff_assignment (person, store, role, active, pin_hash, change_seq,"
            " name_seq, role_seq, active_seq, pin_seq, store_seen_seq, locked_until, lockouts,"
            " reported_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
            (
                e.id,
                store,
                e.role,
                e.active,
                e.pin_hash,
                seq,
                seq,
                seq,
                seq,
                seq,
                e.hq_seq,
                _at(e.locked_until_ms),
                e.lockouts or 0,
            ),
        )
        _log.info("staff %s of store %s joins the master", e.id, store)
        return
    p_name, p_active, role, a_active, pin_hash, name_seq, role_seq, active_seq, pin_seq = row
    master = {"name": p_name, "role": role, "active": p_active and a_active, "pin": pin_hash}
    theirs = {"name": e.name, "role": e.role, "active": e.active, "pin": e.pin_hash}
    field_seq = {"name": name_seq, "role": role_seq, "active": active_seq, "pin": pin_seq}
    # An appliance older than the staff master never hears HQ's changes: it manages its own
    # staff, and what it sends stands.
    legacy = e.changed is None
    changed = set(theirs) if legacy else set(e.changed or ())
    taken = []
    for field in sorted(changed):
        if theirs[field] == master[field]:
            continue
        saw_ours = legacy or (e.hq_seq is not None and e.hq_seq >= field_seq[field])
        if saw_ours or (field == "active" and theirs[field] is False):
            taken.append(field)
    conn.execute(
        "UPDATE staff_assignment SET store_seen_seq = %s, locked_until = %s, lockouts = %s,"
        " reported_at = now() WHERE person = %s AND store = %s",
        (e.hq_seq, _at(e.locked_until_ms), e.lockouts or 0, e.id, store),
    )
    if not taken and (legacy or not changed):
        return
    if "name" in taken:
        conn.execute(
            "UPDATE staff_person SET name = %s, updated_at = now() WHERE id = %s",
            (e.name[:80], e.id),
        )
        _bump_person(conn, e.id, "name")
    if "active" in taken and e.active and not p_active:
        conn.execute(
            "UPDATE staff_person SET active = true, updated_at = now() WHERE id = %s", (e.id,)
        )
    # A new number even when nothing was taken: its echo tells the store that its edits have
    # been decided on, so it stops listing them.
    seq = _next(conn)
    sets = ["change_seq = %(seq)s", "updated_at = now()"]
    if "role" in taken:
        sets += ["role = %(role)s", "role_seq = %(seq)s"]
    if "active" in taken:
        sets += ["active = %(active)s", "active_seq = %(seq)s"]
    if "pin" in taken:
        sets += ["pin_hash = %(pin)s", "pin_seq = %(seq)s"]
    conn.execute(
        f"UPDATE staff_assignment SET {', '.join(sets)} WHERE person = %(person)s AND store = %(store)s",
        {
            "seq": seq,
            "role": e.role,
            "active": e.active,
            "pin": e.pin_hash,
            "person": e.id,
            "store": store,
        },
    )
    _log.info("staff %s at %s: took %s from the store", e.id, store, ",".join(taken) or "nothing")


# ---- the head, announced to the stores ------------------------------------------------------


class StaffHead:
    """Publishes the retained staff head after every change (LISTEN tillbox_staff, and a
    check every poll_s), on a thread of its own; the store responder runs one."""

    def __init__(self, dsn: str, publish: Callable[[int], None], *, poll_s: float = 5.0) -> None:
        self.dsn = dsn
        self._publish = publish
        self.poll_s = poll_s
        self.published: int | None = None
        self.due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching; returns at once."""
        self._thread = threading.Thread(target=self._loop, name="staff-head", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        conn: Conn | None = None
        delay = 0.5
        while not self._stopping.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(self.dsn)
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.due.set()
                version = head_version(conn)
                if version != self.published or self.due.is_set():
                    self.due.clear()
                    self._publish(version)
                    self.published = version
                delay = 0.5
                for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                    pass
            except Exception as exc:
                _log.warning("staff head: %s; retrying in %.1f s", exc, delay)
                if conn is not None:
                    conn.close()
                conn = None
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)
        if conn is not None:
            conn.close()


__all__ = [
    "Assignment",
    "Overrides",
    "Person",
    "StaffHead",
    "add_person",
    "assign",
    "changes_since",
    "get_person",
    "head_version",
    "list_people",
    "merge_upload",
    "overrides",
    "rename",
    "set_active",
    "set_pin",
    "unassign",
]
