"""Fault 9: one register's clock 2 h fast and another's 2 h slow through an offline day, with a
stock count in the middle.

The store is cut off from the cloud all day; its three registers sell live to the appliance:
N keeps good time, F runs two hours fast, S two hours slow, and at midday N counts the stock.
The fold orders movements by HLC, so F's sales from before the count come after it and S's
from after it come before it: on-hand is what the rule says, not what arrival order would
give. At the end of the day the appliance drains to the cloud (a real IngestWorker), which
must fold the same on-hand. The skew is flagged: on the appliance, every one of F's events
`clock_ahead` and every one of S's live events `clock_behind`; in the cloud, `clock_skew` for
F, whose latest events are stamped after the cloud's own clock. S's events look like late
ones to the cloud, which cannot tell them from an offline day's (cloud/skew.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cloud.migrate import connect
from cloud.skew import SKEW_MS
from cloud.worker import BrokerSettings, IngestWorker
from protocol.ids import new_id
from tests.appliance.sync.mqtt_fakes import Broker
from tests.appliance.till import Item, Till
from tests.faults.cloudside import HOUR_MS, PRICES, Shop, open_shop, uplink, wait_synced
from tests.faults.invariants import assert_converged
from tests.faults.test_worker_kill import SEED

MINUTE_MS = 60_000


def live(shop: Shop, till: Till, who: str, type: str, body: dict[str, Any]) -> dict[str, Any]:
    """`who` logs in on the register and sends one event live; it must be taken."""
    till.staff_token = shop.store.login(who, device=till.device)
    till.actor = shop.store.staff[who]
    response = till.send(type, body)
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def test_two_skewed_registers_through_an_offline_day_fold_alike_and_are_flagged(
    tmp_path: Path,
    cloud_dsn: str,
) -> None:
    # The day ends just now, so F's last stamps are still ahead of the cloud's clock.
    now = time.time_ns() // 1_000_000
    day = now - 8 * HOUR_MS
    shop = open_shop(
        tmp_path / "s01",
        "s01",
        seed=SEED,
        skews_ms=(0, 2 * HOUR_MS, -2 * HOUR_MS),
        start_ms=day - 10 * MINUTE_MS,
        open_shifts=False,
    )
    n, f, s = shop.tills
    x, y = shop.variants["TEE-M-RED"], shop.variants["MUG-1"]

    def at(minute: int) -> None:
        shop.wall.ms = day + minute * MINUTE_MS

    def sell(till: Till, minute: int, variant: str, qty: int) -> None:
        at(minute)
        sku = "TEE-M-RED" if variant == x else "MUG-1"
        body = till.sale_body([Item(variant, qty, PRICES[sku])])
        body["tenders"] = [{"kind": "cash", "amount": body["totals"]["total"]}]
        live(shop, till, "cashier", "sale.completed", body)

    at(0)
    lines = [{"variant": x, "qty": 40}, {"variant": y, "qty": 20}]
    live(shop, n, "manager", "stock.received", {"lines": lines, "reference": "PO-1"})
    for till in (n, f, s):
        at(5)
        till.shift = new_id()
        float_ = {"counts": {"2000": 5}, "total": 10000}
        live(shop, till, "cashier", "shift.opened", {"shift": till.shift, "float": float_})
    sell(f, 60, x, 3)
    sell(s, 90, x, 2)
    sell(n, 120, x, 1)
    sell(n, 125, y, 2)
    sell(f, 150, y, 1)  # stamped 4:30 in: after the count
    sell(s, 200, x, 4)
    sell(f, 230, x, 2)  # stamped 5:50 in: after the count
    at(240)
    count = [{"variant": x, "counted": 25}, {"variant": y, "counted": 15}]
    live(shop, n, "manager", "stock.counted", {"count": new_id(), "scope": "cycle", "lines": count})
    sell(s, 250, x, 1)  # stamped 2:10 in: before the count, so absorbed by it
    sell(f, 300, x, 3)
    sell(n, 330, x, 2)
    sell(s, 380, x, 2)  # stamped 4:20 in: after the count after all
    sell(f, 420, y, 2)
    sell(s, 460, y, 1)
    sell(f, 470, x, 1)
    # Arrival order would say 25 − 1 − 3 − 2 − 2 − 1 = 16 tees and 15 − 2 − 1 = 12 mugs.
    assert shop.journal.on_hand() == {x: 25 - 2 - 3 - 2 - 2 - 1, y: 15 - 1 - 2 - 1}

    flags = shop.rt.db.query(
        "SELECT e.origin, f.code, count(*) AS n FROM review_flag f JOIN event e ON e.id = f.event"
        " WHERE f.code LIKE 'clock_%' GROUP BY e.origin, f.code"
    )
    events = {
        row["origin"]: row["n"]
        for row in shop.rt.db.query("SELECT origin, count(*) AS n FROM event GROUP BY origin")
    }
    assert {(row["origin"], row["code"]): row["n"] for row in flags} == {
        (f.origin, "clock_ahead"): events[f.origin],
        (s.origin, "clock_behind"): events[s.origin],
    }

    # Back online at the end of the day.
    broker = Broker(tmp_path / "broker").start()
    worker = IngestWorker(cloud_dsn, BrokerSettings(port=broker.port), name="skew")
    link = uplink(shop, broker)
    try:
        worker.start()
        assert worker.wait_subscribed()
        link.start()
        wait_synced([link], timeout=30)
        with connect(cloud_dsn) as pg:
            assert_converged(pg, shop.journal)
            alerts = pg.execute("SELECT kind, store, details FROM alert").fetchall()
            assert {(kind, store, d["origin"]) for kind, store, d in alerts} == {
                ("clock_skew", "s01", f.origin)
            }
            # Once per batch: no two alerts for the same flagged event.
            assert len({d["event"] for *_, d in alerts}) == len(alerts)
            assert all(SKEW_MS < d["ahead_ms"] < 2 * HOUR_MS for *_, d in alerts), alerts
            # F's last two sales, 60 and 10 minutes ago, were stamped in the cloud's future.
            assert sum(d["events"] for *_, d in alerts) == 2, alerts
    finally:
        worker.stop()
        link.stop()
        broker.kill()
        shop.close()
