"""Sync status: what the appliance holds that the cloud has not applied yet."""

from __future__ import annotations

from appliance.api.registry import Call
from appliance.api.schemas import (
    CatalogSyncOut,
    ChainSyncOut,
    OriginSyncOut,
    OutboxOut,
    RestoredOriginOut,
    RestoreSyncOut,
    SyncStatus,
)
from appliance.api.v1 import api
from appliance.balances import offline_state
from appliance.sync.chain import chain_state
from appliance.sync.status import RestoreState, restore_state, sync_state
from protocol.envelope import format_at


@api.route(
    "GET",
    "/sync/status",
    summary="Outbox depth, oldest unsynced event, last cloud ack, and per origin what the cloud has applied",
    tag="sync",
    auth="device",
    response=SyncStatus,
)
def sync_status(call: Call) -> SyncStatus:
    """Registers poll this. `outbox.depth` counts journal events the cloud has not applied;
    `origins[o].cloud` is the highest seq of origin `o` the cloud has applied, so a register
    may forget its own events up to it. `catalog.version` is the cloud catalog version
    applied here (`catalog.head` the cloud's, as last heard). `chain` says when the cloud
    last answered a question (other stores' stock) and how the last one failed, if it did.
    `connected` is whether this process's uplink is connected; with no cloud configured it
    is false and `cloud` is null.
    `restore` is there on an appliance restored from the cloud: the gap its predecessor left
    (`gap_open` until as many events from before the restore have come back as the dead
    appliance last said it held unsent)."""
    rt = call.rt
    state = sync_state(rt)
    now = rt.now_ms()
    oldest = state.oldest_received_ms
    catalog = state.catalog
    chain = chain_state(rt)
    offline = offline_state(rt)
    return SyncStatus(
        store=rt.store,
        connected=state.connected,
        cloud=state.cloud,
        last_ack_at=None if state.last_ack_ms is None else format_at(state.last_ack_ms),
        applied_through=state.applied_through,
        outbox=OutboxOut(
            depth=state.depth,
            head=state.head,
            oldest_received_at=None if oldest is None else format_at(oldest),
            oldest_age_s=None if oldest is None else max(0, now - oldest) // 1000,
        ),
        origins={o.origin: OriginSyncOut(held=o.held, cloud=o.cloud) for o in state.origins},
        catalog=CatalogSyncOut(
            version=catalog.version,
            head=catalog.head,
            applied_at=None if catalog.applied_ms is None else format_at(catalog.applied_ms),
            problem=catalog.problem,
            problem_at=None if catalog.problem_ms is None else format_at(catalog.problem_ms),
        ),
        chain=ChainSyncOut(
            answered_at=None if chain.answered_ms is None else format_at(chain.answered_ms),
            failure=chain.failure,
            failure_at=None if chain.failure_ms is None else format_at(chain.failure_ms),
            offline_redemptions=offline["count"],
            offline_redeemed=offline["amount"],
            open_holds=offline["holds"],
        ),
        restore=_restore_out(restore_state(rt)),
    )


def _restore_out(state: RestoreState | None) -> RestoreSyncOut | None:
    if state is None:
        return None
    heartbeat = state.last_heartbeat_ms
    return RestoreSyncOut(
        restored_at=format_at(state.restored_ms),
        generation=state.generation,
        previous_origin=state.previous_origin,
        applied_through=state.applied_through,
        last_outbox_depth=state.last_outbox_depth,
        last_heartbeat_at=None if heartbeat is None else format_at(heartbeat),
        recovered=state.recovered,
        gap_open=state.open,
        origins={
            o.origin: RestoredOriginOut(cloud_seq=o.cloud_seq, recovered=o.recovered)
            for o in state.origins
        },
    )
