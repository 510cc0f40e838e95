"""HQ's landing page: the user's stores at a glance, linking to Fleet and Stock; transfers
waiting per store (to approve, to ship, in transit; cloud/transfers.py), linking to the
Transfers page filtered; and the open low-stock alerts by store (cloud/low_stock.py), linking
to the Reorder page for those who may order and to the Stock grid's below-reorder filter for
store managers."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from flask import Response

from cloud import fleet, low_stock, transfers
from cloud.hq.core import EVERYONE, db, hq_route, me, page, requested_store, scope_stores, settings
from cloud.hq.reorder_page import REORDER_ROLES

# SKUs listed per store in the panel (the count says how many more).
LOW_STOCK_SHOWN = 5


@hq_route("/", roles=EVERYONE)
def dashboard() -> Response:
    """How many stores are online, stale or silent, their open alerts, transfers waiting and
    low stock."""
    picked = requested_store()
    stores = [picked] if picked else [s for s, _ in scope_stores(me().user)]
    rows = fleet.fleet(db(), stores, stale_after=timedelta(minutes=settings().stale_after_minutes))
    low: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in low_stock.open_alerts(db(), stores):
        low[alert["store"]].append(alert)
    names = {r.store: r.name for r in rows}
    waiting = transfers.waiting(db(), stores)
    return page(
        "hq/dashboard.html",
        rows=rows,
        names=names,
        waiting=waiting,
        waiting_totals=(
            sum(w.to_approve for w in waiting),
            sum(w.to_ship for w in waiting),
            sum(w.in_transit for w in waiting),
        ),
        online=sum(r.state == "online" for r in rows),
        stale=[r for r in rows if r.stale],
        trouble=[r for r in rows if r.state != "online" or r.printer_trouble],
        alerts=sum(r.open_alerts for r in rows),
        picked=picked,
        low=[(row, low[row.store]) for row in rows if low.get(row.store)],
        low_total=sum(len(v) for v in low.values()),
        low_shown=LOW_STOCK_SHOWN,
        may_reorder=me().user.role in REORDER_ROLES,
    )
