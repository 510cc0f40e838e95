"""`tillbox cloud demo`: two demo stores and the cloud on one machine, with events flowing."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import psycopg
import requests

from appliance.receipts.sending import Email
from appliance.settings import DATABASE_FILE
from cloud.demo import DemoOptions, OutboxMailer, OutboxSms, run_demo
from cloud.worker import BrokerSettings
from tests.appliance.sync.mqtt_fakes import Broker, free_port, free_port_run
from tests.faults.invariants import Journal, assert_converged

Conn = psycopg.Connection[Any]
_HQ_LINE = re.compile(r"HQ at (http://127\.0\.0\.1:\d+/hq/)\s+sign in as (\S+), password (\S+)$")
_ROW = re.compile(r'<tr data-store="(d0[12])">(.*?)</tr>', re.S)


class HqVisitor:
    """Someone who reads the demo's printed HQ address and credentials, signs in, and opens
    the fleet page at each report, noting each store's state there."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.browser = requests.Session()
        self.signed_in = False
        self.seen: dict[str, set[str]] = {"d01": set(), "d02": set()}

    def __call__(self, line: str) -> None:
        self.said.append(line)
        if not (line.startswith("store ") and "sales in cloud" in line):
            return  # only at each report's header line
        printed = next((m for m in map(_HQ_LINE.search, self.said) if m), None)
        assert printed, self.said
        base, username, password = printed.groups()
        if not self.signed_in:
            form = self.browser.get(base + "login", timeout=10)
            assert form.status_code == 200, form.text
            token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
            assert token
            answer = self.browser.post(
                base + "login",
                data={"csrf_token": token.group(1), "username": username, "password": password},
                allow_redirects=False,
                timeout=30,
            )
            assert answer.status_code == 303, answer.text
            self.signed_in = True
        fleet = self.browser.get(base + "fleet", timeout=10, allow_redirects=False)
        assert fleet.status_code == 200, fleet.status_code
        for store, row in _ROW.findall(fleet.text):
            state = re.search(r'<span class="pill \w+">([^<]+)</span>', row)
            assert state
            self.seen[store].add(state.group(1))


def test_the_demo_drains_two_stores_history_and_their_live_sales_into_the_cloud(
    cloud_dsn: str, pg: Conn, tmp_path: Path
) -> None:
    broker = Broker(tmp_path / "broker").start()
    visitor = HqVisitor()
    said = visitor.said
    try:
        stores = run_demo(
            DemoOptions(
                dsn=cloud_dsn,
                broker=BrokerSettings(port=broker.port),
                data=tmp_path / "stores",
                stores=("d01", "d02"),
                base_port=free_port_run(2),
                sale_every_s=0.2,
                seconds=4,
                report_every_s=1,
                hq_port=free_port(),
            ),
            echo=visitor,
        )
    finally:
        broker.kill()
    assert [s.store for s in stores] == ["d01", "d02"]
    for store in stores:
        assert store.till is not None and store.till.sold >= 3
        assert_converged(pg, Journal(store.store, store.data / DATABASE_FILE))
    # The last report shows both stores level with the cloud.
    final = said[-2:]
    assert all(line.split()[3] == "0" for line in final), said[-3:]
    assert any("creating a demo store" in line for line in said)
    # HQ's fleet page, signed in with the printed credentials, showed both stores online.
    assert visitor.signed_in
    assert "online" in visitor.seen["d01"] and "online" in visitor.seen["d02"], visitor.seen
    assert any("receipts worker writing" in line for line in said)


def test_the_demo_outbox_keeps_each_receipt_as_a_file(tmp_path: Path) -> None:
    """The demo's receipts worker has no mail server: an email becomes a readable .eml with
    its text, HTML and picture, a text a .txt, one file each even for the same address."""
    outbox = tmp_path / "receipts-outbox"
    mail = Email(
        to="ana@example.com",
        subject="Your receipt R-1",
        text="Total 9.50",
        html="<p>Total 9.50</p>",
        image=b"\x89PNG\r\n\x1a\n-demo",
    )
    OutboxMailer(outbox).send(mail)
    OutboxMailer(outbox).send(mail)
    OutboxSms(outbox).send("+353871234567", "Receipt: https://r.example/R-1")
    emails = sorted(outbox.glob("*.eml"))
    assert len(emails) == 2 and all(p.name.endswith("-ana@example.com.eml") for p in emails)
    message = BytesParser(policy=policy.default).parsebytes(emails[0].read_bytes())
    assert message["To"] == "ana@example.com" and message["Subject"] == "Your receipt R-1"
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "Total 9.50"
    html = message.get_body(("html",))
    assert html is not None and "<p>Total 9.50</p>" in html.get_content()
    pictures = [part.get_content() for part in message.iter_attachments()]
    assert pictures == [b"\x89PNG\r\n\x1a\n-demo"]
    (text,) = outbox.glob("*.txt")
    assert text.read_text() == "To: +353871234567\n\nReceipt: https://r.example/R-1\n"
