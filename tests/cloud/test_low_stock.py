"""Low-stock alerts raised by ingest (cloud/low_stock.py) from real batches on the real
PostgreSQL: on-hand at or below the reorder point, or fewer days of cover than the vendor's
lead time; one open alert per store and SKU, kept while low, resolved when stock recovers;
nothing done for a batch that moved no stock."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from cloud import low_stock, reorder
from cloud.catalog import import_csv
from cloud.ingest import Projected, ingest_batch
from cloud.store_directory import apply_upload
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope
from protocol.ids import new_id
from tests.appliance.till import Item, Till
from tests.cloud.batches import batch, offline_till
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)

Conn = psycopg.Connection[Any]

CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\n"
    "TEE-1,Tee,,,Apparel,Acme,4.50,12.99,standard,5,24,1,1\r\n"
    "SOCK-1,Sock,,,Apparel,Acme,1.00,3.00,standard,,,1,1\r\n"
    "MUG-1,Mug,,,Home,Potters,3.00,9.50,standard,,,1,1\r\n"
)


class Feed:
    """One store's register sealing events, and the batches it sends, in store_seq order."""

    def __init__(self, conn: Conn, store: str, skus: dict[str, str]) -> None:
        self.pg = conn
        self.store = store
        self.till: Till = offline_till(store, f"{store}-ap")
        self.till.shift = new_id()
        self.next = 1
        self.ids = {sku: new_id() for sku in skus}
        upload = DirectoryUpload(
            variants_after=0,
            variants=[(n, self.ids[key], sku) for n, (key, sku) in enumerate(skus.items(), 1)],
        )
        assert apply_upload(conn, store, upload).error is None

    def send(self, *events: Envelope) -> None:
        answer = ingest_batch(self.pg, self.store, batch(self.next, events))
        self.next += len(events)
        assert answer == {"applied_through": self.next - 1}, answer

    def receive(self, sku: str, qty: int) -> Envelope:
        self.till.wall.advance(60)
        return self.till.event(
            "stock.received", {"lines": [{"variant": self.ids[sku], "qty": qty}]}
        )

    def sell(self, sku: str, qty: int) -> Envelope:
        self.till.wall.advance(60)
        return self.till.event(
            "sale.completed", self.till.sale_body([Item(self.ids[sku], qty, 1299)])
        )


def alerts(conn: Conn, store: str = "s01") -> list[tuple[str, dict[str, Any], bool]]:
    rows = conn.execute(
        "SELECT details ->> 'sku', details, resolved_at IS NULL FROM alert"
        " WHERE kind = 'low_stock' AND store = %s ORDER BY id",
        (store,),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def feed(pg: Conn) -> Feed:  # noqa: F811
    assert import_csv(pg, CATALOG.encode()).applied
    reorder.set_vendor_terms(pg, "Acme", lead_time_days=10, review_days=7)
    pg.execute("INSERT INTO store (id) VALUES ('s01'), ('s02') ON CONFLICT DO NOTHING")
    return Feed(pg, "s01", {"tee": "TEE-1", "sock": "SOCK-1", "mug": "MUG-1"})


def test_at_or_below_the_reorder_point_raises_one_alert_kept_then_resolved(
    feed: Feed,
    pg: Conn,  # noqa: F811
) -> None:
    feed.send(feed.receive("tee", 10), feed.receive("sock", 100))
    assert alerts(pg) == []
    # 5 sold leaves 5, the reorder point: low.
    feed.send(feed.sell("tee", 5))
    [(sku, details, open_)] = alerts(pg)
    assert (sku, open_) == ("TEE-1", True)
    assert details["on_hand"] == 5 and details["reorder_point"] == 5
    assert details["lead_time_days"] == 10 and details["variant"] == feed.ids["tee"]
    # 5 in 28 days: 0.18 a day, 27.8 days of cover (longer than the lead time: the point did it).
    assert details["per_day"] == pytest.approx(0.18) and details["cover_days"] == 28.0
    # Still low: the same alert, not rewritten (its figures are when it was raised); the
    # dashboard's reading gives the on-hand now.
    feed.send(feed.sell("tee", 1), feed.sell("tee", 1))
    [(_, details, open_)] = alerts(pg)
    assert details["on_hand"] == 5 and open_
    [live] = low_stock.open_alerts(pg, ["s01"])
    assert (live["on_hand"], live["raised_on_hand"]) == (3, 5)
    # Goods arrive: 23 on hand, above the point, and 23 > 7/28 × 10: resolved.
    feed.send(feed.receive("tee", 20))
    [(_, details, open_)] = alerts(pg)
    assert not open_ and details["resolved_on_hand"] == 23
    # Low again later: a new alert (the old one stays resolved).
    feed.send(feed.sell("tee", 19))
    assert [(s, o) for s, _, o in alerts(pg)] == [("TEE-1", False), ("TEE-1", True)]


def test_fewer_days_of_cover_than_the_lead_time(feed: Feed, pg: Conn) -> None:  # noqa: F811
    """SOCK-1 has no reorder point: only its cover against Acme's 10-day lead time counts."""
    feed.send(feed.receive("sock", 100))
    feed.send(feed.sell("sock", 60))  # 40 left, 60/28 = 2.14 a day: 18.7 days > 10
    assert alerts(pg) == []
    feed.send(feed.sell("sock", 30))  # 10 left, 90/28 = 3.21 a day: 3.1 days < 10
    [(sku, details, _)] = alerts(pg)
    assert sku == "SOCK-1" and details["on_hand"] == 10
    assert details["cover_days"] == pytest.approx(3.1) and details["reorder_point"] is None
    # The engine's own test agrees on the same figures.
    assert reorder.is_low(10, None, 90 / 28, 10)
    assert not reorder.is_low(40, None, 60 / 28, 10)


def test_a_mug_from_a_vendor_without_terms_uses_the_default_lead_time(
    feed: Feed,
    pg: Conn,  # noqa: F811
) -> None:
    # 27 sold in 28 days leave 7, 7.3 days of cover; one more: 1 a day, 6 left < 7 days
    # (the default lead time): low.
    feed.send(feed.receive("mug", 34))
    feed.send(feed.sell("mug", 27))
    assert alerts(pg) == []  # 7 left: 7 days of cover, not fewer than 7
    feed.send(feed.sell("mug", 1))
    [(sku, details, _)] = alerts(pg)
    assert sku == "MUG-1" and details["lead_time_days"] == reorder.DEFAULT_LEAD_TIME_DAYS


def test_only_the_skus_a_batch_moved_are_judged_and_stores_are_apart(
    feed: Feed,
    pg: Conn,  # noqa: F811
) -> None:
    feed.send(feed.receive("tee", 3))  # low at once (3 <= 5)
    s02 = Feed(pg, "s02", {"tee": "tee-1", "old": "TEE-1"})
    # s02 holds the SKU under two ids: 4 + 4 = 8 on hand, above the point.
    s02.send(s02.receive("tee", 4), s02.receive("old", 4))
    assert alerts(pg, "s02") == []
    s02.send(s02.sell("old", 3))  # 5 in all: low in s02
    [(sku, details, _)] = alerts(pg, "s02")
    assert sku == "TEE-1" and details["on_hand"] == 5
    assert [s for s, _, o in alerts(pg) if o] == ["TEE-1"]
    # The catalog changes the point to 2 with no movement: nothing is judged until one comes.
    pg.execute("UPDATE catalog_variant SET reorder_point = 2 WHERE sku = 'TEE-1'")
    assert [o for _, _, o in alerts(pg)] == [True]
    feed.send(feed.receive("sock", 1))  # another SKU moved: TEE-1 is not looked at
    assert [o for _, _, o in alerts(pg)] == [True]
    feed.send(feed.receive("tee", 0 + 1))  # TEE-1 moved: 4 > 2, resolved
    assert [o for _, _, o in alerts(pg)] == [False]


def test_a_variant_leaving_the_catalog_resolves_its_alert(
    feed: Feed,
    pg: Conn,  # noqa: F811
) -> None:
    feed.send(feed.receive("tee", 2))
    assert [o for _, _, o in alerts(pg)] == [True]
    pg.execute("UPDATE catalog_variant SET active = false WHERE sku = 'TEE-1'")
    feed.send(feed.sell("tee", 1))
    assert [o for _, _, o in alerts(pg)] == [False]


def test_a_repeated_batch_and_a_repeated_projection_never_duplicate(
    feed: Feed,
    pg: Conn,  # noqa: F811
) -> None:
    events = [feed.receive("tee", 4)]
    feed.send(*events)
    # The same batch again is answered from the cursor and changes nothing.
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 1}
    # The projection run again on the same movements finds the alert open.
    out = Projected(store="s01")
    out.ledger.append(
        (new_id(), 1, "s01", feed.ids["tee"], "receipt", 0, 0, 0, "n", "s01-ap",
         "2026-11-18T12:00:00.000Z", None)
    )  # fmt: skip
    low_stock.project(pg, "s01", [], out)
    assert len(alerts(pg)) == 1
    # And the database itself refuses a second open alert for the store and SKU.
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute(
            "INSERT INTO alert (kind, store, details) VALUES ('low_stock', 's01',"
            ' \'{"sku": "tee-1"}\')'
        )


def test_a_batch_that_moved_no_stock_runs_no_statement(
    feed: Feed,
    cloud_dsn: str,  # noqa: F811
) -> None:
    closed = psycopg.connect(cloud_dsn)
    closed.close()
    # Any statement on a closed connection raises: nothing is run for an empty ledger.
    low_stock.project(closed, "s01", [], Projected(store="s01"))
    out = Projected(store="s01")
    out.ledger.append(
        (new_id(), 1, "s01", feed.ids["tee"], "receipt", 1, 0, 0, "n", "s01-ap",
         "2026-11-18T12:00:00.000Z", None)
    )  # fmt: skip
    with pytest.raises(psycopg.OperationalError):
        low_stock.project(closed, "s01", [], out)


def test_open_alerts_for_the_dashboard(feed: Feed, pg: Conn) -> None:  # noqa: F811
    feed.send(feed.receive("tee", 1), feed.receive("mug", 0 + 1))
    rows = low_stock.open_alerts(pg, ["s01", "s02"])
    assert [(r["store"], r["sku"], r["product"], r["category"], r["vendor"]) for r in rows] == [
        ("s01", "TEE-1", "Tee", "Apparel", "Acme")
    ]
    assert low_stock.open_alerts(pg, ["s02"]) == []
