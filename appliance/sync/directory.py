"""The store's directory, uploaded to the cloud so a replacement appliance can be rebuilt.

Staff (with their argon2id PIN hashes and roles), registers (with their device token
hashes), reason codes and the store's policy settings are not events: they travel as one
snapshot (`protocol.directory.Directory`) whose version grows by one whenever its content
changes. The ids this appliance gave its variants, which events name, go after it in rowid
order, a page at a time. Both go on the store's `rpc/directory` topic (MQTT 5 request and
response, as the catalog pull does) and count as sent only when the cloud's reply says it
holds them: one request in flight, asked again after a timeout that doubles
(decisions.md §42). The state is in `cloud_directory` (migration 0011).

Everything here runs on the uplink's worker thread except `heard`, which only queues.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.db import Database
from appliance.runtime import Runtime
from appliance.settings import Settings
from protocol.directory import (
    MAX_VARIANTS_PAGE,
    Directory,
    DirectoryAck,
    DirectoryUpload,
    ReasonEntry,
    RegisterEntry,
    StaffEntry,
)
from protocol.staff import FIELDS
from protocol.topics import rpc_reply_topic, rpc_request_topic

_log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, Properties], None]

# The settings a replacement appliance must have to carry on as the store did: its name and
# money, its tax and discount rules, its PIN and session policy, its receipt texts. Not the
# machine's own (ports, paths, the broker, secrets).
STORE_SETTINGS = (
    "store_name",
    "currency",
    "locale",
    "timezone",
    "tax_classes",
    "tax_rates_ppm",
    "tax_mode",
    "tax_rounding",
    "discount_threshold_bp",
    "no_receipt_refunds",
    "staff_idle_minutes",
    "staff_session_max_hours",
    "pin_max_failures",
    "pin_lockout_minutes",
    "pin_failure_window_minutes",
    "override_ttl_seconds",
    "receipt_header",
    "receipt_footer",
)


def store_settings(settings: Settings) -> dict[str, Any]:
    """The store's policy settings as plain JSON values."""
    out: dict[str, Any] = {}
    for name in STORE_SETTINGS:
        value = getattr(settings, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def snapshot(db: Database, settings: Settings, version: int) -> Directory:
    """The directory as it stands, numbered `version`."""
    staff = [
        StaffEntry(
            id=r["id"],
            name=r["name"],
            role=r["role"],
            pin_hash=r["pin_hash"],
            active=bool(r["active"]),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            # The staff master's sync and the lockouts head office shows (decisions.md §57).
            hq_seq=r["hq_seq"],
            changed=[f for f in FIELDS if f in str(r["changed"]).split(",")],  # type: ignore[misc]
            locked_until_ms=r["locked_until_ms"],
            lockouts=r["lockouts"],
        )
        for r in db.query(
            "SELECT id, name, role, pin_hash, active, created_at, updated_at, hq_seq, changed,"
            " locked_until_ms, lockouts FROM staff ORDER BY id"
        )
    ]
    registers = [
        RegisterEntry(
            id=r["id"],
            name=r["name"],
            token_hash=r["token_hash"],
            created_at=r["created_at"],
            paired_by=r["paired_by"],
            revoked_at=r["revoked_at"],
        )
        for r in db.query(
            "SELECT id, name, token_hash, created_at, paired_by, revoked_at FROM register"
            " ORDER BY id"
        )
    ]
    reasons = [
        ReasonEntry(
            code=r["code"],
            kind=r["kind"],
            label=r["label"],
            disposition=r["disposition"],
            active=bool(r["active"]),
        )
        for r in db.query(
            "SELECT code, kind, label, disposition, active FROM reason_code ORDER BY code"
        )
    ]
    return Directory(
        version=version,
        staff=staff,
        registers=registers,
        reasons=reasons,
        settings=store_settings(settings),
    )


def content_hash(directory: Directory) -> str:
    """The hash of everything but the version: what says the content changed."""
    content = msgspec.structs.replace(directory, version=1)
    return hashlib.sha256(msgspec.json.encode(content)).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryState:
    """What was last built, what the cloud holds, and how far the variant ids went."""

    version: int
    hash: str | None
    acked_version: int
    variants_through: int


def read_state(db: Database) -> DirectoryState:
    """The upload's state as kept in SQLite."""
    row = db.one(
        "SELECT version, hash, acked_version, variants_through FROM cloud_directory WHERE id = 1"
    )
    assert row is not None  # the migration made the row
    return DirectoryState(
        version=int(row["version"]),
        hash=row["hash"],
        acked_version=int(row["acked_version"]),
        variants_through=int(row["variants_through"]),
    )


def refresh(rt: Runtime) -> Directory:
    """The current snapshot; a new version is recorded when its content changed."""
    db = rt.db
    with db.write():
        state = read_state(db)
        current = snapshot(db, rt.settings, max(state.version, 1))
        digest = content_hash(current)
        if digest != state.hash:
            version = state.version + 1
            current = msgspec.structs.replace(current, version=version)
            db.execute(
                "UPDATE cloud_directory SET version = ?, hash = ? WHERE id = 1", (version, digest)
            )
    return current


def variant_ids(db: Database, after: int, limit: int) -> list[tuple[int, str, str]]:
    """Variant ids (rowid, uid, sku) after rowid `after`."""
    return [
        (int(r["id"]), str(r["uid"]), str(r["sku"]))
        for r in db.query(
            "SELECT id, uid, sku FROM variant WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
    ]


@dataclass
class _Asked:
    correlation: bytes
    version: int | None
    variants_last: int | None
    deadline: float
    timeout_s: float


class DirectoryPush:
    """The directory side of the uplink: builds the snapshot, uploads it and the variant ids."""

    def __init__(self, rt: Runtime, publish: Publish) -> None:
        self.rt = rt
        self.store = rt.store
        self._publish = publish
        self._heard: queue.Queue[tuple[bytes, bytes | None]] = queue.Queue()
        self._asked: _Asked | None = None
        self._next_check = 0.0
        self._current: Directory | None = None
        self.reply_topic = rpc_reply_topic(self.store, "directory")

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the uplink subscribes to on connect, for the directory."""
        return [(self.reply_topic, 1)]

    def heard(self, topic: str, payload: bytes, correlation: bytes | None) -> bool:
        """Queue a reply (paho's thread); whether the message was the directory's."""
        if topic != self.reply_topic:
            return False
        self._heard.put((payload, correlation))
        return True

    def connected(self) -> None:
        """A new connection: what was asked may be lost; look at the directory again now."""
        if self._asked is not None:
            self._asked.deadline = 0.0
        self._next_check = 0.0

    def drain(self) -> None:
        """Handle the replies heard."""
        while True:
            try:
                payload, correlation = self._heard.get_nowait()
            except queue.Empty:
                return
            self._on_reply(payload, correlation)

    def step(self) -> None:
        """Build the snapshot now and then (every heartbeat); send what the cloud lacks."""
        now = time.monotonic()
        settings = self.rt.settings
        if now >= self._next_check:
            self._next_check = now + settings.sync_heartbeat_ms / 1000
            self._current = refresh(self.rt)
        asked = self._asked
        if asked is not None and now < asked.deadline:
            return
        state = read_state(self.rt.db)
        directory = self._current if state.acked_version < state.version else None
        variants = variant_ids(self.rt.db, state.variants_through, MAX_VARIANTS_PAGE)
        if directory is None and not variants:
            self._asked = None
            return
        timeout_s = settings.sync_ack_timeout_ms / 1000
        if asked is not None and asked.deadline:
            timeout_s = min(asked.timeout_s * 2, settings.sync_ack_timeout_max_ms / 1000)
        upload = DirectoryUpload(
            directory=directory,
            variants_after=state.variants_through if variants else None,
            variants=variants,
        )
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        self._publish(
            rpc_request_topic(self.store, "directory"), msgspec.json.encode(upload), props
        )
        self._asked = _Asked(
            correlation=correlation,
            version=None if directory is None else directory.version,
            variants_last=variants[-1][0] if variants else None,
            deadline=now + timeout_s,
            timeout_s=timeout_s,
        )

    def _on_reply(self, payload: bytes, correlation: bytes | None) -> None:
        asked = self._asked
        if asked is None or correlation != asked.correlation:
            return
        try:
            ack = msgspec.json.decode(payload, type=DirectoryAck)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            _log.error("store %s: a directory reply that is not one: %s", self.store, exc)
            return
        db = self.rt.db
        if ack.error is not None:
            # Asked again after the timeout (doubling to the maximum); the fix is a bug fix.
            _log.error("store %s: the cloud refused the directory: %s", self.store, ack.error)
            with db.write():
                db.execute("UPDATE cloud_directory SET problem = ? WHERE id = 1", (ack.error,))
            return
        with db.write():
            state = read_state(db)
            acked = state.acked_version
            version = state.version
            if ack.version is not None:
                acked = max(acked, min(ack.version, version))
                if ack.version > version:
                    # The cloud holds a later snapshot than this database made (a database
                    # restored from a backup): number the next one above it.
                    version = ack.version
                    db.execute("UPDATE cloud_directory SET hash = NULL WHERE id = 1")
                    self._next_check = 0.0
            through = state.variants_through
            if (
                ack.variants_through is not None
                and asked.variants_last is not None
                and ack.variants_through == asked.variants_last
            ):
                through = ack.variants_through
            db.execute(
                "UPDATE cloud_directory SET version = ?, acked_version = ?, acked_ms = ?,"
                " variants_through = ?, problem = NULL WHERE id = 1",
                (version, acked, self.rt.now_ms(), through),
            )
        self._asked = None
