"""The sync queue: what the appliance holds that the cloud has not applied, the link, the
catalog and HQ's staff (the change applied, a refused answer), the gap a restore is filling,
and what failed on the appliance's own queues (print jobs and digital receipts). Read-only, from appliance/sync/status.py as GET /sync/status."""

from __future__ import annotations

from flask import Response

from appliance import enrolment
from appliance.admin.core import admin_route, page, rt
from appliance.settings import Settings
from appliance.sync.chain import chain_state
from appliance.sync.status import restore_state, sync_state
from protocol.permissions import Role

# Looking at the queue changes nothing: supervisors may.
SYNC_ROLE = Role.SUPERVISOR
FAILED_SHOWN = 20


@admin_route("/sync", role=SYNC_ROLE)
def sync() -> Response:
    """Outbox depth, oldest unsynced age, last ack, link, catalog, staff, restore gap,
    failures."""
    runtime = rt()
    state = sync_state(runtime)
    now = runtime.now_ms()
    oldest_age_s = (
        None
        if state.oldest_received_ms is None or state.depth == 0
        else max(0, (now - state.oldest_received_ms) // 1000)
    )
    oldest = runtime.db.one(
        "SELECT type, origin, seq, at FROM event WHERE store_seq = ?",
        (state.applied_through + 1,),
    )
    failed_prints = runtime.db.query(
        "SELECT j.id, p.name AS printer, j.kind, j.ref, j.attempts, j.last_error, j.created_ms"
        " FROM print_job j JOIN printer p ON p.id = j.printer WHERE j.state = 'failed'"
        " ORDER BY j.id DESC LIMIT ?",
        (FAILED_SHOWN,),
    )
    messages = {
        row["state"]: row["n"]
        for row in runtime.db.query(
            # The cloud's to send (decisions.md §48): its outcome is in the cloud.
            "SELECT CASE WHEN sender = 'cloud' THEN 'cloud' ELSE state END AS state,"
            " count(*) AS n FROM receipt_message GROUP BY 1"
        )
    }
    failed_messages = runtime.db.query(
        "SELECT id, channel, receipt, attempts, last_error, created_ms FROM receipt_message"
        " WHERE state = 'failed' ORDER BY id DESC LIMIT ?",
        (FAILED_SHOWN,),
    )
    return page(
        "admin/sync.html",
        sync=state,
        oldest_age_s=oldest_age_s,
        oldest=oldest if state.depth else None,
        chain=chain_state(runtime),
        restore=restore_state(runtime),
        enrolment=_enrolment(runtime.settings),
        open_flags=runtime.db.scalar("SELECT count(*) FROM review_flag WHERE resolved_ms IS NULL"),
        failed_prints=failed_prints,
        messages=messages,
        failed_messages=failed_messages,
    )


def _enrolment(settings: Settings) -> dict[str, object] | None:
    """While the enrolment code is not traded yet: the last attempt (or {} before the first)."""
    if not settings.mqtt_host or not enrolment.pending(settings):
        return None
    return enrolment.last_outcome(settings) or {}
