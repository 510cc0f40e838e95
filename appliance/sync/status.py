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
    " g.problem AS catalog_problem, g.problem_ms AS catalog_problem_ms,"
    " t.version AS staff_version, t.head AS staff_head, t.applied_ms AS staff_applied_ms,"
    " t.problem AS staff_problem, t.problem_ms AS staff_problem_ms"
    " FROM cloud_cursor c, cloud_catalog g, cloud_staff t"
    " WHERE c.id = 1 AND g.id = 1 AND t.id = 1"
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
class StaffState:
    """HQ's staff here (appliance/sync/staff_pull.py's `cloud_staff`): the HQ staff change
    applied, the head last heard (None before the first), and why the last answer was refused
    while it still is."""

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
    staff: StaffState

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
        staff=StaffState(
            version=int(row["staff_version"]),
            head=row["staff_head"],
            applied_ms=row["staff_applied_ms"],
            problem=row["staff_problem"],
            problem_ms=row["staff_problem_ms"],
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredOrigin:
    """One origin of a restored appliance: the cloud's last seq at the restore, and how many
    of its events from before the restore have come in since (pushed again by a register)."""

    origin: str
    cloud_seq: int
    recovered: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreState:
    """The gap a dead appliance left, as this restored one knows it."""

    restored_ms: int
    generation: int
    previous_origin: str
    applied_through: int
    # The dead appliance's own count of unsynced events in its last heartbeat (None: unknown).
    last_outbox_depth: int | None
    last_heartbeat_ms: int | None
    origins: tuple[RestoredOrigin, ...]

    @property
    def recovered(self) -> int:
        """Events from before the restore that have arrived since."""
        return sum(o.recovered for o in self.origins)

    @property
    def open(self) -> bool:
        """True while fewer events have come back than the dead appliance said it held
        unsent (its own origin's are lost with it; registers bring back theirs). With no
        heartbeat to go by, it stays open until someone has looked (it is only a report)."""
        return self.last_outbox_depth is None or self.recovered < self.last_outbox_depth


def restore_state(rt: Runtime) -> RestoreState | None:
    """The restore report, or None for an appliance that was not restored from the cloud."""
    row = rt.db.one("SELECT * FROM restore_report WHERE id = 1")
    if row is None:
        return None
    # Events stamped before the restore that arrived after it: the gap being filled. The
    # range scan on store_seq reads only what came after the restore.
    recovered = {
        r["origin"]: int(r["n"])
        for r in rt.db.query(
            "SELECT origin, count(*) AS n FROM event WHERE store_seq > ? AND hlc_wall < ?"
            " GROUP BY origin",
            (row["applied_through"], row["restored_ms"]),
        )
    }
    cloud = {
        r["origin"]: int(r["cloud_seq"])
        for r in rt.db.query("SELECT origin, cloud_seq FROM restore_origin")
    }
    return RestoreState(
        restored_ms=int(row["restored_ms"]),
        generation=int(row["generation"]),
        previous_origin=row["previous_origin"],
        applied_through=int(row["applied_through"]),
        last_outbox_depth=row["last_outbox_depth"],
        last_heartbeat_ms=row["last_heartbeat_ms"],
        origins=tuple(
            RestoredOrigin(origin=o, cloud_seq=cloud.get(o, 0), recovered=recovered.get(o, 0))
            for o in sorted(cloud.keys() | recovered.keys())
        ),
    )
