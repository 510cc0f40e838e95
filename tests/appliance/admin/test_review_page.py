"""The flagged events page (appliance/admin/review_pages.py): offline events replayed through
the real API that broke a rule, shown in the shop's terms; approve with a note, or correct the
stock with an adjustment; refusals leave everything as it was."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.runtime import Runtime
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store


@pytest.fixture
def till(store: Store, catalog: Runtime, wall: FakeWall) -> Till:
    return make_till(store, wall)


def _state(rt: Runtime) -> tuple[Any, ...]:
    return tuple(
        rt.db.one(
            "SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM stock_ledger),"
            " (SELECT group_concat(id || ':' || COALESCE(resolved_ms, '') || COALESCE(note, ''))"
            "  FROM review_flag), (SELECT count(*) FROM admin_audit)"
        )
    )


def _offline_oversell(store: Store, till: Till) -> tuple[str, int]:
    """An offline sale of 3 mugs with none in stock, replayed: kept, flagged negative_stock."""
    mug = uid(store.rt, "MUG-1")
    sale = till.event("sale.completed", till.sale_body([Item(mug, 3, 950)]))
    data = ok(till.push(sale, mode="replay", token=store.device))
    assert [f["code"] for f in data["flagged"][0]["flags"]] == ["negative_stock"]
    flag = store.rt.db.scalar("SELECT id FROM review_flag WHERE event = ?", (sale.id,))
    return sale.id, int(flag)


def test_a_flag_is_shown_in_shop_terms_and_approved_with_a_note(
    store: Store, till: Till, manager: AdminBrowser
) -> None:
    event, flag = _offline_oversell(store, till)
    page = manager.get("/admin/review")
    assert page.status_code == 200
    html = page.text
    assert f'data-testid="flag-{flag}"' in html
    assert "Negative stock: Sale by Cashier (s01-staff-1) on s01-r01 (#2)" in html
    assert "Crème Brûlée Mug, &#34;Large&#34; (MUG-1)" in html
    assert "9.50 each" in html and "Total 28.50" in html and "card: 28.50" in html
    assert "Count the shelf, then correct the stock." in html

    answer = manager.post(f"/admin/review/{flag}/resolve", {"note": "sold from the back room"})
    assert answer.status_code == 303
    row = store.rt.db.one("SELECT resolved_by, note FROM review_flag WHERE id = ?", (flag,))
    assert tuple(row) == (store.staff["manager"], "sold from the back room")
    assert store.rt.db.scalar(
        "SELECT count(*) FROM admin_audit WHERE action = 'flag_resolve' AND target = ?",
        (f"flag:{flag}",),
    )
    after = manager.get("/admin/review")
    assert "Flag" in after.text and f"flag-{flag}" not in after.text
    assert 'data-testid="no-flags"' in after.text
    history = manager.get("/admin/review?all=1").text
    assert "sold from the back room" in history
    # The event is as it was: the journal never changes.
    assert store.rt.db.scalar("SELECT type FROM event WHERE id = ?", (event,)) == "sale.completed"
    # Approving twice is refused, nothing changes.
    before = _state(store.rt)
    again = manager.post(f"/admin/review/{flag}/resolve", {"note": "again"})
    assert again.status_code == 409
    assert "already reviewed" in again.text
    assert _state(store.rt) == before


def test_correcting_stock_adjusts_through_a_stock_event_and_closes_the_flag(
    store: Store, till: Till, manager: AdminBrowser
) -> None:
    _, flag = _offline_oversell(store, till)
    mug = uid(store.rt, "MUG-1")
    assert store.rt.db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (mug,)) == -3
    answer = manager.post(
        f"/admin/review/{flag}/adjust",
        {"variant": mug, "qty": "5", "reason": "found", "note": "a box was not booked in"},
    )
    assert answer.status_code == 303, answer.text[:400]
    assert store.rt.db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (mug,)) == 2
    adjustment = store.rt.db.one(
        "SELECT e.id, e.origin, e.actor, l.qty, l.reason FROM stock_ledger l"
        " JOIN event e ON e.id = l.event WHERE l.kind = 'adjust'"
    )
    assert tuple(adjustment)[1:] == ("s01-ap", store.staff["manager"], 5, "found")
    note = store.rt.db.scalar("SELECT note FROM review_flag WHERE id = ?", (flag,))
    assert note == f"stock adjusted +5 ({adjustment['id']}): a box was not booked in"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"variant": "nope", "qty": "5", "reason": "found", "note": "x"}, "variant"),
        ({"qty": "0", "reason": "found", "note": "x"}, "qty"),
        ({"qty": "five", "reason": "found", "note": "x"}, "qty"),
        ({"qty": "5", "reason": "not-a-reason", "note": "x"}, "reason"),
        ({"qty": "5", "reason": "found", "note": ""}, "note"),
    ],
)
def test_a_bad_correction_changes_nothing(
    store: Store, till: Till, manager: AdminBrowser, form: dict[str, str], field: str
) -> None:
    _, flag = _offline_oversell(store, till)
    data = {"variant": uid(store.rt, "MUG-1"), **form}
    before = _state(store.rt)
    answer = manager.post(f"/admin/review/{flag}/adjust", data)
    assert answer.status_code == 422, answer.text[:300]
    assert field in field_errors(answer.text), answer.text
    assert _state(store.rt) == before


def test_without_the_csrf_token_nothing_is_approved(
    store: Store, till: Till, manager: AdminBrowser
) -> None:
    _, flag = _offline_oversell(store, till)
    before = _state(store.rt)
    answer = manager.client.post(f"/admin/review/{flag}/resolve", data={"note": "x"})
    assert answer.status_code == 403
    assert _state(store.rt) == before


def test_a_money_flag_offers_only_a_note(store: Store, till: Till, manager: AdminBrowser) -> None:
    mug = uid(store.rt, "MUG-1")
    ok(till.send("stock.received", {"lines": [{"variant": mug, "qty": 10}]}))
    body = till.sale_body([Item(mug, 1, 950)])
    body["totals"]["total"] = 900
    body["tenders"][0]["amount"] = 900
    sale = till.event("sale.completed", body)
    ok(till.push(sale, mode="replay", token=store.device))
    html = manager.get("/admin/review").text
    assert "Totals mismatch" in html
    assert "A money difference cannot be changed here" in html
    assert "Correct stock for flag" not in html


def test_the_history_lists_the_latest_answers_first(
    store: Store, till: Till, manager: AdminBrowser
) -> None:
    _, first = _offline_oversell(store, till)
    _, second = _offline_oversell(store, till)
    manager.post(f"/admin/review/{first}/resolve", {"note": "first answer"})
    manager.post(f"/admin/review/{second}/resolve", {"note": "second answer"})
    history = manager.get("/admin/review?all=1").text
    assert history.index("second answer") < history.index("first answer")
