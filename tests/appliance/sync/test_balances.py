"""Gift cards and store credit across the chain (decisions.md §46), on the real PostgreSQL
and, end to end, a private Mosquitto: balances and holds in the cloud, two stores racing for
one card, payments booked at ingest (online with a hold, offline flagged), the appliance's
per-card offline limit, and the ways asking fails."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import psycopg
from click.testing import CliRunner

from appliance.runtime import Runtime
from appliance.sync.uplink import Uplink
from cloud.balances import balance, hold, issue, release
from cloud.cli import cloud
from cloud.ingest import ingest_batch
from cloud.migrate import connect
from cloud.store_rpc import StoreResponder
from protocol.chain import (
    BalanceReply,
    BalanceRequest,
    ErrorReply,
    HoldReply,
    HoldRequest,
    ReleaseRequest,
)
from protocol.ids import new_id
from tests.appliance.selling.helpers import make_till
from tests.appliance.sync.mqtt_fakes import wait_for
from tests.appliance.sync.test_chain import (  # noqa: F401  (fixtures)
    broker,
    get,
    responder,
    settings,
    synced,
    uid,
    uplink,
    worker,
)
from tests.appliance.till import Item, Till
from tests.cloud.batches import batch, offline_till
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import FakeWall, Store

Conn = psycopg.Connection[Any]
CARD = "GC-1001"


def ask_hold(pg: Conn, store: str, amount: int, hold_id: str | None = None) -> Any:  # noqa: F811
    return hold(
        pg,
        store,
        HoldRequest(
            hold=hold_id or new_id(),
            account="gift_card",
            reference=CARD,
            amount=amount,
            currency="EUR",
        ),
    )


def card(pg: Conn) -> BalanceReply:  # noqa: F811
    reply = balance(pg, BalanceRequest(account="gift_card", reference=CARD))
    assert isinstance(reply, BalanceReply), reply
    return reply


# ---- the cloud ---------------------------------------------------------------------------------


def test_a_hold_needs_a_known_account_in_its_currency_and_enough_left(pg: Conn) -> None:  # noqa: F811
    unknown = ask_hold(pg, "s01", 100)
    assert isinstance(unknown, ErrorReply) and unknown.error == "unknown_account"
    assert issue(pg, "gift_card", CARD, 2500, "EUR") == 2500
    first = ask_hold(pg, "s01", 1000)
    assert isinstance(first, HoldReply) and first.available == 1500
    again = ask_hold(pg, "s01", 1000, first.hold)
    assert isinstance(again, HoldReply) and again.hold == first.hold
    assert (card(pg).balance, card(pg).held, card(pg).available) == (2500, 1000, 1500)
    short = ask_hold(pg, "s02", 1600)
    assert isinstance(short, ErrorReply)
    assert (short.error, short.available) == ("insufficient_balance", 1500)
    reused = ask_hold(pg, "s02", 500, first.hold)
    assert isinstance(reused, ErrorReply) and reused.error == "bad_request"
    dollars = hold(
        pg,
        "s01",
        HoldRequest(hold=new_id(), account="gift_card", reference=CARD, amount=1, currency="USD"),
    )
    assert isinstance(dollars, ErrorReply) and dollars.error == "wrong_currency"
    # Another store cannot release it; its own store can, once.
    assert not release(pg, "s02", ReleaseRequest(hold=first.hold)).released
    assert release(pg, "s01", ReleaseRequest(hold=first.hold)).released
    assert not release(pg, "s01", ReleaseRequest(hold=first.hold)).released
    assert card(pg).available == 2500


def test_two_stores_holding_the_same_card_at_once_one_wins(
    cloud_dsn: str,  # noqa: F811
    pg: Conn,  # noqa: F811
) -> None:
    issue(pg, "gift_card", CARD, 1000, "EUR")
    for _ in range(5):
        barrier = threading.Barrier(2)
        answers: dict[str, Any] = {}

        def ask(
            store: str, barrier: threading.Barrier = barrier, answers: dict[str, Any] = answers
        ) -> None:
            with connect(cloud_dsn) as conn:
                barrier.wait()
                answers[store] = ask_hold(conn, store, 800)

        threads = [threading.Thread(target=ask, args=(s,)) for s in ("s01", "s02")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        won = [s for s, a in answers.items() if isinstance(a, HoldReply)]
        lost = [a for a in answers.values() if isinstance(a, ErrorReply)]
        assert len(won) == 1 and len(lost) == 1, answers
        assert lost[0].error == "insufficient_balance" and lost[0].available == 200
        release(pg, won[0], ReleaseRequest(hold=answers[won[0]].hold))
    assert card(pg).available == 1000


def sale_paid_by_card(till: Till, amount: int, reference: str = CARD) -> dict[str, Any]:
    return till.sale_body(
        [Item(new_id(), 1, amount)],
        tenders=[{"kind": "gift_card", "amount": amount, "reference": reference}],
    )


def test_ingest_books_payments_once_and_flags_the_offline_and_the_overdrawn(
    pg: Conn,  # noqa: F811
) -> None:
    issue(pg, "gift_card", CARD, 1000, "EUR")
    till = offline_till("s01", "s01-r01")
    till.shift = new_id()
    held = ask_hold(pg, "s01", 600)
    assert isinstance(held, HoldReply)
    online = till.event("sale.completed", sale_paid_by_card(till, 600))
    till.wall.advance(1)
    offline = till.event("sale.completed", sale_paid_by_card(till, 700))
    till.wall.advance(1)
    credit = till.event(
        "return.completed",
        {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "lines": [
                {
                    "line": 1,
                    "variant": new_id(),
                    "qty": 1,
                    "refund": 250,
                    "tax": 42,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [{"kind": "store_credit", "amount": 250, "reference": "SC-7"}],
            "totals": {"total": 250, "tax": 42},
        },
    )
    assert ingest_batch(pg, "s01", batch(1, [online, offline, credit])) == {"applied_through": 3}
    # The same batch again changes nothing.
    assert ingest_batch(pg, "s01", batch(1, [online, offline, credit])) == {"applied_through": 3}
    entries = pg.execute(
        "SELECT kind, reference, entry, amount, balance_after, hold IS NOT NULL, flagged"
        " FROM balance_entry WHERE event IS NOT NULL ORDER BY id"
    ).fetchall()
    assert entries == [
        ("gift_card", CARD, "redeem", -600, 400, True, None),
        ("gift_card", CARD, "redeem", -700, -300, False, "offline_overdrawn"),
        ("store_credit", "SC-7", "refund", 250, 250, False, None),
    ]
    assert card(pg).held == 0
    # For HQ's review in the ledger, not the operators' alerts.
    assert pg.execute("SELECT count(*) FROM alert").fetchone() == (0,)
    flagged = pg.execute(
        "SELECT flagged FROM balance_entry WHERE flagged IS NOT NULL ORDER BY at"
    ).fetchall()
    assert flagged == [("offline_overdrawn",)]
    # A post-void gives the online payment back.
    sale_id = online.id
    till.wall.advance(1)
    void = till.event(
        "sale.voided", {"sale": sale_id, "receipt": online.body["receipt"], "reason": "wrong card"}
    )
    assert ingest_batch(pg, "s01", batch(4, [void])) == {"applied_through": 4}
    assert card(pg).balance == 300


def test_the_cli_issues_a_card_and_refuses_bad_input(cloud_dsn: str, pg: Conn) -> None:  # noqa: F811
    runner = CliRunner()
    ok = runner.invoke(cloud, ["balance", "issue", "gift_card", CARD, "25.00", "--dsn", cloud_dsn])
    assert ok.exit_code == 0, ok.output
    assert f"gift_card {CARD}: balance 25.00 EUR" in ok.output
    for args in (
        ["gift_card", CARD, "2.5x"],
        ["gift_card", CARD, "0"],
        ["cash", CARD, "1.00"],
        ["gift_card", "bad\nref", "1.00"],
    ):
        bad = runner.invoke(cloud, ["balance", "issue", *args, "--dsn", cloud_dsn])
        assert bad.exit_code == 2, (args, bad.output)
    assert card(pg).balance == 2500


# ---- the appliance -----------------------------------------------------------------------------


def post_hold(store: Store, token: str, amount: int, reference: str = CARD) -> Any:
    return store.client.post(
        "/api/v1/balances/holds",
        json={"kind": "gift_card", "reference": reference, "amount": amount},
        headers=store.bearer(token),
    )


def test_a_card_paid_online_is_held_then_used_by_the_sale(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    worker: subprocess.Popen[bytes],  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    issue(pg, "gift_card", CARD, 2000, "EUR")
    till = make_till(store, wall)
    token = till.staff_token or ""
    status, shown = get(store, f"/api/v1/balances/gift_card/{CARD}")
    assert (status, shown["available"], shown["currency"]) == (200, 2000, "EUR"), shown
    status, body = get(store, "/api/v1/balances/gift_card/GC-404")
    assert (status, body["error"]) == (404, "unknown_account")
    short = post_hold(store, token, 2500)
    assert short.status_code == 409
    assert short.get_json()["error"] == "insufficient_balance"
    assert short.get_json()["details"] == {"available": 2000}
    assert post_hold(store, token, 100, "GC-404").status_code == 404

    held = post_hold(store, token, 1299)
    assert held.status_code == 201, held.get_json()
    assert held.get_json()["available"] == 701
    sale = till.sale_body(
        [Item(uid(store.rt, "TEE-M-RED"), 1, 1299)],
        tenders=[{"kind": "gift_card", "amount": 1299, "reference": CARD}],
    )
    response = till.send("sale.completed", sale)
    assert response.status_code == 200, response.get_json()
    assert store.rt.db.scalar("SELECT event FROM balance_hold") == response.envelope.id
    synced(store.rt)
    wait_for(lambda: card(pg).balance == 701, what="the payment booked in the cloud")
    assert card(pg).held == 0
    assert pg.execute("SELECT flagged FROM balance_entry WHERE entry = 'redeem'").fetchall() == [
        (None,)
    ]
    # An abandoned payment's hold goes back.
    other = post_hold(store, token, 500)
    assert other.status_code == 201
    hold_id = other.get_json()["hold"]
    assert card(pg).available == 201
    gone = store.client.delete(f"/api/v1/balances/holds/{hold_id}", headers=store.bearer(token))
    assert gone.status_code == 204
    assert card(pg).available == 701
    again = store.client.delete(f"/api/v1/balances/holds/{hold_id}", headers=store.bearer(token))
    assert again.status_code == 204  # released already: nothing to do
    status, sync = get(store, "/api/v1/sync/status")
    assert sync["chain"]["open_holds"] == 0 and sync["chain"]["offline_redemptions"] == 0


def test_a_hold_is_503_when_the_cloud_does_not_answer(
    store: Store,
    wall: FakeWall,
    uplink: Uplink,  # noqa: F811
) -> None:
    till = make_till(store, wall)
    response = post_hold(store, till.staff_token or "", 500)
    assert response.status_code == 503
    assert response.get_json()["error"] == "cloud_timeout"
    assert store.rt.db.scalar("SELECT count(*) FROM balance_hold") == 0


def test_offline_a_card_pays_up_to_the_limit_per_card(
    store: Store, wall: FakeWall, catalog: Runtime
) -> None:
    till = make_till(store, wall)
    assert post_hold(store, till.staff_token or "", 500).status_code == 503
    tee = uid(store.rt, "TEE-M-RED")

    def pay(amount: int, reference: str = CARD, **kwargs: Any) -> Any:
        items = [Item(tee, 1, amount)] if amount == 1299 else [Item(uid(store.rt, "MUG-1"), 1, 950)]
        sale = till.sale_body(
            items, tenders=[{"kind": "gift_card", "amount": amount, "reference": reference}]
        )
        return till.send("sale.completed", sale, **kwargs)

    # The limit is 5000 a card: three tees fit, a fourth does not.
    for _ in range(3):
        assert pay(1299).status_code == 200
    refused = pay(1299)
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "offline_limit"
    assert refused.get_json()["details"]["available"] == 5000 - 3 * 1299
    # Another card has its own limit.
    assert pay(1299, "GC-2002").status_code == 200
    # A replayed sale (the register was cut off) is kept and flagged.
    replayed = pay(1299, mode="replay", token=store.device)
    assert replayed.status_code == 200, replayed.get_json()
    assert store.rt.db.scalar("SELECT count(*) FROM review_flag WHERE code = 'offline_limit'") == 1
    _, sync = get(store, "/api/v1/sync/status")
    assert sync["chain"]["offline_redemptions"] == 5
    assert sync["chain"]["offline_redeemed"] == 5 * 1299


def test_bad_hold_requests_are_422_and_store_nothing(
    store: Store, wall: FakeWall, catalog: Runtime
) -> None:
    till = make_till(store, wall)
    token = till.staff_token or ""
    for body in (
        {"kind": "voucher", "reference": CARD, "amount": 5},
        {"kind": "gift_card", "reference": "", "amount": 5},
        {"kind": "gift_card", "reference": CARD, "amount": 0},
        {"kind": "gift_card", "reference": CARD, "amount": -5},
        {"kind": "gift_card", "reference": CARD, "amount": 5, "extra": 1},
        {"kind": "gift_card", "reference": CARD},
    ):
        response = store.client.post(
            "/api/v1/balances/holds", json=body, headers=store.bearer(token)
        )
        assert response.status_code == 422, (body, response.get_json())
    assert store.rt.db.scalar("SELECT count(*) FROM balance_hold") == 0
    missing = store.client.delete(f"/api/v1/balances/holds/{new_id()}", headers=store.bearer(token))
    assert missing.status_code == 404
    status, body = get(store, "/api/v1/balances/voucher/X")
    assert status == 404
