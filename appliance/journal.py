"""The journal: every event, per-origin hash-chained, stamped with a gap-free store sequence."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from appliance.db import Database, IntegrityError
from appliance.errors import Conflict, Invalid
from appliance.runtime import Runtime
from protocol.envelope import (
    Envelope,
    EnvelopeError,
    Override,
    decode_envelope,
    envelope_dict,
    format_at,
    seal,
    verify_hash,
)
from protocol.hlc import HLC
from protocol.ids import new_id

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stored:
    """An event as the journal holds it."""

    envelope: Envelope
    store_seq: int


def _cursor(rt: Runtime, origin: str) -> tuple[int, str | None]:
    """The last seq and hash the journal holds for an origin."""
    row = rt.db.one("SELECT last_seq, last_hash FROM origin_cursor WHERE origin = ?", (origin,))
    return (0, None) if row is None else (row["last_seq"], row["last_hash"])


def record(
    rt: Runtime,
    *,
    type: str,
    body: dict[str, Any],
    actor: str | None,
    override: Override | None = None,
) -> Stored:
    """Write an event made by the appliance itself, inside the caller's `rt.db.write()`.

    Called outside one, it makes its own: the seq, the HLC and the chain link are read and
    taken under the write lock, so two threads never claim the same seq, and HLCs grow with seq.
    """
    origin = rt.origin
    with rt.db.write():
        last_seq, last_hash = _cursor(rt, origin)
        envelope = seal(
            id=new_id(),
            type=type,
            store=rt.store,
            origin=origin,
            seq=last_seq + 1,
            hlc=str(rt.clock.now()),
            at=format_at(rt.now_ms()),
            actor=actor,
            override=override,
            body=body,
            prev=last_hash,
        )
        return append(rt, envelope)


def append(rt: Runtime, envelope: Envelope) -> Stored:
    """Store one envelope that continues its origin's chain, inside the caller's `rt.db.write()`.

    Outside one it makes its own, so the event and its origin's cursor never part.
    """
    with rt.db.write():
        return _append(rt, envelope)


def _append(rt: Runtime, envelope: Envelope) -> Stored:
    if envelope.store != rt.store:
        raise Invalid(
            f"event {envelope.id} belongs to store {envelope.store}, this is {rt.store}",
            code="wrong_store",
        )
    if not verify_hash(envelope):
        raise Invalid(f"event {envelope.id} does not match its hash", code="bad_hash")
    last_seq, last_hash = _cursor(rt, envelope.origin)
    if envelope.seq != last_seq + 1:
        raise Conflict(
            f"{envelope.origin} is at seq {last_seq}; event {envelope.id} has seq {envelope.seq}",
            code="seq_gap",
            details={"expected": {envelope.origin: last_seq + 1}},
        )
    return append_in_chain(rt, envelope, prev_hash=last_hash)


def append_in_chain(rt: Runtime, envelope: Envelope, *, prev_hash: str | None) -> Stored:
    """Store an envelope whose hash and seq the caller (the push, inside its write) checked,
    given the hash its origin's chain ends with."""
    if envelope.prev != prev_hash:
        raise Invalid(
            f"event {envelope.id} does not link to {envelope.origin}'s previous event",
            code="broken_chain",
        )
    hlc = HLC.parse(envelope.hlc)
    store_seq = int(rt.db.scalar("SELECT COALESCE(MAX(store_seq), 0) + 1 FROM event"))
    try:
        _insert_event(rt, envelope, hlc, store_seq)
    except IntegrityError:
        other = rt.db.one("SELECT origin, seq FROM event WHERE id = ?", (envelope.id,))
        if other is None:
            raise
        raise Conflict(
            f"event {envelope.id} is already held as {other['origin']} seq {other['seq']}",
            code="id_conflict",
            details={"id": envelope.id},
        ) from None
    rt.db.execute(
        "INSERT INTO origin_cursor (origin, last_seq, last_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (origin) DO UPDATE SET last_seq = excluded.last_seq,"
        " last_hash = excluded.last_hash",
        (envelope.origin, envelope.seq, envelope.hash),
    )
    # DEBUG: the journal itself is the record, and every line logged is an SD-card write.
    _log.debug(
        "journal store=%s origin=%s seq=%s store_seq=%s type=%s id=%s",
        envelope.store,
        envelope.origin,
        envelope.seq,
        store_seq,
        envelope.type,
        envelope.id,
    )
    return Stored(envelope=envelope, store_seq=store_seq)


def _insert_event(rt: Runtime, envelope: Envelope, hlc: HLC, store_seq: int) -> None:
    rt.db.execute(
        "INSERT INTO event (id, origin, seq, store_seq, type, hlc_wall, hlc_counter, at, actor,"
        " envelope, hash, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            envelope.id,
            envelope.origin,
            envelope.seq,
            store_seq,
            envelope.type,
            hlc.wall_ms,
            hlc.counter,
            envelope.at,
            envelope.actor,
            # Stored as plain JSON; the hash is over its canonical form, recomputed on verify.
            msgspec.json.encode(envelope_dict(envelope)).decode(),
            envelope.hash,
            rt.now_ms(),
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Break:
    """Where an origin's chain stops holding, and how."""

    origin: str
    seq: int
    event_id: str | None
    problem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """The result of walking every origin's chain."""

    events: int
    origins: int
    breaks: tuple[Break, ...]

    @property
    def ok(self) -> bool:
        """True when every chain holds and the store sequence has no gap."""
        return not self.breaks


def verify(db: Database) -> Verification:
    """Walk each origin's events by seq: contiguous from 1, each hash over its own content,
    each `prev` the hash before it. Reports the first broken link of every origin, and any
    gap in the store sequence (a deleted row)."""
    breaks: list[Break] = []
    events = 0
    origins: set[str] = set()
    broken: set[str] = set()
    expected_seq: dict[str, int] = {}
    last_hash: dict[str, str | None] = {}
    cursor = db.execute("SELECT id, origin, seq, hash, envelope FROM event ORDER BY origin, seq")
    for row in cursor:
        events += 1
        origin = row["origin"]
        origins.add(origin)
        if origin in broken:
            continue
        want = expected_seq.get(origin, 1)
        problem = None
        try:
            envelope = decode_envelope(json.loads(row["envelope"]))
        except (EnvelopeError, ValueError) as exc:
            envelope = None
            problem = f"the stored envelope is not readable ({exc})"
        if problem is None and envelope is not None:
            if row["seq"] != want:
                problem = f"seq {want} is missing (deleted, or the chain was cut)"
            elif (
                envelope.id != row["id"] or envelope.seq != row["seq"] or envelope.origin != origin
            ):
                problem = "the row's id, seq or origin differ from its envelope (edited)"
            elif not verify_hash(envelope) or envelope.hash != row["hash"]:
                problem = "its content does not match its hash (edited)"
            elif envelope.prev != last_hash.get(origin):
                problem = f"it does not link to seq {want - 1} (reordered, replaced or edited)"
        if problem is not None:
            broken.add(origin)
            breaks.append(Break(origin=origin, seq=row["seq"], event_id=row["id"], problem=problem))
            continue
        expected_seq[origin] = want + 1
        last_hash[origin] = row["hash"]
    for row in db.query("SELECT origin, last_seq FROM origin_cursor"):
        origin = row["origin"]
        if origin not in broken and expected_seq.get(origin, 1) - 1 != row["last_seq"]:
            breaks.append(
                Break(
                    origin=origin,
                    seq=row["last_seq"],
                    event_id=None,
                    problem=f"the journal ends at seq {expected_seq.get(origin, 1) - 1} but "
                    f"{row['last_seq']} were acknowledged (events deleted)",
                )
            )
    gap = db.one(
        "SELECT count(*) AS n, COALESCE(MAX(store_seq), 0) AS top, COALESCE(MIN(store_seq), 1) AS low"
        " FROM event"
    )
    if gap is not None and (gap["n"] != gap["top"] or gap["low"] != 1):
        breaks.append(
            Break(
                origin="(store)",
                seq=int(gap["top"]),
                event_id=None,
                problem=f"the store sequence has gaps: {gap['n']} events for store_seq up to "
                f"{gap['top']} (a row was deleted)",
            )
        )
    return Verification(events=events, origins=len(origins), breaks=tuple(breaks))
