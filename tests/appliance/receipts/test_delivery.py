"""Emailed and texted receipts: queued with the event, sent through a real SMTP server
(aiosmtpd, STARTTLS) and a local HTTP server standing in for a Twilio-style SMS gateway."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import io
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from PIL import Image

from appliance.receipts.delivery import MessageWorker
from appliance.runtime import Runtime
from tests.appliance.selling.helpers import make_till, ok, refused, uid
from tests.appliance.sync.mqtt_fakes import free_port, make_ca_and_server_cert
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store


class Inbox:
    """aiosmtpd's handler: keeps every message; refuses recipients at nobody@…"""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted"


@contextlib.contextmanager
def smtp_server(tls: Path, inbox: Inbox) -> Iterator[tuple[int, Path]]:
    """aiosmtpd on a free port with `inbox` as its handler, STARTTLS required, its
    certificate made by a CA in `tls`: the port and the CA's file."""
    import ssl

    tls.mkdir()
    ca = make_ca_and_server_cert(tls)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls / "server.pem", tls / "server.key")
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield port, ca
    finally:
        controller.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    inbox = Inbox()
    with smtp_server(tmp_path / "tls", inbox) as (port, ca):
        yield inbox, port, ca


class Gateway(BaseHTTPRequestHandler):
    """A Twilio-style gateway: answers the queued statuses in turn (then 201)."""

    answers: ClassVar[list[int]] = []
    seen: ClassVar[list[tuple[str, dict[str, list[str]], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).seen.append(
            (self.path, urllib.parse.parse_qs(body), self.headers["Authorization"])
        )
        status = type(self).answers.pop(0) if type(self).answers else 201
        payload = (
            {"sid": "SM1"} if status < 400 else {"code": 21211, "message": f"failure {status}"}
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[type[Gateway], int]]:
    handler = type("TestGateway", (Gateway,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sold(store: Store, catalog: Runtime, wall: FakeWall) -> tuple[Till, str]:
    till = make_till(store, wall)
    body = till.sale_body(
        [Item(uid(catalog, "TEE-M-RED"), 1, 1299)],
        tenders=[{"kind": "card", "amount": 1299, "reference": "AUTH1"}],
    )
    ok(till.send("sale.completed", body))
    return till, body["receipt"]


def configured(rt: Runtime, **settings: Any) -> Runtime:
    return dataclasses.replace(rt, settings=rt.settings.replace(**settings))


def messages(rt: Runtime) -> list[tuple[str, str, int]]:
    return [
        (r["channel"], r["state"], r["attempts"])
        for r in rt.db.query("SELECT channel, state, attempts FROM receipt_message ORDER BY id")
    ]


def test_an_emailed_receipt_goes_out_over_starttls_with_text_html_and_the_image(
    catalog: Runtime, sold: tuple[Till, str], smtp: tuple[Inbox, int, Path]
) -> None:
    till, receipt = sold
    inbox, port, ca = smtp
    ok(
        till.send(
            "receipt.requested", {"receipt": receipt, "channel": "email", "to": " ana@example.com "}
        )
    )
    assert messages(catalog) == [("email", "queued", 0)]
    rt = configured(
        catalog,
        store_name="Main Street",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls_ca=ca,
        smtp_from="receipts@mainstreet.example",
    )
    assert MessageWorker(rt).run_once() == 1
    assert messages(catalog) == [("email", "sent", 1)]
    [(sender, recipients, raw)] = inbox.messages
    assert (sender, recipients) == ("receipts@mainstreet.example", ["ana@example.com"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == f"Your receipt from Main Street ({receipt})"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "TOTAL EUR 12.99" in text.get_content()
    cid = html.get_content().split('src="cid:', 1)[1].split('"', 1)[0]
    [image] = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == f"<{cid}>"
    assert Image.open(io.BytesIO(image.get_content())).size[0] == 608


def test_a_refused_address_fails_at_once_and_an_unreachable_server_is_retried(
    catalog: Runtime, sold: tuple[Till, str], smtp: tuple[Inbox, int, Path], wall: FakeWall
) -> None:
    till, receipt = sold
    inbox, port, ca = smtp
    ok(
        till.send(
            "receipt.requested",
            {"receipt": receipt, "channel": "email", "to": "nobody@example.com"},
        )
    )
    ok(
        till.send(
            "receipt.requested", {"receipt": receipt, "channel": "email", "to": "ben@example.com"}
        )
    )
    good: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_tls_ca": ca,
        "smtp_from": "r@shop.example",
    }
    MessageWorker(configured(catalog, smtp_port=free_port(), **good)).run_once()  # nobody listens
    assert messages(catalog) == [("email", "queued", 1), ("email", "queued", 1)]
    assert MessageWorker(configured(catalog, smtp_port=port, **good)).run_once() == 0  # backing off
    wall.advance(31)
    MessageWorker(configured(catalog, smtp_port=port, **good)).run_once()
    assert messages(catalog) == [("email", "failed", 2), ("email", "sent", 2)]
    error = catalog.db.scalar("SELECT last_error FROM receipt_message WHERE state = 'failed'")
    assert "refused" in error
    assert [m[1] for m in inbox.messages] == [["ben@example.com"]]


def test_a_texted_receipt_goes_through_the_gateway_and_its_errors_are_told_apart(
    catalog: Runtime,
    sold: tuple[Till, str],
    gateway: tuple[type[Gateway], int],
    tmp_path: Path,
    wall: FakeWall,
) -> None:
    till, receipt = sold
    handler, port = gateway
    token = tmp_path / "sms-token"
    token.write_text("s3cret\n", encoding="utf-8")
    ok(
        till.send(
            "receipt.requested", {"receipt": receipt, "channel": "sms", "to": "+353 (87) 123-4567"}
        )
    )
    ok(
        till.send(
            "receipt.requested", {"receipt": receipt, "channel": "sms", "to": "+1 000 000 0000"}
        )
    )
    rt = configured(
        catalog,
        store_name="Main Street",
        sms_gateway_url=f"http://127.0.0.1:{port}/2010-04-01",
        sms_account="AC123",
        sms_token_file=token,
        sms_from="+15005550006",
        receipt_link_base="https://receipts.example/r",
    )
    handler.answers = [503, 400]  # busy, then: that number is invalid
    MessageWorker(rt).run_once()
    assert messages(catalog) == [("sms", "queued", 1), ("sms", "failed", 1)]
    wall.advance(31)
    MessageWorker(rt).run_once()
    assert messages(catalog) == [("sms", "sent", 2), ("sms", "failed", 1)]
    path, form, auth = handler.seen[-1]
    assert path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert form["To"] == ["+353871234567"] and form["From"] == ["+15005550006"]
    assert form["Body"] == [
        f"Main Street: receipt {receipt}, total EUR 12.99. https://receipts.example/r/{receipt} Thank you!"
    ]
    import base64

    assert auth == "Basic " + base64.b64encode(b"AC123:s3cret").decode()
    assert "failure 400" in catalog.db.scalar(
        "SELECT last_error FROM receipt_message WHERE state = 'failed'"
    )


def test_bad_addresses_are_refused_and_nothing_is_queued(
    catalog: Runtime, sold: tuple[Till, str]
) -> None:
    till, receipt = sold
    for channel, to in (("email", "ana.example.com"), ("sms", "call me"), ("email", "a@b")):
        refused(
            till.send("receipt.requested", {"receipt": receipt, "channel": channel, "to": to}),
            "bad_address",
        )
    assert messages(catalog) == []


def test_a_queued_message_waits_without_a_server_and_survives_a_restart(
    store: Store, catalog: Runtime, sold: tuple[Till, str]
) -> None:
    till, receipt = sold
    ok(
        till.send(
            "receipt.requested", {"receipt": receipt, "channel": "email", "to": "ana@example.com"}
        )
    )
    assert MessageWorker(catalog).run_once() == 0  # no smtp_host: it waits
    from appliance.runtime import open_runtime

    again = open_runtime(catalog.settings)
    try:
        assert messages(again) == [("email", "queued", 0)]
    finally:
        again.close()
