"""The Transfers pages: asking for a transfer with SKU lines (and refusing bad forms in the
one shape), who may approve and cancel, the list's filters and scope, the detail's shipped
against received with the store's reason, CSV, and In transit on the stock grid, with the
stores' events ingested through real batches."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import psycopg

from cloud.ingest import ingest_batch
from protocol.envelope import Envelope
from tests.cloud.batches import batch, offline_till
from tests.hq.conftest import Hq, HqBrowser, field_errors, setup_grid

Conn = psycopg.Connection[Any]


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _ask(browser: HqBrowser, **form: str) -> Any:
    values = {"from_store": "s01", "to_store": "s02", "lines": "TEE-M-RED 3\nsock-01, 2"} | form
    return browser.post("/hq/transfers", values)


def _id_from(answer: Any) -> str:
    assert answer.status_code == 303, answer.text[:500]
    match = re.search(r"/hq/transfers/([0-9a-f-]{36})$", answer.headers["Location"])
    assert match, answer.headers["Location"]
    return match.group(1)


def _send(hq: Hq, store: str, envelopes: list[Envelope], first: int) -> None:
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert ingest_batch(conn, store, batch(first, envelopes)) == {
            "applied_through": first + len(envelopes) - 1
        }


def test_ask_approve_ship_receive_and_see_it_all(hq: Hq) -> None:
    ids = setup_grid(hq)  # s01 holds 4 red tees (its id), s02 9 (its own id)
    buyer = hq.browser().sign_in("buyer")
    transfer = _id_from(_ask(buyer, note="for the weekend"))
    page = buyer.get(f"/hq/transfers/{transfer}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Transfer s01 → s02" in text and "requested" in text and "for the weekend" in text
    assert re.search(
        r'data-sku="TEE-M-RED">\s*<td>TEE-M-RED</td>\s*<td class="num">3</td>', page.text
    )
    assert ">Approve<" in page.text and "Cancel transfer" in page.text

    # The manager of s01 (the sender) may approve; they see it in their list.
    manager = hq.browser().sign_in("manager")
    listed = manager.get("/hq/transfers")
    assert f'data-transfer="{transfer}"' in listed.text
    approved = manager.post(f"/hq/transfers/{transfer}/approve")
    assert approved.status_code == 303
    assert "approved" in _text(manager.get(f"/hq/transfers/{transfer}").text)
    again = manager.post(
        f"/hq/transfers/{transfer}/approve", headers={"Accept": "application/json"}
    )
    assert again.status_code == 422 and again.get_json()["error"] == "not_requested"
    audit = hq.query("SELECT action FROM hq_audit WHERE target = %s ORDER BY id", (transfer,))
    assert [r[0] for r in audit] == ["transfer.request", "transfer.approve"]

    # s01 ships 3 tees; s02 receives 2 with a reason (store events, real batches).
    s01 = offline_till("s01", "s01-r09")  # a register of its own; store_seq goes on
    s01.wall.advance(10)
    shipped = s01.event(
        "transfer.shipped",
        {"transfer": transfer, "to_store": "s02", "lines": [{"variant": ids["s01"], "qty": 3}]},
    )
    _send(hq, "s01", [shipped], 2)
    grid = buyer.get("/hq/stock?q=TEE")
    assert 'data-in-transit="3">+3 in transit' in grid.text
    assert re.search(r'<td class="num" data-in-transit="3">3</td>', grid.text)
    csv_rows = list(csv.reader(io.StringIO(buyer.get("/hq/stock.csv?q=TEE").text)))
    assert csv_rows[0][-1] == "in_transit" and csv_rows[1][-1] == "3"

    s02 = offline_till("s02", "s02-r09")  # a register of its own; store_seq goes on
    s02.wall.advance(20)
    received = s02.event(
        "transfer.received",
        {
            "transfer": transfer,
            "from_store": "s01",
            "lines": [{"variant": ids["s02"], "qty": 2}],
            "reason": "one damaged in the van",
        },
    )
    _send(hq, "s02", [received], 2)
    detail = buyer.get(f"/hq/transfers/{transfer}").text
    assert "one damaged in the van" in detail
    assert re.search(
        r'data-sku="TEE-M-RED">\s*<td>TEE-M-RED</td>\s*<td class="num">3</td>\s*'
        r'<td class="num">3</td>\s*<td class="num">2</td>\s*<td class="num low"><strong>-1</strong></td>',
        detail,
    )
    assert ">Approve<" not in detail and "Cancel transfer" not in detail
    assert 'data-in-transit="0">0</td>' in buyer.get("/hq/stock?q=TEE").text

    exported = list(csv.reader(io.StringIO(buyer.get("/hq/transfers.csv?state=").text)))
    assert exported[0][:4] == ["transfer", "from_store", "to_store", "state"]
    assert [r[6:] for r in exported[1:]] == [
        ["TEE-M-RED", "3", "3", "2", "-1"],
        ["SOCK-01", "2", "", "", ""],
    ]
    assert buyer.get("/hq/transfers?state=open").text.count("data-transfer=") == 0
    assert buyer.get("/hq/transfers?state=received").text.count("data-transfer=") == 1


def test_bad_forms_show_field_errors_and_store_nothing(hq: Hq) -> None:
    setup_grid(hq)
    buyer = hq.browser().sign_in("buyer")
    cases = [
        ({"lines": "TEE-M-RED three"}, "lines", "line 1"),
        ({"lines": "NOT-A-SKU 2"}, "lines", "not in the catalog: NOT-A-SKU"),
        ({"lines": ""}, "lines", "at least one"),
        ({"lines": "TEE-M-RED 0"}, "lines", "quantity must be"),
        ({"to_store": "s01"}, "to_store", "cannot send to itself"),
        ({"to_store": "zz9"}, "to_store", "no store zz9"),
        ({"from_store": ""}, "from_store", "choose the store"),
    ]
    for form, name, message in cases:
        answer = _ask(buyer, **form)
        assert answer.status_code == 422, (form, answer.status_code)
        errors = field_errors(answer.text)
        assert message in errors.get(name, ""), (form, errors)
        assert 'aria-invalid="true"' in answer.text
    shaped = buyer.post(
        "/hq/transfers",
        {"from_store": "s01", "to_store": "s02", "lines": "X"},
        headers={"Accept": "application/json"},
    )
    assert shaped.status_code == 422
    assert set(shaped.get_json()) == {"error", "message", "details"}
    assert hq.query("SELECT count(*) FROM transfer") == [(0,)]
    bad = buyer.get("/hq/transfers?state=lost", headers={"Accept": "application/json"})
    assert bad.status_code == 422 and bad.get_json()["details"] == {"field": "state"}


def test_a_store_manager_acts_only_for_their_stores(hq: Hq) -> None:
    setup_grid(hq)
    hq.query("INSERT INTO store (id, name) VALUES ('s03', 'Galway')")
    buyer = hq.browser().sign_in("buyer")
    manager = hq.browser().sign_in("manager")  # s01's manager
    # Neither store is theirs: refused, nothing stored.
    refused = _ask(manager, from_store="s02", to_store="s03")
    assert refused.status_code == 403
    assert "one of the two stores must be yours" in field_errors(refused.text)["to_store"]
    # s01 asks s02 for stock: allowed, but s01's manager may not approve what s02 sends.
    inbound = _id_from(_ask(manager, from_store="s02", to_store="s01"))
    page = manager.get(f"/hq/transfers/{inbound}")
    assert page.status_code == 200 and ">Approve<" not in page.text
    no = manager.post(f"/hq/transfers/{inbound}/approve", headers={"Accept": "application/json"})
    assert no.status_code == 403 and no.get_json()["error"] == "not_sender"
    # They may cancel it (their store's request).
    assert (
        manager.post(f"/hq/transfers/{inbound}/cancel", {"reason": "found some"}).status_code == 303
    )
    assert "found some" in manager.get(f"/hq/transfers/{inbound}").text
    # A transfer between two other stores is not theirs to see or touch.
    other = _id_from(_ask(buyer, from_store="s02", to_store="s03"))
    for path, method in (
        (f"/hq/transfers/{other}", "GET"),
        (f"/hq/transfers/{other}/cancel", "POST"),
        (f"/hq/transfers/{other}/approve", "POST"),
    ):
        answer = (
            manager.get(path, headers={"Accept": "application/json"})
            if method == "GET"
            else manager.post(path, headers={"Accept": "application/json"})
        )
        assert answer.status_code == 403 and answer.get_json()["error"] == "store_out_of_scope"
    assert f'data-transfer="{other}"' not in manager.get("/hq/transfers?state=").text
    assert f'data-transfer="{other}"' in buyer.get("/hq/transfers?state=").text
    assert hq.query("SELECT state FROM transfer WHERE id = %s", (other,)) == [("requested",)]
    # Filters: sending or receiving, per store.
    assert (
        f'data-transfer="{inbound}"'
        in buyer.get("/hq/transfers?state=&store=s01&direction=in").text
    )
    assert (
        f'data-transfer="{inbound}"'
        not in buyer.get("/hq/transfers?state=&store=s01&direction=out").text
    )
    missing = buyer.get(
        "/hq/transfers/00000000-0000-7000-8000-000000000000", headers={"Accept": "application/json"}
    )
    assert missing.status_code == 404


def test_the_request_form_can_be_filled_in_from_a_link(hq: Hq) -> None:
    setup_grid(hq)
    buyer = hq.browser().sign_in("buyer")
    page = buyer.get("/hq/transfers?from_store=s02&to_store=s01&lines=TEE-M-RED+4%0ASOCK-01+1")
    assert page.status_code == 200
    assert re.search(
        r'<select name="from_store"[^>]*>.*?<option value="s02" selected>', page.text, re.S
    )
    assert re.search(
        r'<select name="to_store"[^>]*>.*?<option value="s01" selected>', page.text, re.S
    )
    assert "TEE-M-RED 4\nSOCK-01 1</textarea>" in page.text
    assert hq.query("SELECT count(*) FROM transfer") == [(0,)]
