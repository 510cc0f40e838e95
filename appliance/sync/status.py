"""Where the appliance stands with the cloud: what it holds that the cloud has not applied.

The journal is the outbox. Every event gets the next `store_seq` (1, 2, 3 … with no gap,
and events are never deleted), and the cloud acknowledges a store's events as
"applied through store_seq n". So the outbox depth is the journal's highest store_seq minus
n, and the oldest unsynced event is the one at n + 1: two index lookups, whatever the
journal's size. n is the cloud cursor (`cloud_cursor`), written by the uplink when the
cloud acknowledges a batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from appliance.runtime import Runtime

# One statement, so head, oldest and the origins are one snapshot. MAX(store_seq) and the
# lookup of the oldest unsynced use store_seq's unique index; origin_cursor and cloud_origin
# have a row per origin.
STATE_QUERY = (
    "SELECT (SELECT COALESCE(MAX(store_seq), 0) FROM event) AS head,"
    " c.applied_through, c.last_ack_ms,"
    " (SELECT received_ms FROM event WHERE store_seq = c.applied_through + 1) AS oldest,"
    " (SELECT json_group_object(o.origin, json_array(o.last_seq, COALESCE(k.seq, 0)))"
    "  FROM origin_cursor o LEFT JOIN cloud_origin k ON k.origin = o.origin) AS origins,"
    " g.version AS catalog_version, g.head AS catalog_head, g.applied_ms AS catalog_applied_ms,"
    " g.problem AS catalog_problem, g.problem_ms AS catalog_problem_ms"
    " FROM cloud_cursor c, cloud_catalog g WHERE c.id = 1 AND g.id = 1"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginState:
    """One origin's chain: what the appliance holds, and what the cloud has applied."""

    origin: str
    held: int
    cloud: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogState:
    """The cloud's catalog here: the version applied, the head last heard (None before the
    first), and why the last page was refused while it still is."""

    version: int
    head: int | None
    applied_ms: int | None
    problem: str | None
    problem_ms: int | None


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
    catalog: CatalogState

    @property
    def depth(self) -> int:
        """Events the appliance holds that the cloud has not applied."""
        return self.head - self.applied_through


def sync_state(rt: Runtime) -> SyncState:
    """The sync state, read in one statement (one snapshot of the journal)."""
    row = rt.db.one(STATE_QUERY)
    assert row is not None  # the migration made the cursor's row
    held: dict[str, list[int]] = json.loads(row["origins"] or "{}")
    settings = rt.settings
    return SyncState(
        connected=rt.link.connected,
        cloud=f"{settings.mqtt_host}:{settings.mqtt_port}" if settings.mqtt_host else None,
        last_ack_ms=row["last_ack_ms"],
        applied_through=int(row["applied_through"]),
        head=int(row["head"]),
        oldest_received_ms=row["oldest"],
        origins=tuple(
            OriginState(origin=origin, held=seq, cloud=cloud)
            for origin, (seq, cloud) in sorted(held.items())
        ),
        catalog=CatalogState(
            version=int(row["catalog_version"]),
            head=row["catalog_head"],
            applied_ms=row["catalog_applied_ms"],
            problem=row["catalog_problem"],
            problem_ms=row["catalog_problem_ms"],
        ),
    )
