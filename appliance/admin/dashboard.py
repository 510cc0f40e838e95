"""The admin landing page: the store at a glance, each part linking to its page."""

from __future__ import annotations

from flask import Response

from appliance import transfers
from appliance.admin.core import admin_route, page, rt
from appliance.admin.people import register_views
from appliance.admin.sessions import recent_audit
from appliance.catalog.queries import head
from appliance.devices.printers import list_printers
from appliance.sync.status import sync_state
from protocol.permissions import Role


@admin_route("/", role=Role.SUPERVISOR)
def dashboard() -> Response:
    """Store, catalog, registers, printers, sync, transfers waiting and review flags at a
    glance."""
    runtime = rt()
    views = register_views(runtime)
    paired = [v for v in views if v.register.revoked_at is None]
    state = sync_state(runtime)
    return page(
        "admin/dashboard.html",
        catalog_version=head(runtime.db),
        registers_paired=len(paired),
        registers_online=sum(v.online for v in paired),
        registers_locked=[v.register for v in paired if v.locked],
        printers=list_printers(runtime),
        sync=state,
        oldest_age_s=None
        if state.oldest_received_ms is None or state.depth == 0
        else max(0, (runtime.now_ms() - state.oldest_received_ms) // 1000),
        open_flags=runtime.db.scalar("SELECT count(*) FROM review_flag WHERE resolved_ms IS NULL"),
        audit=recent_audit(runtime, limit=10),
        transfers=transfers.waiting(runtime),
    )
