"""The event envelope: strict decoding, the content hash and the per-origin hash chain."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from protocol.canonical import canonical_json, sha256_hex
from protocol.hlc import HLC, HLC_RE
from protocol.ids import UUID7_RE

ENVELOPE_VERSION = 1

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "sale.completed",
        "sale.voided",
        "return.completed",
        "shift.opened",
        "cash.moved",
        "shift.closed",
        "stock.received",
        "stock.adjusted",
        "stock.counted",
        "transfer.requested",
        "transfer.approved",
        "transfer.shipped",
        "transfer.received",
        "override.granted",
        "receipt.requested",
    }
)

# The same patterns appear in schemas/envelope.json (a test keeps them equal). They use explicit
# ASCII classes rather than \d, which in Python also matches other scripts' digits.
STORE_RE = r"^[a-z][a-z0-9]{1,15}$"
ORIGIN_RE = r"^[a-z][a-z0-9]{1,15}-(ap|ap[2-9]|ap[1-9][0-9]|r[0-9]{2,4})$"
ACTOR_RE = r"^[a-z0-9][a-z0-9-]{0,62}$"
ID_RE = UUID7_RE
AT_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
HASH_RE = r"^[0-9a-f]{64}$"
__all__ = [
    "ACTOR_RE",
    "AT_RE",
    "ENVELOPE_VERSION",
    "EVENT_TYPES",
    "HASH_RE",
    "HLC_RE",
    "ID_RE",
    "MAX_BODY_DEPTH",
    "MAX_SEQ",
    "ORIGIN_RE",
    "STORE_RE",
    "Envelope",
    "EnvelopeError",
    "Override",
    "content_hash",
    "decode_envelope",
    "encode_envelope",
    "envelope_dict",
    "format_at",
    "parse_at",
    "seal",
    "verify_hash",
    "verify_link",
]

# seq and every integer in a body must be exact in JSON numbers (RFC 8785 and JavaScript).
MAX_SEQ = 2**53 - 1
_MAX_JSON_INT = 2**53 - 1
# Bodies are shallow records (a sale, its lines, their taxes); deeper input is an attack or a bug.
MAX_BODY_DEPTH = 32

_STORE = re.compile(STORE_RE)
_ORIGIN = re.compile(ORIGIN_RE)
_ACTOR = re.compile(ACTOR_RE)
_ID = re.compile(ID_RE)
_AT = re.compile(AT_RE)
_HASH = re.compile(HASH_RE)

_FIELDS = (
    "v",
    "id",
    "type",
    "store",
    "origin",
    "seq",
    "hlc",
    "at",
    "actor",
    "override",
    "body",
    "prev",
    "hash",
)
_OVERRIDE_FIELDS = ("id", "action", "approver", "offline")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class EnvelopeError(ValueError):
    """An envelope broke a rule; field is a dotted path such as "hlc" or "override.action"."""

    def __init__(self, field: str, reason: str) -> None:
        """Record which field broke which rule ("" is the envelope as a whole)."""
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        """Render as "field: reason"."""
        return f"{self.field}: {self.reason}" if self.field else self.reason


class Override(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A supervisor's on-the-spot approval that an event carries."""

    id: str
    action: str
    approver: str
    offline: bool


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One immutable event as its origin wrote it; build it with seal or decode_envelope."""

    v: int
    id: str
    type: str
    store: str
    origin: str
    seq: int
    hlc: str
    at: str
    actor: str | None
    override: Override | None
    body: dict[str, Any]
    prev: str | None
    hash: str


def format_at(ms: int) -> str:
    """Render UTC milliseconds since the epoch as "2026-11-25T10:05:03.120Z"."""
    raw: object = ms
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError(f"at must come from an int of milliseconds, got {raw!r}")
    try:
        moment = _EPOCH + timedelta(milliseconds=raw)
    except OverflowError:
        raise ValueError(f"{raw} ms since the epoch is outside years 1-9999") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}."
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_at(text: str) -> int:
    """Parse "2026-11-25T10:05:03.120Z" into UTC milliseconds since the epoch."""
    raw: object = text
    if not isinstance(raw, str):
        raise ValueError(f"at must be a string, got {type(raw).__name__}")
    if _AT.fullmatch(raw) is None:
        raise ValueError(f"at must look like 2026-11-25T10:05:03.120Z, got {raw!r}")
    year, month, day = int(raw[0:4]), int(raw[5:7]), int(raw[8:10])
    hour, minute, second, millis = (
        int(raw[11:13]),
        int(raw[14:16]),
        int(raw[17:19]),
        int(raw[20:23]),
    )
    try:
        moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        raise ValueError(f"at is not a real UTC date and time: {raw!r}") from None
    return (moment - _EPOCH) // _ONE_MS


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise EnvelopeError(field, f"must be a string, not {_kind(value)}")
    # A str subclass could carry behaviour of its own; the envelope keeps plain strings.
    return str.__str__(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _matching(value: object, field: str, pattern: re.Pattern[str], example: str) -> str:
    text = _text(value, field)
    if pattern.fullmatch(text) is None:
        raise EnvelopeError(field, f"must look like {example}, got {text!r}")
    return text


def _integer(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EnvelopeError(field, f"must be an integer, not {_kind(value)}")
    return int(value)


def _utf8(text: str, field: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise EnvelopeError(
            field, "contains a lone surrogate, which is not valid Unicode"
        ) from None
    return text


def _json_value(value: object, field: str, depth: int) -> Any:
    """Copy a JSON value into plain dicts and lists, rejecting what RFC 8785 cannot hash."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _utf8(str.__str__(value), field)
    if isinstance(value, int):
        if abs(value) > _MAX_JSON_INT:
            raise EnvelopeError(field, f"integer beyond ±{_MAX_JSON_INT} is not exact in JSON")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EnvelopeError(field, "must be a finite number")
        return float(value)
    if depth >= MAX_BODY_DEPTH:
        raise EnvelopeError(field, f"nested deeper than {MAX_BODY_DEPTH} levels")
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EnvelopeError(field, f"object keys must be strings, got {key!r}")
            name = _utf8(str.__str__(key), f"{field}.{key}")
            copied[name] = _json_value(item, f"{field}.{name}", depth + 1)
        return copied
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{field}.{i}", depth + 1) for i, item in enumerate(value)]
    raise EnvelopeError(field, f"{type(value).__name__} is not a JSON value")


def _fields_of(obj: Mapping[Any, Any], expected: tuple[str, ...], prefix: str) -> None:
    unknown = sorted(
        key if isinstance(key, str) else repr(key) for key in obj if key not in expected
    )
    if unknown:
        raise EnvelopeError(prefix + unknown[0], "unknown field")
    for name in expected:
        if name not in obj:
            raise EnvelopeError(prefix + name, "missing")


def _override(value: object) -> Override | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EnvelopeError("override", f"must be null or an object, not {_kind(value)}")
    _fields_of(value, _OVERRIDE_FIELDS, "override.")
    override_id = _matching(value["id"], "override.id", _ID, "a lowercase UUIDv7")
    action = _utf8(_text(value["action"], "override.action"), "override.action")
    approver = _matching(value["approver"], "override.approver", _ACTOR, "staff-7")
    offline = value["offline"]
    if not isinstance(offline, bool):
        raise EnvelopeError("override.offline", f"must be true or false, not {_kind(offline)}")
    return Override(id=override_id, action=action, approver=approver, offline=bool(offline))


def _load(raw: object) -> Mapping[Any, Any]:
    obj: object
    if isinstance(raw, Mapping):
        obj = raw
    elif isinstance(raw, bytes | bytearray | memoryview | str):
        try:
            obj = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise EnvelopeError("", f"not valid JSON: {exc}") from None
    else:
        raise EnvelopeError("", f"expected JSON bytes or a mapping, not {type(raw).__name__}")
    if not isinstance(obj, Mapping):
        raise EnvelopeError("", f"an envelope must be a JSON object, not {_kind(obj)}")
    return obj


def decode_envelope(raw: bytes | Mapping[str, object]) -> Envelope:
    """Validate JSON bytes or a decoded mapping as an envelope; raise EnvelopeError otherwise."""
    obj = _load(raw)
    _fields_of(obj, _FIELDS, "")

    v = _integer(obj["v"], "v")
    if v != ENVELOPE_VERSION:
        raise EnvelopeError("v", f"unsupported envelope version {v}, expected {ENVELOPE_VERSION}")
    event_id = _matching(obj["id"], "id", _ID, "a lowercase UUIDv7")
    event_type = _text(obj["type"], "type")
    if event_type not in EVENT_TYPES:
        raise EnvelopeError("type", f"unknown event type {event_type!r}")
    store = _matching(obj["store"], "store", _STORE, "s01")
    origin = _matching(obj["origin"], "origin", _ORIGIN, "s01-r02 or s01-ap")
    if not origin.startswith(store + "-"):
        raise EnvelopeError("origin", f"origin {origin!r} does not belong to store {store!r}")
    seq = _integer(obj["seq"], "seq")
    if not 1 <= seq <= MAX_SEQ:
        raise EnvelopeError("seq", f"must be between 1 and {MAX_SEQ}, got {seq}")
    hlc_text = _text(obj["hlc"], "hlc")
    try:
        hlc = HLC.parse(hlc_text)
    except ValueError as exc:
        raise EnvelopeError("hlc", str(exc)) from None
    if hlc.node != origin:
        raise EnvelopeError("hlc", f"node {hlc.node!r} is not the origin {origin!r}")
    at = _text(obj["at"], "at")
    try:
        parse_at(at)
    except ValueError as exc:
        raise EnvelopeError("at", str(exc)) from None
    actor_value = obj["actor"]
    actor = None if actor_value is None else _matching(actor_value, "actor", _ACTOR, "staff-7")
    override = _override(obj["override"])
    body_value = obj["body"]
    if not isinstance(body_value, Mapping):
        raise EnvelopeError("body", f"must be an object, not {_kind(body_value)}")
    body: dict[str, Any] = _json_value(body_value, "body", 0)
    prev_value = obj["prev"]
    if seq == 1:
        if prev_value is not None:
            raise EnvelopeError("prev", "must be null for seq 1")
        prev = None
    else:
        if prev_value is None:
            raise EnvelopeError("prev", f"must be the previous event's hash for seq {seq}")
        prev = _matching(prev_value, "prev", _HASH, "64 lowercase hex digits")
    content = _matching(obj["hash"], "hash", _HASH, "64 lowercase hex digits")
    return Envelope(
        v=v,
        id=event_id,
        type=event_type,
        store=store,
        origin=origin,
        seq=seq,
        hlc=hlc_text,
        at=at,
        actor=actor,
        override=override,
        body=body,
        prev=prev,
        hash=content,
    )


def content_hash(fields: Mapping[str, object]) -> str:
    """Return the sha256 hex of the RFC 8785 form of an envelope's fields, without "hash"."""
    unsealed = {key: value for key, value in fields.items() if key != "hash"}
    return sha256_hex(canonical_json(msgspec.to_builtins(unsealed)))


def envelope_dict(env: Envelope) -> dict[str, Any]:
    """Return the envelope as a plain JSON-able dict with every field."""
    result: dict[str, Any] = msgspec.to_builtins(env)
    return result


def encode_envelope(env: Envelope) -> bytes:
    """Return the envelope as JSON bytes."""
    return msgspec.json.encode(env)


def seal(
    *,
    id: str,
    type: str,
    store: str,
    origin: str,
    seq: int,
    hlc: HLC | str,
    at: str,
    actor: str | None,
    override: Override | Mapping[str, object] | None,
    body: Mapping[str, object],
    prev: str | None,
) -> Envelope:
    """Validate a new event's fields and return its envelope with v=1 and the hash computed."""
    fields: dict[str, object] = {
        "v": ENVELOPE_VERSION,
        "id": id,
        "type": type,
        "store": store,
        "origin": origin,
        "seq": seq,
        "hlc": str(hlc) if isinstance(hlc, HLC) else hlc,
        "at": at,
        "actor": actor,
        "override": msgspec.to_builtins(override) if isinstance(override, Override) else override,
        "body": body,
        "prev": prev,
        "hash": "0" * 64,
    }
    unsealed = decode_envelope(fields)
    return msgspec.structs.replace(unsealed, hash=content_hash(envelope_dict(unsealed)))


def verify_hash(env: Envelope) -> bool:
    """Tell whether env.hash is the content hash of the rest of the envelope."""
    try:
        return content_hash(envelope_dict(env)) == env.hash
    except (TypeError, ValueError):
        return False


def verify_link(prev_hash: str | None, env: Envelope) -> bool:
    """Tell whether env follows the event whose hash is prev_hash (None: it is the first)."""
    if env.seq == 1:
        return env.prev is None and prev_hash is None
    return prev_hash is not None and env.prev == prev_hash
