"""A store's directory in the cloud, and what a replacement appliance reads back from it.

The appliance uploads its directory (staff, registers, reason codes, settings) as a versioned
snapshot and its variants' ids in rowid order (`protocol.directory`); `apply_upload` keeps
them in the 0008 tables. `restore_begin` takes the store's next appliance generation under
its cursor lock and answers what the cloud holds; `restore_variants` and `restore_events`
page through it (decisions.md §42). Every function takes a connection in autocommit mode and
runs its own transaction.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from cloud.catalog import head_version
from protocol.directory import (
    MAX_EVENTS_PAGE,
    Directory,
    DirectoryAck,
    DirectoryUpload,
    ReasonEntry,
    RegisterEntry,
    RestoreBegin,
    RestoreError,
    RestoreEvent,
    RestoreEvents,
    RestoreRequest,
    RestoreVariants,
    StaffEntry,
)

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

_Entry = TypeVar("_Entry", StaffEntry, RegisterEntry, ReasonEntry)

# The envelope's origin pattern has room for s01-ap … s01-ap99.
MAX_GENERATION = 99


def _problem(store: str, upload: DirectoryUpload) -> str | None:
    """Why the upload cannot be the store's (ids of another store), or None."""
    if upload.directory is not None:
        for register in upload.directory.registers:
            if not register.id.startswith(f"{store}-r"):
                return f"register {register.id} is not one of {store}'s"
        if len({s.id for s in upload.directory.staff}) != len(upload.directory.staff):
            return "a staff id is listed twice"
    if upload.variants and upload.variants_after is None:
        return "variants need variants_after"
    previous = upload.variants_after or 0
    for local_id, _, _ in upload.variants:
        if local_id <= previous:
            return "variant ids must come in increasing rowid order after variants_after"
        previous = local_id
    return None


def apply_upload(conn: Conn, store: str, upload: DirectoryUpload) -> DirectoryAck:
    """Keep a store's directory snapshot (if newer than the one held) and variant ids."""
    problem = _problem(store, upload)
    if problem is not None:
        return DirectoryAck(error=problem)
    with conn.transaction():
        conn.execute("INSERT INTO store (id) VALUES (%s) ON CONFLICT DO NOTHING", (store,))
        row = conn.execute(
            "SELECT version FROM store_directory WHERE store = %s FOR UPDATE", (store,)
        ).fetchone()
        held = None if row is None else int(row[0])
        directory = upload.directory
        if directory is not None and (held is None or directory.version > held):
            _replace_directory(conn, store, directory, create=held is None)
            held = directory.version
        through = None
        if upload.variants_after is not None:
            if upload.variants:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO store_variant (store, uid, sku, local_id)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (store, uid)"
                        " DO UPDATE SET sku = excluded.sku, local_id = excluded.local_id",
                        [(store, uid, sku, local_id) for local_id, uid, sku in upload.variants],
                    )
                through = upload.variants[-1][0]
            else:
                through = upload.variants_after
    return DirectoryAck(version=held, variants_through=through)


def _replace_directory(conn: Conn, store: str, directory: Directory, *, create: bool) -> None:
    if create:
        conn.execute(
            "INSERT INTO store_directory (store, version, settings) VALUES (%s, %s, %s)",
            (store, directory.version, Jsonb(directory.settings)),
        )
    else:
        conn.execute(
            "UPDATE store_directory SET version = %s, settings = %s, received_at = now()"
            " WHERE store = %s",
            (directory.version, Jsonb(directory.settings), store),
        )
    # Rows the store manages are the snapshot's; HQ's own staff (issue 7) are left alone.
    conn.execute("DELETE FROM store_staff WHERE store = %s AND source = 'store'", (store,))
    conn.execute("DELETE FROM store_register WHERE store = %s", (store,))
    conn.execute("DELETE FROM store_reason WHERE store = %s", (store,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO store_staff (store, id, name, role, pin_hash, active, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (store, id) DO NOTHING",
            [
                (store, s.id, s.name, s.role, s.pin_hash, s.active, s.created_at, s.updated_at)
                for s in directory.staff
            ],
        )
        cur.executemany(
            "INSERT INTO store_register (store, id, name, token_hash, created_at, paired_by,"
            " revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (store, r.id, r.name, r.token_hash, r.created_at, r.paired_by, r.revoked_at)
                for r in directory.registers
            ],
        )
        cur.executemany(
            "INSERT INTO store_reason (store, code, kind, label, disposition, active)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(store, r.code, r.kind, r.label, r.disposition, r.active) for r in directory.reasons],
        )


def _entries(conn: Conn, entry: type[_Entry], sql: str, store: str) -> list[_Entry]:
    """sql's rows for the store as entry structs: its columns are named as entry's fields."""
    with conn.cursor(row_factory=class_row(entry)) as cur:
        return cur.execute(sql, (store,)).fetchall()


def read_directory(conn: Conn, store: str) -> Directory | None:
    """The directory the cloud holds for a store, or None before its first upload."""
    row = conn.execute(
        "SELECT version, settings FROM store_directory WHERE store = %s", (store,)
    ).fetchone()
    if row is None:
        return None
    staff = _entries(
        conn,
        StaffEntry,
        "SELECT id, name, role, pin_hash, active, created_at, updated_at FROM store_staff"
        " WHERE store = %s ORDER BY id",
        store,
    )
    registers = _entries(
        conn,
        RegisterEntry,
        "SELECT id, name, token_hash, created_at, paired_by, revoked_at FROM store_register"
        " WHERE store = %s ORDER BY id",
        store,
    )
    reasons = _entries(
        conn,
        ReasonEntry,
        "SELECT code, kind, label, disposition, active FROM store_reason"
        " WHERE store = %s ORDER BY code",
        store,
    )
    return Directory(
        version=int(row[0]), staff=staff, registers=registers, reasons=reasons, settings=row[1]
    )


def restore_begin(conn: Conn, store: str) -> RestoreBegin | RestoreError:
    """Take the store's next appliance generation and read what the cloud holds of it.

    The cursor row is locked first, so a batch being ingested finishes before the cursor is
    read, and none starts until this commits."""
    with conn.transaction():
        cursor = conn.execute(
            "SELECT applied_through FROM store_cursor WHERE store = %s FOR UPDATE", (store,)
        ).fetchone()
        generation = conn.execute(
            "UPDATE store_directory SET generation = generation + 1"
            " WHERE store = %s AND generation < %s RETURNING generation",
            (store, MAX_GENERATION),
        ).fetchone()
        directory = read_directory(conn, store)
        if directory is None:
            return RestoreError(
                error=f"the cloud holds no directory for store {store}: its appliance never "
                "uploaded one, so staff and registers cannot be restored"
            )
        if generation is None:
            return RestoreError(error=f"store {store} has had {MAX_GENERATION} appliances")
        origins = {
            str(origin): int(seq)
            for origin, seq in conn.execute(
                "SELECT id, last_seq FROM origin WHERE store = %s ORDER BY id", (store,)
            )
        }
        status = conn.execute(
            "SELECT outbox_depth, extract(epoch FROM last_online_at) * 1000"
            " FROM appliance_status WHERE store = %s",
            (store,),
        ).fetchone()
        head = head_version(conn)
    _log.info(
        "restore store=%s generation=%s applied_through=%s",
        store,
        generation[0],
        0 if cursor is None else cursor[0],
    )
    return RestoreBegin(
        store=store,
        generation=int(generation[0]),
        applied_through=0 if cursor is None else int(cursor[0]),
        origins=origins,
        directory=directory,
        catalog_head=head,
        last_outbox_depth=None if status is None or status[0] is None else int(status[0]),
        last_online_ms=None if status is None or status[1] is None else int(status[1]),
    )


def restore_variants(conn: Conn, store: str, request: RestoreRequest) -> RestoreVariants:
    """The store's variant ids (uid, sku) after `after_uid`, in uid order."""
    rows = conn.execute(
        "SELECT uid::text, sku FROM store_variant WHERE store = %s AND uid > %s"
        " ORDER BY uid LIMIT %s",
        (store, request.after_uid or "00000000-0000-0000-0000-000000000000", request.limit),
    ).fetchall()
    return RestoreVariants(variants=[(str(uid), str(sku)) for uid, sku in rows])


def restore_events(conn: Conn, store: str, request: RestoreRequest) -> RestoreEvents:
    """The store's events after `after` through `through`, in store_seq order."""
    rows = conn.execute(
        "SELECT store_seq, envelope FROM event WHERE store = %s AND store_seq > %s"
        " AND store_seq <= %s ORDER BY store_seq LIMIT %s",
        (store, request.after, request.through, min(request.limit, MAX_EVENTS_PAGE)),
    ).fetchall()
    return RestoreEvents(
        events=[RestoreEvent(store_seq=int(seq), envelope=envelope) for seq, envelope in rows]
    )
