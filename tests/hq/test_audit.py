"""The audit pages over data that arrived through real ingest batches (and, in the first test,
through real sync from an appliance): the adjustment trail with who, when, why and value,
count variances (expected worked out from the ledger, again when a late event arrives),
the override log's filters, journal chains with breaks, alerts resolved with a note, dead
letters shown escaped and downloaded as they came; scope, CSV and bad filters."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.runtime import Runtime
from appliance.settings import Settings
from appliance.sync.uplink import Uplink
from cloud.catalog import import_csv
from cloud.ingest import ingest_batch
from cloud.store_rpc import StoreResponder
from protocol.envelope import Envelope, format_at
from protocol.ids import new_id
from tests.appliance.selling.helpers import make_till
from tests.appliance.sync.mqtt_fakes import Broker, wait_for
from tests.appliance.sync.test_chain import broker, responder, synced, uid, uplink, worker
from tests.appliance.till import Till
from tests.cloud.batches import batch, offline_till
from tests.cloud.test_worker import FAST
from tests.conftest import SMALL_CATALOG, FakeWall, Store, make_settings
from tests.hq.conftest import (
    Hq,
    HqBrowser,
    field_errors,
    make_hq,
    setup_grid,
)

__all__ = ["broker", "responder", "uplink", "worker"]  # fixtures, imported for this module's tests
Conn = psycopg.Connection[Any]
# The chain's events start ten minutes ago (a minute apart); SINCE is their first day.
NOW_MS = int(time.time() * 1000) - 600_000
SINCE = datetime.fromtimestamp(NOW_MS / 1000, UTC).date().isoformat()
TODAY = datetime.now(UTC).date().isoformat()


def rows(html: str, attribute: str) -> dict[str, str]:
    """Each table row's text by its data attribute, whitespace squeezed."""
    found = re.findall(rf'<tr {attribute}="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for key, body in found}


def table(text: str) -> list[dict[str, str]]:
    lines = list(csv.reader(io.StringIO(text)))
    return [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def till_at(store: str, origin: str, ms: int = NOW_MS) -> Till:
    till = offline_till(store, origin)
    till.wall.ms = ms
    till.shift = new_id()
    return till


def adjusted(till: Till, variant: str, qty: int, reason: str, note: str | None = None) -> Envelope:
    till.wall.advance(60)
    body: dict[str, Any] = {"lines": [{"variant": variant, "qty": qty, "reason": reason}]}
    if note:
        body["note"] = note
    return till.event("stock.adjusted", body)


def delivered(till: Till, variant: str, qty: int) -> Envelope:
    till.wall.advance(60)
    return till.event(
        "stock.received",
        {"lines": [{"variant": variant, "qty": qty}], "reference": "PO-1", "vendor": "Acme"},
    )


def counted(till: Till, variant: str, qty: int) -> Envelope:
    till.wall.advance(60)
    return till.event(
        "stock.counted",
        {"count": new_id(), "scope": "cycle", "lines": [{"variant": variant, "counted": qty}]},
    )


def granted(
    till: Till, action: str, requester: str, approver: str, *, offline: bool, amount: int | None
) -> Envelope:
    till.wall.advance(60)
    return till.event(
        "override.granted",
        {
            "approval": new_id(),
            "action": action,
            "amount": amount,
            "currency": "EUR" if amount is not None else None,
            "requester": requester,
            "approver": approver,
            "register": till.origin,
            "reason": "customer waiting",
            "expires_at": format_at(till.wall() + 60_000),
            "offline": offline,
        },
        actor=approver,
    )


class Chain:
    """What the tests ingest, store by store, batch by batch."""

    def __init__(self, hq: Hq) -> None:
        self.hq = hq
        self.next = {"s01": 2, "s02": 2}  # setup_grid's deliveries took store_seq 1

    def send(self, store: str, *events: Envelope) -> None:
        with psycopg.connect(self.hq.dsn, autocommit=True) as conn:
            answer = ingest_batch(conn, store, batch(self.next[store], list(events)))
        self.next[store] += len(events)
        assert answer == {"applied_through": self.next[store] - 1}


@pytest.fixture
def chain(hq: Hq) -> tuple[Chain, dict[str, Any]]:
    """s01: an adjustment, a delivery, a count and an offline override on s01-r01; s02: an
    adjustment, an override and a register whose chain has a gap; dead letters for both."""
    ids = setup_grid(hq)  # the tee: s01 received 4, s02 9; cost 4.50, Apparel
    chain = Chain(hq)
    r1 = till_at("s01", "s01-r01")
    r1.actor = "staff-3"
    damage = adjusted(r1, ids["s01"], -2, "damaged", "=SUM(A1) dropped")
    chain.send("s01", damage, delivered(r1, ids["s01"], 6))
    count = counted(r1, ids["s01"], 7)  # expected 4 − 2 + 6 = 8: one short
    chain.send(
        "s01", count, granted(r1, "price_override", "staff-7", "sup-1", offline=True, amount=250)
    )
    s2 = till_at("s02", "s02-r01")
    s2.actor = "staff-9"
    first = adjusted(s2, ids["s02"], 1, "found")
    s2.seq += 1  # seq 2 never reaches the cloud: a break
    chain.send("s02", first, granted(s2, "no_sale", "staff-9", "sup-2", offline=False, amount=None))
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        ingest_batch(conn, "s01", b'{"events": "<script>alert(1)</script>"}')
        ingest_batch(conn, "s02", b"\xff\x00not JSON")
    return chain, {"ids": ids, "count": count.id, "damage": damage.id, "r1": r1}


def test_appliance_adjustments_and_counts_reach_the_audit_pages_through_real_sync(
    store: Store,
    catalog: Runtime,
    wall: FakeWall,
    pg: Conn,
    cloud_dsn: str,
    worker: subprocess.Popen[bytes],
    responder: StoreResponder,
    uplink: Uplink,
) -> None:
    """s01's manager receives 5 red tees, writes 1 off as damaged and counts 3; the events
    go over MQTT to the ingest worker, and HQ's trail shows who did what and its value, and
    the count's variance is 3 − 4 = −1 at the catalog's cost."""
    assert import_csv(pg, SMALL_CATALOG.encode()).applied
    cost = pg.execute("SELECT cost FROM catalog_variant WHERE sku = 'TEE-M-RED'").fetchone()[0]
    rt = store.rt
    till = make_till(store, wall, "manager")
    tee = uid(rt, "TEE-M-RED")
    assert till.send("stock.received", {"lines": [{"variant": tee, "qty": 5}]}).status_code == 200
    wall.advance(5)
    adjusted_ = till.send(
        "stock.adjusted", {"lines": [{"variant": tee, "qty": -1, "reason": "damaged"}]}
    )
    assert adjusted_.status_code == 200, adjusted_.get_json()
    wall.advance(5)
    body = {"count": new_id(), "scope": "cycle", "lines": [{"variant": tee, "counted": 3}]}
    counted_ = till.send("stock.counted", body)
    assert counted_.status_code == 200, counted_.get_json()
    synced(rt)
    wait_for(
        lambda: (
            pg.execute("SELECT count(*) FROM store_variant WHERE store = 's01'").fetchone() == (4,)
        ),
        timeout=20,
        what="s01's variant ids in the cloud",
    )
    wait_for(
        lambda: (
            pg.execute("SELECT count(*) FROM event WHERE type = 'stock.counted'").fetchone() == (1,)
        ),
        timeout=20,
        what="the count in the cloud",
    )
    admin = make_hq(cloud_dsn).browser().sign_in("admin")
    trail = rows(admin.get("/hq/audit/adjustments?store=s01&kind=adjust").text, "data-event")
    [line] = trail.values()
    who = store.staff["manager"]
    assert "TEE-M-RED" in line and " -1 damaged " in f" {line} " and who in line, line
    assert f"{-cost / 100:.2f}" in line  # one tee at cost
    counts = rows(admin.get("/hq/audit/counts?store=s01").text, "data-count")
    [summary] = counts.values()
    # One line, one off: expected 4, counted 3, difference −1, worth one tee at cost.
    assert " 1 (1 off) 4 3 -1 " in f" {summary} ", summary
    assert summary.endswith(f"{-cost / 100:.2f}"), summary


def test_trail_who_when_why_value_filters_scope_and_csv(hq: Hq, chain: Any) -> None:
    _, made = chain
    admin = hq.browser().sign_in("admin")
    page = admin.get("/hq/audit/adjustments")
    assert page.status_code == 200, page.text
    trail = rows(page.text, "data-event")
    # Two deliveries from setup_grid, s01's adjustment and delivery, s02's adjustment.
    assert len(trail) == 5
    damage = trail[made["damage"]]
    assert "s01" in damage and "TEE-M-RED" in damage and "Classic Tee" in damage
    assert " -2 damaged =SUM(A1) dropped staff-3 4.50 -9.00" in damage, damage
    assert "5 line(s)" in page.text
    only = rows(admin.get("/hq/audit/adjustments?kind=adjust&reason=found").text, "data-event")
    assert len(only) == 1 and "staff-9" in next(iter(only.values()))
    assert len(rows(admin.get("/hq/audit/adjustments?staff=staff-3").text, "data-event")) == 2
    assert len(rows(admin.get(f"/hq/audit/adjustments?since={SINCE}").text, "data-event")) == 3
    assert len(rows(admin.get("/hq/audit/adjustments?q=sock").text, "data-event")) == 0
    manager = hq.browser("192.0.2.20").sign_in("manager")
    mine = rows(manager.get("/hq/audit/adjustments").text, "data-event")
    assert len(mine) == 3 and all(" s01 " in f" {r} " for r in mine.values())
    exported = admin.get("/hq/audit/adjustments.csv?kind=adjust&store=s01")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    [row] = table(exported.text)
    assert row["note"] == "'=SUM(A1) dropped"  # shown as written, never run as a formula
    assert (row["qty"], row["reason"], row["staff"], row["value"]) == (
        "-2",
        "damaged",
        "staff-3",
        "-9.00",
    )


def test_count_variance_from_the_ledger_and_again_after_a_late_event(hq: Hq, chain: Any) -> None:
    sent, made = chain
    admin = hq.browser().sign_in("admin")
    summary = rows(admin.get("/hq/audit/counts").text, "data-count")[made["count"]]
    assert " s01 staff-3 cycle 1 (1 off) 8 7 -1 -4.50" in summary, summary
    groups = rows(admin.get("/hq/audit/counts").text, "data-store")
    assert groups["s01"] == "s01 Apparel 1 -1 -4.50"
    detail = admin.get(f"/hq/audit/counts/{made['count']}")
    assert detail.status_code == 200
    assert rows(detail.text, "data-sku")["TEE-M-RED"] == (
        "TEE-M-RED Classic Tee Apparel 8 7 -1 4.50 -4.50"
    )
    # A register that was offline sold one before the count (its HLC is earlier): the
    # count expected 7, so nothing was missing after all.
    late = till_at("s01", "s01-r02", NOW_MS + 30_000)
    sent.send("s01", adjusted(late, made["ids"]["s01"], -1, "damaged"))
    summary = rows(admin.get("/hq/audit/counts").text, "data-count")[made["count"]]
    assert " 1 7 7 0 0.00" in summary, summary
    exported = table(admin.get(f"/hq/audit/counts.csv?count={made['count']}").text)
    assert [(r["sku"], r["expected"], r["counted"], r["difference"]) for r in exported] == [
        ("TEE-M-RED", "7", "7", "0")
    ]
    other = hq.browser("192.0.2.21").sign_in("manager")
    s02_count = hq.query("SELECT id FROM event WHERE store = 's02' LIMIT 1")[0][0]
    assert other.get(f"/hq/audit/counts/{s02_count}").status_code == 404  # not a count
    assert admin.get("/hq/audit/counts/not-a-uuid").status_code == 404


def test_override_log_search(hq: Hq, chain: Any) -> None:
    admin = hq.browser().sign_in("admin")
    every = rows(admin.get("/hq/audit/overrides").text, "data-event")
    assert len(every) == 2
    offline = rows(admin.get("/hq/audit/overrides?offline=1").text, "data-event")
    [line] = offline.values()
    assert "s01 s01-r01 price_override staff-7 sup-1 2.50 EUR customer waiting offline" in line
    assert len(rows(admin.get("/hq/audit/overrides?staff=sup-2").text, "data-event")) == 1
    assert len(rows(admin.get("/hq/audit/overrides?action=no_sale").text, "data-event")) == 1
    assert len(rows(admin.get("/hq/audit/overrides?store=s02&staff=sup-1").text, "data-event")) == 0
    assert len(rows(admin.get(f"/hq/audit/overrides?until={TODAY}").text, "data-event")) == 2
    assert len(rows(admin.get("/hq/audit/overrides?until=2000-01-01").text, "data-event")) == 0
    manager = hq.browser("192.0.2.22").sign_in("manager")
    assert len(rows(manager.get("/hq/audit/overrides").text, "data-event")) == 1
    exported = table(admin.get("/hq/audit/overrides.csv?offline=1").text)
    assert [
        (r["action"], r["requester"], r["approver"], r["amount"], r["offline"]) for r in exported
    ] == [("price_override", "staff-7", "sup-1", "2.50", "yes")]


def test_journal_chains_alerts_and_resolving_with_a_note(hq: Hq, chain: Any) -> None:
    admin = hq.browser().sign_in("admin")
    journal = admin.get("/hq/audit/journal").text
    chains = rows(journal, "data-origin")
    assert "intact" in chains["s01-r01"] and " 4 " in f" {chains['s01-r01']} "
    assert "1 open break(s)" in chains["s02-r01"]
    assert "never reached the cloud" in journal
    overview = admin.get("/hq/audit").text
    assert "1 with a break" in overview and "chain_broken: 1" in overview
    alerts = rows(admin.get("/hq/audit/alerts").text, "data-alert")
    kinds = sorted(text.split()[3] for text in alerts.values())
    assert kinds == ["chain_broken", "poison", "poison"], alerts
    broken = int(hq.query("SELECT id FROM alert WHERE kind = 'chain_broken'")[0][0])
    # A note is needed: the page comes back with the error by the field, nothing changed.
    refused = admin.post(f"/hq/audit/alerts/{broken}/resolve", {"note": "  "})
    assert refused.status_code == 422
    assert field_errors(refused.text) == {"note": "say what was done about it"}
    assert hq.query("SELECT resolved_at FROM alert WHERE id = %s", (broken,)) == [(None,)]
    done = admin.post(f"/hq/audit/alerts/{broken}/resolve", {"note": "register restored"})
    assert done.status_code == 303
    assert hq.query(
        "SELECT resolved_by, resolution_note, resolved_at IS NOT NULL FROM alert WHERE id = %s",
        (broken,),
    ) == [("admin", "register restored", True)]
    assert hq.query("SELECT action, target FROM hq_audit WHERE action = 'alert.resolve'") == [
        ("alert.resolve", str(broken))
    ]
    again = admin.post(
        f"/hq/audit/alerts/{broken}/resolve",
        {"note": "twice"},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 409 and again.get_json()["error"] == "already_resolved"
    assert "intact" in rows(admin.get("/hq/audit/journal").text, "data-origin")["s02-r01"]
    resolved = rows(admin.get("/hq/audit/alerts?state=resolved").text, "data-alert")
    assert "register restored" in resolved[str(broken)] and "by admin" in resolved[str(broken)]
    exported = table(admin.get("/hq/audit/alerts.csv?state=all&kind=chain_broken").text)
    assert [(r["kind"], r["resolved_by"], r["note"]) for r in exported] == [
        ("chain_broken", "admin", "register restored")
    ]
    # The store manager sees s01's alerts only, and no resolve form.
    manager = hq.browser("192.0.2.23").sign_in("manager")
    page = manager.get("/hq/audit/alerts").text
    assert len(rows(page, "data-alert")) == 1 and "Resolution note" not in page


def test_dead_letters_are_shown_escaped_and_downloaded_as_they_came(hq: Hq, chain: Any) -> None:
    admin = hq.browser().sign_in("admin")
    listed = rows(admin.get("/hq/audit/dead-letters").text, "data-letter")
    assert len(listed) == 2
    ids = {store: int(i) for i, store in hq.query("SELECT id, store FROM dead_letter")}
    page = admin.get(f"/hq/audit/dead-letters/{ids['s01']}")
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    binary = admin.get(f"/hq/audit/dead-letters/{ids['s02']}").text
    assert "not UTF-8" in binary and "ff 00 6e 6f 74" in binary
    raw = admin.get(f"/hq/audit/dead-letters/{ids['s02']}/raw")
    assert raw.status_code == 200 and raw.data == b"\xff\x00not JSON"
    assert raw.mimetype == "application/octet-stream"
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    exported = table(admin.get("/hq/audit/dead-letters.csv?store=s02").text)
    assert [(r["store"], r["bytes"]) for r in exported] == [("s02", "10")]
    manager = hq.browser("192.0.2.24").sign_in("manager")
    assert len(rows(manager.get("/hq/audit/dead-letters").text, "data-letter")) == 1
    assert manager.get(f"/hq/audit/dead-letters/{ids['s02']}").status_code == 403
    assert manager.get(f"/hq/audit/dead-letters/{ids['s02']}/raw").status_code == 403
    assert admin.get("/hq/audit/dead-letters/999999").status_code == 404


def test_paging(hq: Hq, browser_for: Any) -> None:
    """12 dead letters a page of 10 at a time (the fixture's page size), every one once."""
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        for n in range(12):
            ingest_batch(conn, "s01", f"not json {n}".encode())
    admin: HqBrowser = browser_for().sign_in("admin")
    first = admin.get("/hq/audit/dead-letters").text
    second = admin.get("/hq/audit/dead-letters?page=2").text
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    one, two = rows(first, "data-letter"), rows(second, "data-letter")
    assert len(one) == 10 and len(two) == 2 and not set(one) & set(two)


@pytest.mark.parametrize(
    "path",
    [
        "/hq/audit/adjustments?since=2026-13-01",
        "/hq/audit/adjustments?since=2026-12-02&until=2026-12-01",
        "/hq/audit/adjustments?kind=sale",
        "/hq/audit/adjustments?staff=Robert%27);DROP",
        "/hq/audit/adjustments.csv?q=" + "x" * 101,
        "/hq/audit/counts?category=abc",
        "/hq/audit/counts.csv?count=nope",
        "/hq/audit/overrides?offline=yes",
        "/hq/audit/alerts?state=closed",
        "/hq/audit/dead-letters?page=0",
    ],
)
def test_bad_filters_are_422_in_the_one_shape(hq: Hq, path: str) -> None:
    admin = hq.browser().sign_in("admin")
    answer = admin.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.get_json()["error"] == "invalid_filter"
    assert set(answer.get_json()) == {"error", "message", "details"}
    page = admin.get(path)
    assert page.status_code == 422 and page.mimetype == "text/html"


@pytest.fixture
def settings(data_dir: Path, broker: Broker) -> Settings:
    """The test store (s01), syncing to the private broker."""
    return make_settings(data_dir, **{**FAST, "mqtt_port": broker.port})
