"""Where the appliance stands with the cloud: what it holds that the cloud has not applied.

The journal is the outbox. Every event gets the next `store_seq` (1, 2, 3 … with no gap,
and events are never deleted), and the cloud acknowledges a store's events as
"applied through store_seq n". So the outbox depth is the journal's highest store_seq minus
n, and the oldest unsynced event is the one at n + 1: two index lookups, whatever the
journal's size. There is no cloud link yet, so n is 0 and nothing has been acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.runtime import Runtime

# The store_seq the cloud has acknowledged as applied. Nothing is sent yet (the MQTT link is a
# later issue); once it is, this comes from the link's stored cursor.
NOTHING_APPLIED = 0


# One statement, so head, oldest and the origins are one snapshot. MAX(store_seq) and the
# lookup of `:next` use store_seq's unique index; origin_cursor has a row per origin.
STATE_QUERY = (
    "SELECT (SELECT COALESCE(MAX(store_seq), 0) FROM event) AS head,"
    " (SELECT received_ms FROM event WHERE store_seq = :next) AS oldest,"
    " (SELECT json_group_object(origin, last_seq) FROM origin_cursor) AS origins"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginState:
    """One origin's chain: what the appliance holds, and what the cloud has applied."""

    origin: str
    held: int
    cloud: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncState:
    """The appliance's side of the sync with the cloud."""

    connected: bool
    cloud: str | None
    last_ack_ms: int | None
    applied_through: int
    head: int
    oldest_received_ms: int | None
    origins: tuple[OriginState, ...]

    @property
    def depth(self) -> int:
        """Events the appliance holds that the cloud has not applied."""
        return self.head - self.applied_through


def sync_state(rt: Runtime) -> SyncState:
    """The sync state, read in one statement (one snapshot of the journal)."""
    applied = NOTHING_APPLIED
    row = rt.db.one(STATE_QUERY, {"next": applied + 1})
    assert row is not None
    held: dict[str, int] = json.loads(row["origins"] or "{}")
    return SyncState(
        connected=False,
        cloud=None,
        last_ack_ms=None,
        applied_through=applied,
        head=int(row["head"]),
        oldest_received_ms=row["oldest"],
        origins=tuple(
            # Per-origin acks come from the same cursor once the cloud applies anything.
            OriginState(origin=origin, held=seq, cloud=0)
            for origin, seq in sorted(held.items())
        ),
    )
