"""A store's directory and its restore from the cloud: the MQTT 5 request/response messages.

The directory is what a store has that is not events: staff (with their argon2id PIN hashes
and roles), paired registers (with the SHA-256 of their device tokens), reason codes, the
settings a replacement appliance needs, and the ids its catalog gave its variants (events
name variants by them). The appliance uploads it on `rpc/directory`; a new appliance reads
it back, with the store's events and cursors, on `rpc/restore` (decisions.md §42).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from protocol.envelope import ACTOR_RE, ORIGIN_RE

# Variant ids per upload or restore page, events per restore page.
MAX_VARIANTS_PAGE = 2000
MAX_EVENTS_PAGE = 1000

_Hash = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_When = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
_Uid = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every message refuses unknown fields."""


class StaffEntry(_Strict, frozen=True, kw_only=True):
    """A staff member as the appliance knows them (no lockout counters: those are local)."""

    id: Annotated[str, msgspec.Meta(pattern=ACTOR_RE)]
    name: _Text
    role: Literal["cashier", "supervisor", "manager"]
    pin_hash: Annotated[str, msgspec.Meta(pattern=r"^\$argon2id\$.{10,300}$")]
    active: bool
    created_at: _When
    updated_at: _When
    # Staff master sync (decisions.md §57); absent from appliances older than it. The last
    # HQ change applied to this person here, the fields changed here since, and PIN lockouts.
    hq_seq: _Count | None = None
    changed: (
        Annotated[list[Literal["name", "role", "active", "pin"]], msgspec.Meta(max_length=4)] | None
    ) = None
    locked_until_ms: _Count | None = None
    lockouts: _Count | None = None


class RegisterEntry(_Strict, frozen=True, kw_only=True):
    """A paired (or revoked) register; its device token only as SHA-256."""

    id: Annotated[str, msgspec.Meta(pattern=ORIGIN_RE)]
    name: _Text
    token_hash: _Hash
    created_at: _When
    paired_by: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    revoked_at: _When | None = None


class ReasonEntry(_Strict, frozen=True, kw_only=True):
    """A reason code, with what a return under it does to the goods."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    kind: Literal["return", "adjust", "cash"]
    label: _Text
    disposition: Literal["restock", "damaged", "rtv"] | None = None
    active: bool


class Directory(_Strict, frozen=True, kw_only=True):
    """The snapshot: `version` grows by one each time its content changes."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    staff: Annotated[list[StaffEntry], msgspec.Meta(max_length=5000)]
    registers: Annotated[list[RegisterEntry], msgspec.Meta(max_length=1000)]
    reasons: Annotated[list[ReasonEntry], msgspec.Meta(max_length=1000)]
    # store_name, currency, locale, timezone, tax classes and rates … (appliance.settings).
    settings: dict[str, Any]


# A variant's id as [local rowid, uid, sku].
VariantId = tuple[_Count, _Uid, Annotated[str, msgspec.Meta(min_length=1, max_length=64)]]


class DirectoryUpload(_Strict, frozen=True, kw_only=True):
    """`rpc/directory`: the snapshot, or the variant ids after `after` (rowid), or both."""

    directory: Directory | None = None
    variants_after: _Count | None = None
    variants: Annotated[list[VariantId], msgspec.Meta(max_length=MAX_VARIANTS_PAGE)] = []


class DirectoryAck(msgspec.Struct, frozen=True, kw_only=True):
    """The cloud's answer: the directory version it holds, the rowid through which it holds
    variant ids (as far as this upload went), or why it refused the upload."""

    version: int | None = None
    variants_through: int | None = None
    error: str | None = None


class RestoreRequest(_Strict, frozen=True, kw_only=True):
    """`rpc/restore`. `begin` takes the store's next appliance generation and answers what
    the cloud holds; `variants` and `events` page through it (`after` exclusive, events up
    to `through`, the cursor `begin` answered)."""

    op: Literal["begin", "variants", "events"]
    after: _Count = 0
    after_uid: _Uid | None = None
    through: _Count = 0
    # At most MAX_EVENTS_PAGE events or MAX_VARIANTS_PAGE variant ids are answered.
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_VARIANTS_PAGE)] = 500


class RestoreBegin(msgspec.Struct, frozen=True, kw_only=True):
    """What the cloud holds of a store, read under its cursor lock."""

    store: str
    generation: int
    applied_through: int
    # origin -> the cloud's last seq
    origins: dict[str, int]
    directory: Directory
    catalog_head: int
    # The dead appliance's last heartbeat: its own count of unsynced events.
    last_outbox_depth: int | None
    last_online_ms: int | None


class RestoreVariants(msgspec.Struct, frozen=True, kw_only=True):
    """A page of variant ids in uid order; the last page is shorter than the limit."""

    variants: list[tuple[str, str]]


class RestoreEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the store, with its position in the store's sequence."""

    store_seq: int
    envelope: dict[str, Any]


class RestoreEvents(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events in store_seq order, `after` + 1 onwards without a gap."""

    events: list[RestoreEvent]


class RestoreError(msgspec.Struct, frozen=True, kw_only=True):
    """The request could not be answered; the reason says why."""

    error: str


def parse_upload(payload: bytes) -> DirectoryUpload | str:
    """The upload, or why it is not one."""
    try:
        return msgspec.json.decode(payload, type=DirectoryUpload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return str(exc)


def parse_restore_request(payload: bytes) -> RestoreRequest | str:
    """The restore request, or why it is not one."""
    try:
        return msgspec.json.decode(payload, type=RestoreRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return str(exc)
