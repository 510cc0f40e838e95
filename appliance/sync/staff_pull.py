"""Staff down-sync: head office's staff changes for this store, pulled and applied in order
(decisions.md §57).

The cloud announces its staff change number on the retained `tillbox/v1/catalog/staff-head`.
When it is not what this store has applied (`cloud_staff.version`), the store asks on its
`rpc/staff` topic for its changes since then (MQTT 5 request/response, one request in flight,
asked again after a timeout that doubles), exactly as the catalog pull does. Each page is
applied in one SQLite transaction together with the new version: a crash leaves the whole
page and its version or neither, and a page applied twice changes nothing.

A person may have been edited here too (`staff.changed` lists the fields, until head office's
echo of them arrives): a field edited here gives way to head office's value, except that a
deactivation here stands (it goes up in the directory upload and wins there too). HQ's own
staff sign in with the id head office gave them (hq-7) and the PIN it set.

Everything here runs on the uplink's worker thread except `heard`, which only queues.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from appliance.runtime import Runtime
from appliance.staff.directory import changed_fields
from protocol.envelope import format_at
from protocol.staff import (
    FIELDS,
    StaffChange,
    StaffReply,
    StaffRequest,
    parse_head,
    staff_head_topic,
)
from protocol.topics import rpc_reply_topic, rpc_request_topic

_log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, Properties], None]
PAGE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudStaff:
    """The store's side of the staff pull, as kept in SQLite."""

    version: int
    head: int | None
    applied_ms: int | None
    problem: str | None


def read_state(rt: Runtime) -> CloudStaff:
    """The staff change number applied here, the head last heard, the last problem."""
    row = rt.db.one("SELECT version, head, applied_ms, problem FROM cloud_staff WHERE id = 1")
    assert row is not None  # the migration made the row
    return CloudStaff(
        version=int(row["version"]),
        head=row["head"],
        applied_ms=row["applied_ms"],
        problem=row["problem"],
    )


def _apply_change(rt: Runtime, change: StaffChange, now: str) -> None:
    db = rt.db
    row = db.one(
        "SELECT name, role, active, pin_hash, changed FROM staff WHERE id = ?", (change.id,)
    )
    incoming: dict[str, object] = {
        "name": change.name,
        "role": change.role,
        "active": int(change.active),
        "pin": change.pin_hash,
    }
    if row is None:
        db.execute(
            "INSERT INTO staff (id, name, role, pin_hash, active, created_at, updated_at,"
            " hq_seq, changed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '')",
            (
                change.id,
                change.name,
                change.role,
                change.pin_hash,
                int(change.active),
                now,
                now,
                change.seq,
            ),
        )
        return
    local: dict[str, object] = {
        "name": row["name"],
        "role": row["role"],
        "active": int(row["active"]),
        "pin": row["pin_hash"],
    }
    pending = changed_fields(row["changed"])
    result = dict(incoming)
    for field in pending.copy():
        if local[field] == incoming[field]:
            pending.discard(field)  # head office has it: the echo of this store's edit
        elif field == "active" and local["active"] == 0:
            result["active"] = 0  # a deactivation here stands
        else:
            pending.discard(field)  # head office's value wins
    differs = result != local
    db.execute(
        "UPDATE staff SET name = ?, role = ?, active = ?, pin_hash = ?, hq_seq = ?, changed = ?,"
        " updated_at = CASE WHEN ? THEN ? ELSE updated_at END WHERE id = ?",
        (
            result["name"],
            result["role"],
            result["active"],
            result["pin"],
            change.seq,
            ",".join(f for f in FIELDS if f in pending),
            differs,
            now,
            change.id,
        ),
    )
    if local["active"] and not result["active"]:
        db.execute(
            "UPDATE staff_session SET ended_ms = ? WHERE staff_id = ? AND ended_ms IS NULL",
            (rt.now_ms(), change.id),
        )


def apply_page(rt: Runtime, since: int, reply: StaffReply) -> int:
    """Apply one page and record `reply.next` as the version, in one transaction; the
    version now applied."""
    db = rt.db
    now = format_at(rt.now_ms())
    with db.write():
        applied = read_state(rt).version
        if applied != since:
            return applied  # a late reply to an old request
        for change in reply.changes:
            _apply_change(rt, change, now)
        db.execute(
            "UPDATE cloud_staff SET version = ?, head = MAX(COALESCE(head, 0), ?),"
            " applied_ms = ?, problem = NULL, problem_ms = NULL WHERE id = 1",
            (reply.next, reply.head, rt.now_ms()),
        )
    if reply.changes:
        _log.info(
            "store %s: staff %s → %s (head %s): %s change(s)",
            rt.store,
            since,
            reply.next,
            reply.head,
            len(reply.changes),
        )
    return reply.next


def _record(rt: Runtime, sql: str, params: tuple[object, ...]) -> None:
    with rt.db.write():
        rt.db.execute(sql, params)


@dataclass
class _Asked:
    correlation: bytes
    since: int
    deadline: float
    timeout_s: float


class StaffPull:
    """The staff side of the uplink: hears the head and replies, asks for pages."""

    def __init__(self, rt: Runtime, publish: Publish) -> None:
        self.rt = rt
        self.store = rt.store
        self._publish = publish
        self._heard: queue.Queue[tuple[str, bytes, bytes | None]] = queue.Queue()
        self.applied = read_state(rt).version
        self.head: int | None = None
        self._asked: _Asked | None = None
        self.reply_topic = rpc_reply_topic(self.store, "staff")

    def subscriptions(self) -> list[tuple[str, int]]:
        """What the uplink subscribes to on connect, for staff."""
        return [(staff_head_topic(), 1), (self.reply_topic, 1)]

    def heard(self, topic: str, payload: bytes, correlation: bytes | None) -> bool:
        """Queue a message if it is staff's (paho's thread); whether it was."""
        if topic not in (staff_head_topic(), self.reply_topic):
            return False
        self._heard.put((topic, payload, correlation))
        return True

    def connected(self) -> None:
        """A new connection: whatever was asked may have been lost with the old one."""
        if self._asked is not None:
            self._asked.deadline = 0.0

    def drain(self) -> None:
        """Handle what was heard."""
        while True:
            try:
                topic, payload, correlation = self._heard.get_nowait()
            except queue.Empty:
                return
            if topic == self.reply_topic:
                self._on_reply(payload, correlation)
                continue
            version = parse_head(payload)
            if version is None:
                _log.warning("store %s: ignored a staff head %.200r", self.store, payload)
                continue
            if version != self.head:
                _record(self.rt, "UPDATE cloud_staff SET head = ? WHERE id = 1", (version,))
            self.head = version

    def step(self) -> None:
        """Ask for the next page when the head is not what is applied and nothing is asked,
        or what was asked has had no answer in time."""
        if self.head is None or (self.head == self.applied and self._asked is None):
            return
        now = time.monotonic()
        asked = self._asked
        if asked is not None and now < asked.deadline:
            return
        settings = self.rt.settings
        timeout_s = settings.sync_ack_timeout_ms / 1000
        if asked is not None and asked.deadline:
            timeout_s = min(asked.timeout_s * 2, settings.sync_ack_timeout_max_ms / 1000)
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        request = StaffRequest(since=self.applied, limit=PAGE)
        self._publish(rpc_request_topic(self.store, "staff"), msgspec.json.encode(request), props)
        self._asked = _Asked(
            correlation=correlation,
            since=self.applied,
            deadline=now + timeout_s,
            timeout_s=timeout_s,
        )

    def _on_reply(self, payload: bytes, correlation: bytes | None) -> None:
        asked = self._asked
        if asked is None or correlation != asked.correlation:
            return
        try:
            reply = msgspec.json.decode(payload, type=StaffReply)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            reply = StaffReply(error=f"the cloud's reply could not be read: {exc}")
        if reply.error is not None:
            # Asked again after the timeout (doubling); kept for the sync status meanwhile.
            _log.error("store %s: staff pull refused: %s", self.store, reply.error)
            _record(
                self.rt,
                "UPDATE cloud_staff SET problem = ?, problem_ms = ? WHERE id = 1",
                (reply.error[:500], self.rt.now_ms()),
            )
            return
        if reply.next < asked.since:
            _log.warning(
                "store %s: the cloud's staff (head %s) is older than applied here (%s):"
                " applying it again from 0",
                self.store,
                reply.head,
                asked.since,
            )
            _record(self.rt, "UPDATE cloud_staff SET version = 0 WHERE id = 1", ())
            self.applied, self.head, self._asked = 0, reply.head, None
            return
        self.applied = apply_page(self.rt, asked.since, reply)
        self.head = reply.head if self.head is None else max(self.head, reply.head)
        self._asked = None
