"""HQ's landing page: the user's stores at a glance, linking to Fleet and Stock."""

from __future__ import annotations

from datetime import timedelta

from flask import Response

from cloud import fleet
from cloud.hq.core import EVERYONE, db, hq_route, me, page, requested_store, scope_stores, settings


@hq_route("/", roles=EVERYONE)
def dashboard() -> Response:
    """How many stores are online, stale or silent, and their open alerts."""
    picked = requested_store()
    stores = [picked] if picked else [s for s, _ in scope_stores(me().user)]
    rows = fleet.fleet(db(), stores, stale_after=timedelta(minutes=settings().stale_after_minutes))
    return page(
        "hq/dashboard.html",
        rows=rows,
        online=sum(r.state == "online" for r in rows),
        stale=[r for r in rows if r.stale],
        trouble=[r for r in rows if r.state != "online" or r.printer_trouble],
        alerts=sum(r.open_alerts for r in rows),
        picked=picked,
    )
