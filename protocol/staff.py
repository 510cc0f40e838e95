"""Staff down-sync messages: the chain's staff master (HQ) to each store (decisions.md §57).

The cloud keeps one row per person and store (the person's role there, whether they may work
there, their PIN there as an argon2id hash), numbered by a chain-wide `change_seq`. The
retained `tillbox/v1/catalog/staff-head` carries the highest number; a store that has applied
less asks on its `rpc/staff` topic for its own changes since what it applied, exactly as the
catalog pull does. A store's own edits go up in its directory upload (`protocol.directory`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.envelope import ACTOR_RE
from protocol.topics import PREFIX

# The most changes one reply carries, whatever a request asks for.
MAX_PAGE = 500

# The fields a store may change itself; listed per staff member in the directory upload until
# the cloud's echo of them arrives.
FIELDS = ("name", "role", "active", "pin")
Field = Literal["name", "role", "active", "pin"]


def staff_head_topic() -> str:
    """The cloud's retained staff head `{"version": n}`, read by every store (under
    `tillbox/v1/catalog/#`, which the broker already lets every store read)."""
    return f"{PREFIX}/catalog/staff-head"


class StaffChange(msgspec.Struct, frozen=True, kw_only=True):
    """A person as the asking store should have them after change number `seq`.
    `active` false: they may no longer sign in at this store."""

    seq: Annotated[int, msgspec.Meta(ge=1)]
    id: Annotated[str, msgspec.Meta(pattern=ACTOR_RE)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    role: Literal["cashier", "supervisor", "manager"]
    active: bool
    pin_hash: Annotated[str, msgspec.Meta(pattern=r"^\$argon2id\$.{10,300}$")]


class StaffRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A store's request: its changes after `since`, at most `limit` of them."""

    since: Annotated[int, msgspec.Meta(ge=0)]
    limit: Annotated[int, msgspec.Meta(ge=1)]


class StaffReply(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the store's changes, oldest first. Continue from `next`; done when `next`
    equals `head`. A `next` below the request's `since` means the cloud's master is older than
    what the store applied (a restored cloud database): start again from 0. `error`: the
    request was not one."""

    changes: list[StaffChange] = []
    next: int = 0
    head: int = 0
    error: str | None = None


class StaffHead(msgspec.Struct, frozen=True, kw_only=True):
    """The retained staff head message."""

    version: int


def parse_request(payload: bytes) -> StaffRequest | str:
    """The request, or why it is not one."""
    try:
        return msgspec.json.decode(payload, type=StaffRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return str(exc)


def parse_head(payload: bytes) -> int | None:
    """The version a staff head announces, or None for anything else."""
    try:
        version = msgspec.json.decode(payload, type=StaffHead).version
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return version if version >= 0 else None
