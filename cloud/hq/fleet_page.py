"""The Fleet page: each store's appliance, as far as the user's scope reaches."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from cloud import fleet
from cloud.catalog import head_version
from cloud.hq.core import EVERYONE, db, hq_route, me, page, requested_store, scope_stores, settings


@hq_route("/fleet", roles=EVERYONE)
def fleet_view() -> Response:
    """Status, version, catalog version, outbox, oldest unsynced, printers, last event, open
    alerts."""
    picked = requested_store()
    stores = [picked] if picked else [s for s, _ in scope_stores(me().user)]
    head = head_version(db())
    rows = fleet.fleet(
        db(),
        stores,
        stale_after=timedelta(minutes=settings().stale_after_minutes),
        catalog_head=head,
    )
    return page(
        "hq/fleet.html",
        rows=rows,
        picked=picked,
        head=head,
        stale_minutes=settings().stale_after_minutes,
    )
