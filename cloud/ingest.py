"""Ingest one store's batch of events into PostgreSQL, exactly once, in one transaction.

A batch is what the appliance publishes on `tillbox/v1/stores/{store}/events`:
`{"from": n, "to": m, "events": [envelope, …]}`, the envelopes of store_seq n..m in order
(store_seq travels beside the hash, as the batch position). The answer is the ack the worker publishes after the commit:
`{"applied_through": n}`, or `{"expected": n}` on a gap (ARCHITECTURE.md, "Hop 2").

A payload that cannot be read, or that speaks for another store, is kept in `dead_letter`
with its raw bytes, an alert is raised, and it is answered with the store's cursor as it
stands: the message is consumed (the shared subscription never stalls on it) and the
appliance, told where the cloud is, resends from there (decisions.md §34).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from cloud import audit_facts, low_stock, rollups, transfers
from cloud.balances import KINDS as BALANCE_KINDS
from cloud.balances import book_events
from cloud.skew import flag_clock_skew
from protocol.bodies import (
    BodyError,
    ReceiptRequested,
    ReturnCompleted,
    SaleCompleted,
    SaleVoided,
    ShiftClosed,
    ShiftOpened,
    StockAdjusted,
    StockCounted,
    StockReceived,
    TransferReceived,
    TransferShipped,
    decode_body,
)
from protocol.envelope import (
    ACTOR_RE,
    EVENT_TYPES,
    HASH_RE,
    ID_RE,
    MAX_SEQ,
    ORIGIN_RE,
    STORE_RE,
    Envelope,
    EnvelopeError,
    Override,
    decode_envelope,
    envelope_dict,
    parse_at,
    verify_hash,
    verify_link,
)
from protocol.hlc import HLC
from protocol.pricing import Discount, DiscountKind, LineInput, TaxMode, TaxRounding, price_sale
from protocol.stock import Movement

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

# ARCHITECTURE.md: a batch is at most 500 events or 256 KiB, but one event bigger than that
# (a full stock count) goes alone; only a payload beyond any real batch is refused unread.
MAX_BATCH_EVENTS = 500
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
# Above this many events the batch is staged with COPY, below it one multi-row INSERT.
COPY_THRESHOLD = 100

_EVENT_COLUMNS = "id, store, origin, seq, store_seq, type, hlc, at, actor, envelope"
_LEDGER_COLUMNS = (
    "event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node, origin, at, reason"
)
_EVENT_TYPES = "uuid, text, text, bigint, bigint, text, text, timestamptz, text, jsonb"
_LEDGER_TYPES = (
    "uuid, integer, text, uuid, text, bigint, bigint, integer, text, text, timestamptz, text"
)
_FACT_TYPES = (
    "uuid, integer, text, text, text, text, timestamptz, uuid, bigint, integer, bigint, bigint,"
    " bigint, text"
)
_COUNT = Movement.COUNT.value
_FACT_COLUMNS = (
    "event, line, kind, store, register, receipt, at, variant, qty, qty_scale, net, tax,"
    " discount, currency"
)


def events_topic(store: str) -> str:
    """The topic a store publishes its batches on."""
    return f"tillbox/v1/stores/{store}/events"


class Poison(ValueError):
    """A payload that is not a batch this store may send; `kind` names the alert."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One event of a batch: its envelope, its typed body and the store_seq beside it.

    `content` is the envelope's content hash and `text` its JSON as received, when the batch
    was decoded on the fast path; otherwise both are None and worked out from `envelope`.
    """

    store_seq: int
    envelope: Envelope
    body: Any
    hlc: HLC
    content: str | None = None
    text: str | None = None

    def hash_matches(self) -> bool:
        """Whether the envelope's hash is the content hash of the rest of it."""
        if self.content is not None:
            return self.content == self.envelope.hash
        return verify_hash(self.envelope)


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """A decoded batch, contiguous from `first` to `last` in store_seq."""

    first: int
    last: int
    items: tuple[Item, ...]
    # The sending appliance's origin, which a replacement appliance names (s01-ap2): after a
    # restore the cloud takes batches only from the store's current appliance (§42).
    appliance: str | None = None
    # The batch's receipt requests (email or SMS) that its appliance queued for the cloud to
    # send (§48); the others are the appliance's own.
    cloud_sends: frozenset[str] = frozenset()


def _seq(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Poison("poison", f"{name} must be a positive integer")
    return value


class _Frame(msgspec.Struct, forbid_unknown_fields=True):
    """A batch's frame, its envelopes left as the bytes that came."""

    events: list[msgspec.Raw]
    first: int = msgspec.field(name="from")
    last: int = msgspec.field(name="to")
    ap: object = None
    cloud_sends: object = None


# A replacement appliance's origin (the first appliance, s01-ap, sends none).
_APPLIANCE = re.compile(r"[a-z][a-z0-9]{1,15}-ap(?:[2-9]|[1-9][0-9])")


def _appliance(value: object, topic_store: str) -> str | None:
    """The batch's `ap`: absent, or a replacement appliance origin of the topic's store."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not _APPLIANCE.fullmatch(value)
        or not value.startswith(f"{topic_store}-")
    ):
        raise Poison("poison", f"ap must be one of {topic_store}'s appliance origins")
    return value


def _cloud_sends(value: object, items: Sequence[Item]) -> frozenset[str]:
    """The batch's `cloud_sends`: absent, or ids of its own email and SMS receipt requests."""
    if value is None:
        return frozenset()
    requests = {
        item.envelope.id
        for item in items
        if isinstance(item.body, ReceiptRequested) and item.body.channel in ("email", "sms")
    }
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in requests for v in value)
        or len(set(value)) != len(value)
    ):
        raise Poison(
            "poison", "cloud_sends must list the batch's own email or SMS receipt requests, once"
        )
    return frozenset(value)


# The fast path's canonical form: msgspec's sorted, compact output, which is byte for byte
# RFC 8785 for trees of strings, ASCII keys, booleans, nulls and integers within ±2**53
# (protocol/canonical.py; a property test holds the two equal).
_sorted_json = msgspec.json.Encoder(order="sorted").encode
# Spotting a JSON number of 16 digits or more: with digits made "0", and JSON's whitespace,
# `,`, `[` and `-` made `:`, such a number is `:` and a run of 16 "0". A string can look
# like one too (a text with "no. 1234…"); that only sends the batch the slow way.
_NUMBER_SHAPE = bytes.maketrans(b"0123456789,[ \t\r\n-", b"0" * 10 + b":" * 7)
_LONG_NUMBER = b":" + b"0" * 16


def _whole(pattern: str) -> str:
    """The pattern for msgspec, which searches: `$` would let a final newline through, where
    decode_envelope's fullmatch does not."""
    return pattern.removesuffix("$") + r"\Z"


_Id = Annotated[str, msgspec.Meta(pattern=_whole(ID_RE))]
_Actor = Annotated[str, msgspec.Meta(pattern=_whole(ACTOR_RE))]
_Hash = Annotated[str, msgspec.Meta(pattern=_whole(HASH_RE))]


class _WireOverride(msgspec.Struct, forbid_unknown_fields=True):
    id: _Id
    action: str
    approver: _Actor
    offline: bool


class _WireEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    """decode_envelope's rules that msgspec can check in C; the rest are checked after it."""

    v: Literal[1]
    id: _Id
    type: Literal[tuple(sorted(EVENT_TYPES))]  # type: ignore[valid-type]
    store: Annotated[str, msgspec.Meta(pattern=_whole(STORE_RE))]
    origin: Annotated[str, msgspec.Meta(pattern=_whole(ORIGIN_RE))]
    seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
    hlc: str
    at: str
    actor: _Actor | None
    override: _WireOverride | None
    body: dict[str, Any]
    prev: _Hash | None
    hash: _Hash


def _plain_envelope(obj: Any) -> tuple[Envelope, HLC] | None:
    """An envelope and its HLC if it passes every rule of decode_envelope (for a payload
    `_plain_payload` passed), else None and decode_envelope says what is wrong."""
    try:
        wire = msgspec.convert(obj, _WireEnvelope, strict=True)
        hlc = HLC.parse(wire.hlc)
        parse_at(wire.at)
    except (msgspec.ValidationError, ValueError):
        return None
    if (
        hlc.node != wire.origin
        or not wire.origin.startswith(wire.store + "-")
        or (wire.prev is None) != (wire.seq == 1)
    ):
        return None
    override = wire.override
    env = Envelope(
        v=1,
        id=wire.id,
        type=wire.type,
        store=wire.store,
        origin=wire.origin,
        seq=wire.seq,
        hlc=wire.hlc,
        at=wire.at,
        actor=wire.actor,
        override=None
        if override is None
        else Override(
            id=override.id,
            action=override.action,
            approver=override.approver,
            offline=override.offline,
        ),
        body=obj["body"],
        prev=wire.prev,
        hash=wire.hash,
    )
    return env, hlc


def _plain_payload(payload: bytes) -> bool:
    """Whether every value in the payload is one the fast path checks exactly as
    decode_envelope does: ASCII without escapes (so no lone surrogates and no keys JCS would
    sort otherwise) and no integer beyond ±2**53 (15 digits at most)."""
    if not payload.isascii() or b"\\u" in payload:
        return False
    return _LONG_NUMBER not in payload.translate(_NUMBER_SHAPE)


def decode_batch(topic_store: str, payload: bytes) -> Batch:
    """Validate a payload as a batch of `topic_store`'s events; Poison otherwise."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Poison("poison", f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    if _plain_payload(payload):
        try:
            frame = msgspec.json.decode(payload, type=_Frame)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass  # the slow path says what is wrong with it
        else:
            return _decode_plain(topic_store, frame)
    return _decode_any(topic_store, payload)


def _frame_checks(first: object, last: object, events: object) -> tuple[int, int]:
    first, last = _seq(first, "from"), _seq(last, "to")
    if not isinstance(events, list) or not events or len(events) > MAX_BATCH_EVENTS:
        raise Poison("poison", f"events must be a list of 1 to {MAX_BATCH_EVENTS} events")
    if last - first + 1 != len(events):
        raise Poison("poison", f"from {first} to {last} does not hold {len(events)} events")
    return first, last


def _decode_plain(topic_store: str, frame: _Frame) -> Batch:
    """The fast path, for a payload `_plain_payload` passed.

    Each envelope's fields other than its body are checked by msgspec (`_WireEnvelope`) and
    the rules it cannot say, as decode_envelope does them; the body by its typed msgspec record (which has no float fields and nests a few levels at
    most), and the payload check stands for the rest of what decode_envelope asks of a body.
    The content hash is then the sha256 of msgspec's sorted form, which is RFC 8785 here.
    Whatever the fast path does not accept goes through `_decode_entry`, which accepts or
    refuses it exactly as before.
    """
    first, last = _frame_checks(frame.first, frame.last, frame.events)
    appliance = _appliance(frame.ap, topic_store)
    items = []
    for index, raw in enumerate(frame.events):
        store_seq = first + index
        obj = msgspec.json.decode(raw)
        item = None
        checked = _plain_envelope(obj)
        if checked is not None:
            env, hlc = checked
            try:
                body = decode_body(env.type, env.body)
            except BodyError:
                pass
            else:
                unsealed = {key: value for key, value in obj.items() if key != "hash"}
                item = Item(
                    store_seq=store_seq,
                    envelope=env,
                    body=body,
                    hlc=hlc,
                    content=hashlib.sha256(_sorted_json(unsealed)).hexdigest(),
                    text=bytes(raw).decode("ascii"),
                )
        if item is None:
            item = _decode_entry(topic_store, index, store_seq, obj)
        elif item.envelope.store != topic_store:
            raise Poison(
                "wrong_store",
                f"event {item.envelope.id} is store {item.envelope.store}'s,"
                f" on {topic_store}'s topic",
            )
        items.append(item)
    return Batch(
        first=first,
        last=last,
        items=tuple(items),
        appliance=appliance,
        cloud_sends=_cloud_sends(frame.cloud_sends, items),
    )


def _decode_any(topic_store: str, payload: bytes) -> Batch:
    """The general path: any payload, each envelope checked by decode_envelope in full."""
    try:
        raw = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # Bytes that are not UTF-8 are refused here too, not left to fail the worker.
        raise Poison("poison", f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"ap", "cloud_sends"} != {"from", "to", "events"}:
        raise Poison(
            "poison",
            "a batch is an object with exactly from, to and events (and ap, cloud_sends)",
        )
    first, last = _frame_checks(raw["from"], raw["to"], raw["events"])
    appliance = _appliance(raw.get("ap"), topic_store)
    items = [
        _decode_entry(topic_store, index, first + index, entry)
        for index, entry in enumerate(raw["events"])
    ]
    return Batch(
        first=first,
        last=last,
        items=tuple(items),
        appliance=appliance,
        cloud_sends=_cloud_sends(raw.get("cloud_sends"), items),
    )


def _decode_entry(topic_store: str, index: int, store_seq: int, entry: Any) -> Item:
    try:
        env = decode_envelope(entry)
    except EnvelopeError as exc:
        raise Poison("poison", f"event {index}: {exc}") from None
    if env.store != topic_store:
        # decode_envelope already holds the origin to the envelope's store.
        raise Poison(
            "wrong_store", f"event {env.id} is store {env.store}'s, on {topic_store}'s topic"
        )
    try:
        body = decode_body(env.type, env.body)
    except BodyError as exc:
        raise Poison("poison", f"event {env.id}: {exc}") from None
    return Item(store_seq=store_seq, envelope=env, body=body, hlc=HLC.parse(env.hlc))


def ingest_batch(
    conn: Conn, topic_store: str, payload: bytes, *, topic: str | None = None
) -> dict[str, int]:
    """Apply one batch in one transaction and return the ack to publish after the commit.

    `conn` must be in autocommit mode (each batch is its own transaction).
    """
    topic = topic or events_topic(topic_store)
    try:
        batch = decode_batch(topic_store, payload)
        _check_hashes(batch)
    except Poison as exc:
        return _dead_letter(conn, topic, topic_store, payload, exc)
    try:
        return _apply(conn, topic_store, batch, careful=False)
    except psycopg.errors.UniqueViolation:
        # Some of the batch's events were already held (a restored cloud or appliance): the
        # quick COPY refused the whole batch and rolled back, so it goes again the careful
        # way, which skips what is held and alerts on what conflicts.
        _log.info(
            "store=%s store_seq=%s..%s: events already held", topic_store, batch.first, batch.last
        )
        return _apply(conn, topic_store, batch, careful=True)


def _check_hashes(batch: Batch) -> None:
    """Refuse a batch with an event that does not match its own hash (decisions.md §34).

    Such an event is not what its origin sealed (edited or damaged after it was). Kept, it
    would take the store_seq of the genuine event, which the appliance's resend would then
    find already applied: the genuine event would never reach the cloud.
    """
    for item in batch.items:
        if not item.hash_matches():
            raise Poison("chain_broken", f"event {item.envelope.id} does not match its hash")


def _apply(conn: Conn, topic_store: str, batch: Batch, *, careful: bool) -> dict[str, int]:
    if careful or len(batch.items) > COPY_THRESHOLD:
        return _apply_steps(conn, topic_store, batch, careful=careful, pipelined=False)
    # A small batch (the steady state: a few events a store) in pipeline mode: what needs no
    # answer goes without waiting for one, and the batch costs three round trips, not a dozen.
    with conn.pipeline():
        return _apply_steps(conn, topic_store, batch, careful=False, pipelined=True)


def _apply_steps(
    conn: Conn, topic_store: str, batch: Batch, *, careful: bool, pipelined: bool
) -> dict[str, int]:
    with conn.transaction():
        row = conn.execute(
            "SELECT applied_through FROM store_cursor WHERE store = %s FOR UPDATE",
            (topic_store,),
        ).fetchone()
        if row is None:
            # The store's first batch.
            conn.execute(
                "INSERT INTO store (id) VALUES (%s) ON CONFLICT DO NOTHING", (topic_store,)
            )
            conn.execute(
                "INSERT INTO store_cursor (store) VALUES (%s) ON CONFLICT DO NOTHING",
                (topic_store,),
            )
            row = conn.execute(
                "SELECT applied_through FROM store_cursor WHERE store = %s FOR UPDATE",
                (topic_store,),
            ).fetchone()
        assert row is not None
        cursor = int(row[0])
        if _fenced(conn, topic_store, batch, cursor):
            return {"applied_through": cursor}
        if batch.last <= cursor:
            return {"applied_through": cursor}
        if batch.first > cursor + 1:
            return {"expected": cursor + 1}
        fresh = [item for item in batch.items if item.store_seq > cursor]
        chains = _origins(conn, topic_store, fresh)
        _verify_chains(conn, topic_store, fresh, chains)
        flag_clock_skew(conn, topic_store, fresh)
        inline: list[tuple[Any, ...]] | None = None
        if careful:
            inserted = _insert_events(conn, topic_store, fresh)
            new = [item for item in fresh if item.envelope.id in inserted]
            out = _projection(conn, topic_store, new)
            _write_rows(conn, out, pipelined=False)
        else:
            # Not careful, every fresh event is inserted or the batch fails with
            # UniqueViolation (and goes again, carefully); a large batch's projection is worked
            # out while PostgreSQL takes in its events.
            new = fresh
            lookups = _lookups(conn, new)
            rows = [_event_row(topic_store, item) for item in new]
            if len(rows) > COPY_THRESHOLD:
                with conn.cursor().copy(f"COPY event ({_EVENT_COLUMNS}) FROM STDIN") as copy:
                    for event_row in rows:
                        copy.write_row(event_row)
                    out = _build(topic_store, new, lookups)
                _write_rows(conn, out, pipelined=pipelined)
            else:
                out = _build(topic_store, new, lookups)
                inline = rows
        _finish(conn, topic_store, batch.last, chains, new, out, inline)
        if batch.cloud_sends:
            # Rare (a customer asked for an email or a text): a statement of its own.
            from cloud.receipts import queue_requests

            queue_requests(
                conn, topic_store, [i for i in new if i.envelope.id in batch.cloud_sends]
            )
    _log.info(
        "ingested store=%s store_seq=%s..%s events=%s new=%s",
        topic_store,
        batch.first,
        batch.last,
        len(fresh),
        len(new),
    )
    return {"applied_through": batch.last}


def _dead_letter(
    conn: Conn, topic: str, store: str, payload: bytes, problem: Poison
) -> dict[str, int]:
    with conn.transaction():
        conn.execute(
            "INSERT INTO dead_letter (topic, store, raw, reason) VALUES (%s, %s, %s, %s)",
            (topic, store, payload, problem.reason),
        )
        _alert(conn, problem.kind, store, {"topic": topic, "reason": problem.reason})
        row = conn.execute(
            "SELECT applied_through FROM store_cursor WHERE store = %s", (store,)
        ).fetchone()
    _log.warning("dead letter store=%s topic=%s: %s", store, topic, problem.reason)
    return {"applied_through": 0 if row is None else int(row[0])}


def _fenced(conn: Conn, store: str, batch: Batch, cursor: int) -> bool:
    """Whether the batch comes from an appliance the store has replaced (decisions.md §42).

    A restore from the cloud takes the store's next appliance generation with its cursor row
    locked, as this batch has it now, so this read (its own statement, its own snapshot)
    sees any restore that committed first. A batch of the appliance it replaced that was
    still on its way would otherwise take store_seq numbers the new appliance uses too, and
    the new one's would be re-acked as applied. Refused, it changes nothing and is answered
    with the cursor as it stands; an alert says so."""
    row = conn.execute(
        "SELECT generation FROM store_directory WHERE store = %s", (store,)
    ).fetchone()
    generation = 1 if row is None else int(row[0])
    if generation == 1:
        return False
    current = f"{store}-ap{generation}"
    if batch.appliance == current:
        return False
    _alert(
        conn,
        "replaced_appliance",
        store,
        {
            "from": batch.first,
            "to": batch.last,
            "appliance": batch.appliance or f"{store}-ap",
            "current": current,
            "applied_through": cursor,
        },
    )
    _log.warning(
        "store=%s store_seq=%s..%s: refused, from %s; the store's appliance is %s",
        store,
        batch.first,
        batch.last,
        batch.appliance or f"{store}-ap",
        current,
    )
    return True


def _alert(conn: Conn, kind: str, store: str, details: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO alert (kind, store, details) VALUES (%s, %s, %s)",
        (kind, store, Jsonb(details)),
    )


@dataclass(slots=True)
class _Chain:
    seq: int
    hash: str | None
    touched: bool = False


def _origins(conn: Conn, store: str, items: Sequence[Item]) -> dict[str, _Chain]:
    """Lock the batch's origins (registering new ones of this store) and read their chains."""
    names = sorted({item.envelope.origin for item in items})
    conn.execute(
        "INSERT INTO origin (id, store) SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING",
        (names, store),
    )
    chains = {}
    for origin, owner, last_seq, last_hash in conn.execute(
        "SELECT id, store, last_seq, last_hash FROM origin WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        (names,),
    ):
        # The envelope's prefix ties an origin to its store, so this only guards the table.
        if owner != store:
            raise RuntimeError(f"origin {origin} is registered to store {owner}, not {store}")
        chains[origin] = _Chain(seq=int(last_seq), hash=last_hash)
    return chains


def _verify_chains(
    conn: Conn, store: str, items: Sequence[Item], chains: dict[str, _Chain]
) -> None:
    """Check each new event's hash and its link to its origin's previous one; alert on a break.

    A break is recorded, never refused: the appliance already holds these events as the
    store's record, and the cloud keeping them is what lets HQ look into it.
    """
    for item in items:
        env = item.envelope
        chain = chains[env.origin]
        if env.seq <= chain.seq:
            continue  # held already; the insert skips it
        problem = None
        # Each event's own hash was checked before (_check_hashes): only its link is left.
        if env.seq > chain.seq + 1:
            problem = f"seq {chain.seq + 1}..{env.seq - 1} never reached the cloud"
        elif not verify_link(chain.hash, env):
            problem = "prev is not the hash of the origin's previous event"
        if problem is not None:
            _alert(
                conn,
                "chain_broken",
                store,
                {"origin": env.origin, "seq": env.seq, "event": env.id, "problem": problem},
            )
            _log.warning(
                "chain broken store=%s origin=%s seq=%s id=%s: %s",
                store,
                env.origin,
                env.seq,
                env.id,
                problem,
            )
        chain.seq, chain.hash, chain.touched = env.seq, env.hash, True


def _event_row(store: str, item: Item) -> tuple[Any, ...]:
    env = item.envelope
    return (
        env.id,
        store,
        env.origin,
        env.seq,
        item.store_seq,
        env.type,
        env.hlc,
        env.at,
        env.actor,
        item.text if item.text is not None else msgspec.json.encode(envelope_dict(env)).decode(),
    )


def _insert_events(conn: Conn, store: str, items: Sequence[Item]) -> set[str]:
    """Insert the events, skipping any already held; the ids actually inserted."""
    rows = [_event_row(store, item) for item in items]
    if len(rows) > COPY_THRESHOLD:
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS event_in (LIKE event INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with conn.cursor().copy(f"COPY event_in ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor = conn.execute(
            f"INSERT INTO event ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM event_in"
            " ON CONFLICT DO NOTHING RETURNING id::text"
        )
    else:
        columns = list(zip(*rows, strict=True))
        cursor = conn.execute(
            f"INSERT INTO event ({_EVENT_COLUMNS})"
            " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::bigint[],"
            " %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::jsonb[])"
            " ON CONFLICT DO NOTHING RETURNING id::text",
            [list(column) for column in columns],
        )
    inserted = {row[0] for row in cursor}
    skipped = [item.envelope.id for item in items if item.envelope.id not in inserted]
    if skipped:
        held = {
            row[0]
            for row in conn.execute(
                "SELECT id::text FROM event WHERE id = ANY(%s::uuid[])", (skipped,)
            )
        }
        for item in items:
            env = item.envelope
            if env.id in skipped and env.id not in held:
                # Its (origin, seq) or store_seq is held by another event: both are kept
                # where they are, and someone has to look.
                _alert(
                    conn,
                    "event_conflict",
                    store,
                    {
                        "event": env.id,
                        "origin": env.origin,
                        "seq": env.seq,
                        "store_seq": item.store_seq,
                    },
                )
    return inserted


# ---- projections ------------------------------------------------------------------------


@dataclass
class _Projection:
    """Rows the batch adds to the projections, written set-based at the end."""

    store: str
    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    facts: list[tuple[Any, ...]] = field(default_factory=list)
    # shift id -> column -> value (counts and sums are added, the rest set)
    shifts: dict[str, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    sale_totals: dict[str, int] = field(default_factory=dict)

    def move(
        self,
        item: Item,
        line: int,
        variant: str,
        kind: Movement,
        qty: int,
        reason: str | None = None,
    ) -> None:
        env, hlc = item.envelope, item.hlc
        self.ledger.append(
            (
                env.id,
                line,
                self.store,
                variant,
                kind.value,
                qty,
                hlc.wall_ms,
                hlc.counter,
                hlc.node,
                env.origin,
                env.at,
                reason,
            )
        )

    def shift(self, item: Item, shift: str, **values: Any) -> None:
        row = self.shifts[shift]
        row.setdefault("register", item.envelope.origin)
        for name, value in values.items():
            if name in ("sales", "sales_total", "returns", "refunds_total"):
                row[name] = row.get(name, 0) + value
            else:
                row[name] = value


# The projection rows a batch wrote, as the HQ projections (_HQ_PROJECTIONS) receive them:
# `ledger` rows are (event, line, store, variant, kind, qty, hlc_wall, hlc_counter, hlc_node,
# origin, at, reason); `facts` rows are sale_fact's columns in _FACT_COLUMNS order.
Projected = _Projection


@dataclass(frozen=True, slots=True)
class _Lookups:
    """What projecting a batch needs from the database, read before anything is written."""

    restocks: frozenset[str]
    # A voided sale from an earlier batch: its sale facts (line, variant, qty, qty_scale,
    # net, tax, discount, currency), its total and its shift.
    voided: dict[str, tuple[list[tuple[Any, ...]], int, str | None]]


def _lookups(conn: Conn, items: Sequence[Item]) -> _Lookups:
    """Return reasons that restock (when the batch has a return) and the earlier sales the
    batch's post-voids take back, each in one query."""
    restocks: frozenset[str] = frozenset()
    if any(isinstance(item.body, ReturnCompleted) for item in items):
        restocks = frozenset(
            code
            for (code,) in conn.execute(
                "SELECT code FROM return_reason WHERE disposition = 'restock'"
            )
        )
    here = {item.envelope.id for item in items if isinstance(item.body, SaleCompleted)}
    earlier = sorted(
        {
            item.body.sale
            for item in items
            if isinstance(item.body, SaleVoided) and item.body.sale not in here
        }
    )
    voided: dict[str, tuple[list[tuple[Any, ...]], int, str | None]] = {}
    if earlier:
        facts: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for sale, *fact in conn.execute(
            "SELECT event::text, line, variant::text, qty, qty_scale, net, tax, discount,"
            " currency FROM sale_fact WHERE event = ANY(%s::uuid[]) AND kind = 'sale'"
            " ORDER BY event, line",
            (earlier,),
        ):
            facts[sale].append(tuple(fact))
        for sale, total, shift in conn.execute(
            "SELECT id::text, (envelope #>> '{body,totals,total}')::bigint,"
            " envelope #>> '{body,shift}' FROM event WHERE id = ANY(%s::uuid[])",
            (earlier,),
        ):
            voided[sale] = (facts.get(sale, []), int(total or 0), shift)
        for sale in earlier:
            voided.setdefault(sale, (facts.get(sale, []), 0, None))
    return _Lookups(restocks=restocks, voided=voided)


def _projection(conn: Conn, store: str, items: Sequence[Item]) -> _Projection:
    """The projection rows of newly inserted events."""
    return _build(store, items, _lookups(conn, items))


def _build(store: str, items: Sequence[Item], lookups: _Lookups) -> _Projection:
    """Sales facts, ledger rows and shift figures for newly inserted events (no I/O)."""
    out = _Projection(store=store)
    sales: dict[str, SaleCompleted] = {
        item.envelope.id: item.body for item in items if isinstance(item.body, SaleCompleted)
    }
    for item in items:
        body = item.body
        if isinstance(body, SaleCompleted):
            _sale(out, item, body)
        elif isinstance(body, SaleVoided):
            _void(out, item, body, sales.get(body.sale), lookups)
        elif isinstance(body, ReturnCompleted):
            _return(out, item, body, lookups.restocks)
        elif isinstance(body, StockReceived):
            for n, received in enumerate(body.lines, start=1):
                out.move(item, n, received.variant, Movement.RECEIPT, received.qty, body.reference)
        elif isinstance(body, StockAdjusted):
            for n, adjusted in enumerate(body.lines, start=1):
                out.move(item, n, adjusted.variant, Movement.ADJUST, adjusted.qty, adjusted.reason)
        elif isinstance(body, StockCounted):
            for n, counted in enumerate(body.lines, start=1):
                out.move(item, n, counted.variant, Movement.COUNT, counted.counted)
        elif isinstance(body, TransferShipped):
            for n, shipped in enumerate(body.lines, start=1):
                out.move(
                    item, n, shipped.variant, Movement.TRANSFER_OUT, -shipped.qty, body.transfer
                )
        elif isinstance(body, TransferReceived):
            for n, arrived in enumerate(body.lines, start=1):
                out.move(item, n, arrived.variant, Movement.TRANSFER_IN, arrived.qty, body.transfer)
        elif isinstance(body, ShiftOpened):
            out.shift(item, body.shift, opened_at=item.envelope.at, opening_float=body.float.total)
        elif isinstance(body, ShiftClosed):
            out.shift(item, body.shift, closed_at=item.envelope.at, counted_cash=body.cash.total)
    return out


def _write_rows(conn: Conn, out: _Projection, *, pipelined: bool) -> None:
    """The ledger and fact rows, COPYed when many (never in pipeline mode, which has no COPY),
    else one INSERT from arrays each."""
    for table, columns, types, rows in (
        ("stock_ledger", _LEDGER_COLUMNS, _LEDGER_TYPES, out.ledger),
        ("sale_fact", _FACT_COLUMNS, _FACT_TYPES, out.facts),
    ):
        if len(rows) > COPY_THRESHOLD and not pipelined:
            _copy(conn, table, columns, rows)
        else:
            _insert_rows(conn, table, columns, types, rows)


def _finish(
    conn: Conn,
    store: str,
    through: int,
    chains: dict[str, _Chain],
    items: Sequence[Item],
    out: _Projection,
    events: Sequence[tuple[Any, ...]] | None,
) -> None:
    """Everything else the batch writes, in one statement of data-modifying CTEs: `events`
    with their ledger and fact rows (a small batch's, when given), where each origin's chain
    now ends, the shift figures, on-hand moved by the deltas, and the cursor. Then, in their
    own statements since they read what that one wrote, Z numbers and counted variants."""
    params: dict[str, Any] = {"store": store, "through": through}
    parts: list[str] = []

    def arrays(prefix: str, types: str, rows: Sequence[tuple[Any, ...]]) -> str:
        kinds = types.split(", ")
        if len(rows) <= _ROWS_IN_ONE_PARAMETER:
            # A few rows: all of them as one parameter, a two-dimensional text array, read
            # back a row at a time, since psycopg keeps the converted form only of statements
            # with at most 50 parameters. Not for many: each subscript walks the array.
            params[prefix] = _literal(rows)
            subscripts = ", ".join(f"a[i][{n}]::{kind}" for n, kind in enumerate(kinds, start=1))
            return (
                f"(SELECT {subscripts} FROM (SELECT %({prefix})s::text[] AS a) AS {prefix}"
                " CROSS JOIN LATERAL generate_subscripts(a, 1) AS i)"
            )
        casts = []
        for n, (kind, column) in enumerate(zip(kinds, zip(*rows, strict=True), strict=True)):
            params[f"{prefix}{n}"] = "{" + ",".join(map(_element, column)) + "}"
            casts.append(f"%({prefix}{n})s::{kind}[]")
        return f"unnest({', '.join(casts)})"

    if events:
        parts.append(
            f"INSERT INTO event ({_EVENT_COLUMNS}) SELECT * FROM"
            f" {arrays('e', _EVENT_TYPES, events)} AS t"
        )
        if out.ledger:
            parts.append(
                f"INSERT INTO stock_ledger ({_LEDGER_COLUMNS}) SELECT * FROM"
                f" {arrays('l', _LEDGER_TYPES, out.ledger)} AS t"
            )
        if out.facts:
            parts.append(
                f"INSERT INTO sale_fact ({_FACT_COLUMNS}) SELECT * FROM"
                f" {arrays('f', _FACT_TYPES, out.facts)} AS t"
            )
    touched = [(origin, c.seq, c.hash) for origin, c in chains.items() if c.touched]
    if touched:
        parts.append(
            "UPDATE origin SET last_seq = u.seq, last_hash = u.hash"
            f" FROM {arrays('o', 'text, bigint, text', touched)} AS u(id, seq, hash)"
            " WHERE origin.id = u.id"
        )
    if out.shifts:
        shifts = [
            (
                shift,
                values["register"],
                values.get("opened_at"),
                values.get("closed_at"),
                values.get("opening_float"),
                values.get("counted_cash"),
                values.get("sales", 0),
                values.get("sales_total", 0),
                values.get("returns", 0),
                values.get("refunds_total", 0),
            )
            for shift, values in out.shifts.items()
        ]
        parts.append(
            "INSERT INTO shift_summary (store, shift, register, opened_at, closed_at,"
            " opening_float, counted_cash, sales, sales_total, returns, refunds_total)"
            " SELECT %(store)s, * FROM "
            + arrays(
                "s",
                "uuid, text, timestamptz, timestamptz, bigint, bigint, integer, bigint, integer,"
                " bigint",
                shifts,
            )
            + " AS t ON CONFLICT (shift) DO UPDATE SET"
            " opened_at = COALESCE(excluded.opened_at, shift_summary.opened_at),"
            " closed_at = COALESCE(excluded.closed_at, shift_summary.closed_at),"
            " opening_float = COALESCE(excluded.opening_float, shift_summary.opening_float),"
            " counted_cash = COALESCE(excluded.counted_cash, shift_summary.counted_cash),"
            " sales = shift_summary.sales + excluded.sales,"
            " sales_total = shift_summary.sales_total + excluded.sales_total,"
            " returns = shift_summary.returns + excluded.returns,"
            " refunds_total = shift_summary.refunds_total + excluded.refunds_total"
        )
    recounted = {row[3] for row in out.ledger if row[4] == _COUNT}
    # A ledger row: event, line, store, variant, kind, qty, wall, counter, node, origin, …
    moves = [
        (row[3], row[5], row[6], row[7], row[8], row[9], row[4])
        for row in out.ledger
        if row[4] != _COUNT and row[3] not in recounted
    ]
    if moves:
        parts.append(
            _MOVE_SQL.replace(
                "%(deltas)s",
                arrays("m", "uuid, bigint, bigint, integer, text, text, text", moves),
            )
        )
    statement = "".join(f"w{n} AS ({part}), " for n, part in enumerate(parts))
    statement = ("WITH " + statement[:-2] + " " if parts else "") + (
        "UPDATE store_cursor SET applied_through = %(through)s, updated_at = now()"
        " WHERE store = %(store)s"
    )
    # One line of single spaces: psycopg keeps the converted form of statements up to 4 KiB.
    conn.execute(" ".join(statement.split()), params)
    _number_closes(conn, store, [item for item in items if isinstance(item.body, ShiftClosed)])
    _refold(conn, store, sorted(recounted))
    # Gift cards and store credit (decisions.md §46): rare, so statements of their own.
    paid = [
        (item.envelope.id, item.body)
        for item in items
        if isinstance(item.body, (SaleCompleted, ReturnCompleted, SaleVoided))
        and _moves_balances(item.body)
    ]
    if paid:
        book_events(conn, store, paid)
    # The HQ projections, in this transaction, after everything above (they read on_hand,
    # the ledger and the facts this batch wrote). Each returns at once when the batch has
    # nothing for it.
    for project in _HQ_PROJECTIONS:
        project(conn, store, items, out)


# Transfers (in transit), derived audit facts (overrides, over-returns), low-stock alerts
# (after on_hand moved) and the analytics rollups. Signature: (conn, store, items, out).
_HQ_PROJECTIONS = (transfers.project, audit_facts.project, low_stock.project, rollups.project)


def _moves_balances(body: SaleCompleted | ReturnCompleted | SaleVoided) -> bool:
    """Whether an event may move a gift card or store credit balance (a post-void may, when
    its sale was paid so: `book_events` looks)."""
    if isinstance(body, SaleVoided):
        return True
    return any(tender.kind in BALANCE_KINDS for tender in body.tenders)


def _literal(rows: Iterable[tuple[Any, ...]]) -> str:
    """A two-dimensional PostgreSQL text array of these rows."""
    return "{" + ",".join("{" + ",".join(map(_element, row)) + "}" for row in rows) + "}"


def _element(value: object) -> str:
    """One array element: NULL for None, bare when it needs no quoting (integers, UUIDs and
    codes; not the word null), else quoted with `\\` and `"` escaped."""
    if value is None:
        return "NULL"
    text = str(value)
    if isinstance(value, int) or (_PLAIN.fullmatch(text) and text.lower() != "null"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PLAIN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")
_ROWS_IN_ONE_PARAMETER = 50


def _insert_rows(
    conn: Conn, table: str, columns: str, types: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """One INSERT of `rows` from one array per column (`types`: each column's SQL type)."""
    if not rows:
        return
    arrays = ", ".join(f"%s::{kind}[]" for kind in types.split(", "))
    conn.execute(
        f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})",
        [list(column) for column in zip(*rows, strict=True)],
    )


def _copy(conn: Conn, table: str, columns: str, rows: Iterable[tuple[Any, ...]]) -> None:
    rows = list(rows)
    if not rows:
        return
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _sale(out: _Projection, item: Item, sale: SaleCompleted) -> None:
    """One fact per line, and SALE movements for the lines not voided."""
    env = item.envelope
    # The cloud has no catalog yet, so no tax classes: the lines are priced without tax
    # (which gives each line's discounts exactly) and the sale's tax is spread over them.
    if sale.order_discount is None and all(line.discount is None for line in sale.lines):
        # Most sales: no discount, so each line charged its gross (pricing would say so too).
        amounts = [0 if line.voided else _gross(line) for line in sale.lines]
        discounts = [0] * len(sale.lines)
    else:
        lines = [
            LineInput(
                qty=line.qty,
                qty_scale=line.qty_scale,
                unit_price=line.unit_price,
                tax_rate_ppm=0,
                discount=_discount(line.discount),
                voided=line.voided,
            )
            for line in sale.lines
        ]
        amounts, discounts = _discounted(sale, lines)
    taxes = _spread(sale.totals.tax, amounts)
    inclusive = sum(amounts) == sale.totals.total
    for n, (line, amount, discount, tax) in enumerate(
        zip(sale.lines, amounts, discounts, taxes, strict=True), start=1
    ):
        if line.voided:
            continue
        out.facts.append(
            (
                env.id,
                n,
                "sale",
                out.store,
                env.origin,
                sale.receipt,
                env.at,
                line.variant,
                line.qty,
                line.qty_scale,
                amount - tax if inclusive else amount,
                tax,
                discount,
                sale.currency,
            )
        )
        out.move(item, n, line.variant, Movement.SALE, -line.qty)
    out.sale_totals[env.id] = sale.totals.total
    out.shift(item, sale.shift, sales=1, sales_total=sale.totals.total)


def _gross(line: Any) -> int:
    """A line before any discount, as LineInput.gross works it out."""
    if line.qty_scale == 1:
        return int(line.qty * line.unit_price)
    return LineInput(
        qty=line.qty, qty_scale=line.qty_scale, unit_price=line.unit_price, tax_rate_ppm=0
    ).gross


def _discounted(sale: SaleCompleted, lines: list[LineInput]) -> tuple[list[int], list[int]]:
    """Each line's amount after its own and its share of the order discount, and that discount."""
    try:
        priced = price_sale(
            lines,
            order_discount=_discount(sale.order_discount),
            mode=TaxMode.INCLUSIVE,
            rounding=TaxRounding.LINE,
        ).lines
        amounts = [r.net for r in priced]
        discounts = [r.line_discount + r.order_discount for r in priced]
    except ValueError:
        amounts = [0 if line.voided else line.gross for line in lines]
        discounts = [0] * len(lines)
    return amounts, discounts


def _discount(body: Any) -> Discount | None:
    if body is None:
        return None
    return Discount(kind=DiscountKind(body.kind), value=body.value)


def _spread(amount: int, weights: Sequence[int]) -> list[int]:
    """Split amount by weights, largest remainder first (earlier lines win ties)."""
    total = sum(weights)
    if total <= 0:
        return [amount if i == 0 else 0 for i in range(len(weights))]
    shares = [divmod(amount * w, total) for w in weights]
    leftover = amount - sum(q for q, _ in shares)
    order = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
    bumped = set(order[:leftover])
    return [q + (1 if i in bumped else 0) for i, (q, _) in enumerate(shares)]


def _void(
    out: _Projection,
    item: Item,
    void: SaleVoided,
    sale: SaleCompleted | None,
    lookups: _Lookups,
) -> None:
    """A post-void takes back the sale's facts and puts its goods back (VOID movements)."""
    env = item.envelope
    sale_shift: str | None
    if sale is not None:
        # The sale came in the same batch: its facts so far, its own total and shift.
        pending_facts = [row for row in out.facts if row[0] == void.sale]
        facts = [row[7:14] for row in pending_facts]
        lines = [row[1] for row in pending_facts]
        shift_total, sale_shift = sale.totals.total, sale.shift
    else:
        found, shift_total, sale_shift = lookups.voided.get(void.sale, ([], 0, None))
        lines = [row[0] for row in found]
        facts = [row[1:] for row in found]
    for n, (variant, qty, scale, net, tax, discount, currency) in zip(lines, facts, strict=True):
        out.facts.append(
            (
                env.id,
                n,
                "void",
                out.store,
                env.origin,
                void.receipt,
                env.at,
                variant,
                -qty,
                scale,
                -net,
                -tax,
                -discount,
                currency,
            )
        )
        out.move(item, n, variant, Movement.VOID, qty)
    if sale_shift:
        out.shift(item, sale_shift, sales=-1, sales_total=-shift_total)


def _return(out: _Projection, item: Item, ret: ReturnCompleted, restocks: frozenset[str]) -> None:
    """Negative facts per returned line; RETURN movements only for restocking reasons."""
    env = item.envelope
    for n, line in enumerate(ret.lines, start=1):
        out.facts.append(
            (
                env.id,
                n,
                "return",
                out.store,
                env.origin,
                ret.receipt,
                env.at,
                line.variant,
                -line.qty,
                line.qty_scale,
                -(line.refund - line.tax),
                -line.tax,
                0,
                None,
            )
        )
        if line.reason in restocks:
            out.move(item, n, line.variant, Movement.RETURN, line.qty, line.reason)
    out.shift(item, ret.shift, returns=1, refunds_total=ret.totals.total)


def _number_closes(conn: Conn, store: str, closes: Sequence[Item]) -> None:
    """Each close takes the store's next Z number, in store_seq order as on the appliance."""
    for item in closes:
        conn.execute(
            "INSERT INTO z_summary (store, number, shift, event, register, closed_at, sales,"
            " sales_total, returns, refunds_total, counted_cash)"
            " SELECT s.store,"
            "  (SELECT COALESCE(MAX(number), 0) + 1 FROM z_summary WHERE store = s.store),"
            "  s.shift, %s, s.register, %s, s.sales, s.sales_total, s.returns, s.refunds_total,"
            "  %s FROM shift_summary s WHERE s.store = %s AND s.shift = %s"
            " ON CONFLICT (shift) DO NOTHING",
            (
                item.envelope.id,
                item.envelope.at,
                item.body.cash.total,
                store,
                item.body.shift,
            ),
        )


# protocol.stock.fold in SQL, for every variant the batch moved at once: the anchor is the
# COUNT with the greatest (hlc, origin), ties broken by the fold's whole key; on-hand is its
# quantity plus every delta ordered after it (0 and every delta with no count). The same
# rule as the appliance's stock_level; tests hold both to the fold and to each other.
_REFOLD_SQL = """
WITH v AS (SELECT DISTINCT unnest(%(variants)s::uuid[]) AS variant),
anchor AS (
    SELECT DISTINCT ON (c.variant) c.variant, c.event, c.qty, c.hlc_wall, c.hlc_counter,
        c.hlc_node, c.origin
    FROM stock_ledger c JOIN v ON v.variant = c.variant
    WHERE c.store = %(store)s AND c.kind = 'count'
    ORDER BY c.variant, c.hlc_wall DESC, c.hlc_counter DESC, c.hlc_node DESC, c.origin DESC,
        c.event::text COLLATE "C" DESC, c.qty DESC
)
INSERT INTO on_hand (store, variant, qty, anchor_event, anchor_wall, anchor_counter,
    anchor_node, anchor_origin, as_of)
SELECT %(store)s, v.variant,
    COALESCE(a.qty, 0) + COALESCE((
        SELECT sum(l.qty) FROM stock_ledger l
        WHERE l.store = %(store)s AND l.variant = v.variant AND l.kind <> 'count'
        AND (a.event IS NULL
             OR (l.hlc_wall, l.hlc_counter, l.hlc_node, l.origin, l.kind)
                > (a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin, 'count'))
    ), 0),
    a.event, a.hlc_wall, a.hlc_counter, a.hlc_node, a.origin, now()
FROM v LEFT JOIN anchor a ON a.variant = v.variant
ON CONFLICT (store, variant) DO UPDATE
    SET qty = excluded.qty, anchor_event = excluded.anchor_event,
        anchor_wall = excluded.anchor_wall, anchor_counter = excluded.anchor_counter,
        anchor_node = excluded.anchor_node, anchor_origin = excluded.anchor_origin,
        as_of = excluded.as_of
"""

# The batch's deltas of variants it did not count: each moves on-hand if it is stamped after
# the variant's anchoring count (or there is none); one stamped before is absorbed by it.
# The deltas come as arrays from the rows just projected, not read back from the ledger.
_MOVE_SQL = """
INSERT INTO on_hand AS o (store, variant, qty, as_of)
SELECT %(store)s, l.variant, sum(l.qty), now()
FROM %(deltas)s AS l(variant, qty, wall, counter, node, origin, kind)
LEFT JOIN on_hand a ON a.store = %(store)s AND a.variant = l.variant
WHERE a.anchor_wall IS NULL
    OR (l.wall, l.counter, l.node COLLATE "C", l.origin COLLATE "C", l.kind COLLATE "C")
        > (a.anchor_wall, a.anchor_counter, a.anchor_node, a.anchor_origin, 'count')
GROUP BY l.variant
ON CONFLICT (store, variant) DO UPDATE SET qty = o.qty + excluded.qty, as_of = excluded.as_of
"""


def _refold(conn: Conn, store: str, variants: list[str]) -> None:
    if variants:
        conn.execute(_REFOLD_SQL, {"store": store, "variants": variants})
