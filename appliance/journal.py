"""The journal: every event, per-origin hash-chained, stamped with a gap-free store sequence."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from appliance.errors import Conflict, Invalid
from appliance.runtime import Runtime
from protocol.canonical import canonical_json
from protocol.envelope import Envelope, Override, envelope_dict, format_at, seal, verify_hash
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
            details={"expected": last_seq + 1},
        )
    if envelope.prev != last_hash:
        raise Invalid(
            f"event {envelope.id} does not link to {envelope.origin}'s previous event",
            code="broken_chain",
        )
    hlc = HLC.parse(envelope.hlc)
    store_seq = int(rt.db.scalar("SELECT COALESCE(MAX(store_seq), 0) + 1 FROM event"))
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
            canonical_json(envelope_dict(envelope)).decode(),
            envelope.hash,
            rt.now_ms(),
        ),
    )
    rt.db.execute(
        "INSERT INTO origin_cursor (origin, last_seq, last_hash) VALUES (?, ?, ?) "
        "ON CONFLICT (origin) DO UPDATE SET last_seq = excluded.last_seq,"
        " last_hash = excluded.last_hash",
        (envelope.origin, envelope.seq, envelope.hash),
    )
    _log.info(
        "journal store=%s origin=%s seq=%s store_seq=%s type=%s id=%s",
        envelope.store,
        envelope.origin,
        envelope.seq,
        store_seq,
        envelope.type,
        envelope.id,
    )
    return Stored(envelope=envelope, store_seq=store_seq)
