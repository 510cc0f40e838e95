"""The fleet as HQ sees it: each store's appliance status (its retained status message and
Last Will in appliance_status), the catalog version it runs, when its last event arrived, and
its open alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterState:
    """One printer as the appliance last reported it."""

    name: str
    online: bool | None
    paper_out: bool | None
    cover_open: bool | None
    queued: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatus:
    """One store's appliance and data freshness."""

    store: str
    name: str
    # online (said so, recently), offline (its Will or it said so), silent (said online, but
    # no word for longer than a heartbeat allows) or unknown (never heard).
    state: str
    version: str | None
    outbox_depth: int | None
    oldest_unsynced_age_s: int | None
    printers: tuple[PrinterState, ...]
    printer_trouble: bool
    status_at: datetime | None
    last_online_at: datetime | None
    last_event_at: datetime | None
    open_alerts: int
    stale: bool
    # The cloud catalog version the appliance last said it runs (None: it has not said, an
    # older appliance), when it applied it, and the version HQ is at (None: not asked).
    catalog_version: int | None = None
    catalog_applied_at: datetime | None = None
    catalog_head: int | None = None

    @property
    def catalog_behind(self) -> int | None:
        """Change numbers between HQ's catalog and the store's (0: up to date; None: unknown)."""
        if self.catalog_version is None or self.catalog_head is None:
            return None
        return max(0, self.catalog_head - self.catalog_version)

    @property
    def printer_text(self) -> str:
        """The printers in a few words."""
        if not self.printers:
            return "no printer"
        parts = []
        for p in self.printers:
            if p.online is False:
                what = "offline"
            elif p.paper_out:
                what = "paper out"
            elif p.cover_open:
                what = "cover open"
            elif p.online is None:
                what = "not checked yet"
            else:
                what = "ready"
            parts.append(f"{p.name}: {what}" + (f", {p.queued} waiting" if p.queued else ""))
        return "; ".join(parts)


def _printers(raw: Any) -> tuple[tuple[PrinterState, ...], bool]:
    if not isinstance(raw, dict):
        return (), False
    printers = []
    for item in raw.get("printers") or []:
        if not isinstance(item, dict):
            continue
        queued = item.get("queued")
        printers.append(
            PrinterState(
                name=str(item.get("name") or "printer"),
                online=item.get("online") if isinstance(item.get("online"), bool) else None,
                paper_out=bool(item.get("paper_out")) if "paper_out" in item else None,
                cover_open=bool(item.get("cover_open")) if "cover_open" in item else None,
                queued=queued if isinstance(queued, int) else 0,
            )
        )
    return tuple(printers), bool(raw.get("trouble"))


def fleet(
    conn: psycopg.Connection[Any],
    stores: list[str],
    *,
    stale_after: timedelta,
    silent_after: timedelta = timedelta(minutes=3),
    catalog_head: int | None = None,
) -> list[StoreStatus]:
    """Each of `stores`, by id: status, version, outbox, printers, freshness, open alerts, and
    the catalog version it runs (against `catalog_head`, HQ's, when given)."""
    rows = conn.execute(
        "SELECT s.id, COALESCE(s.name, 'Store ' || s.id), a.online, a.version, a.outbox_depth,"
        " a.oldest_unsynced_age_s, a.printer, a.received_at, a.last_online_at, e.received_at,"
        " (SELECT count(*) FROM alert x WHERE x.store = s.id AND x.resolved_at IS NULL),"
        " a.received_at < now() - %(silent)s, e.received_at IS NULL"
        "   OR e.received_at < now() - %(stale)s, a.catalog_version, a.catalog_applied_at"
        " FROM store s LEFT JOIN appliance_status a ON a.store = s.id"
        " LEFT JOIN LATERAL (SELECT received_at FROM event WHERE event.store = s.id"
        "   ORDER BY store_seq DESC LIMIT 1) e ON true"
        " WHERE s.id = ANY(%(stores)s) ORDER BY s.id",
        {"stores": stores, "stale": stale_after, "silent": silent_after},
    ).fetchall()
    result = []
    for row in rows:
        printers, trouble = _printers(row[6])
        if row[2] is None:
            state = "unknown"
        elif not row[2]:
            state = "offline"
        elif row[11]:
            state = "silent"
        else:
            state = "online"
        result.append(
            StoreStatus(
                store=row[0],
                name=row[1],
                state=state,
                version=row[3],
                outbox_depth=row[4],
                oldest_unsynced_age_s=row[5],
                printers=printers,
                printer_trouble=trouble,
                status_at=row[7],
                last_online_at=row[8],
                last_event_at=row[9],
                open_alerts=row[10],
                stale=bool(row[12]),
                catalog_version=row[13],
                catalog_applied_at=row[14],
                catalog_head=catalog_head,
            )
        )
    return result
